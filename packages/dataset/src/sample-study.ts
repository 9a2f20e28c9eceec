/**
 * A synthetic CT study to send when there is nothing else at hand (the demo, tests, benches):
 * one patient, one study, one series of axial slices through a phantom, deterministic in its
 * options, so the same seed gives the same bytes on every run and every machine.
 */
import { createHash } from 'node:crypto';
import type { NaturalizedDataset } from './codec.js';

/** CT Image Storage (PS3.4 B.5). */
export const CT_IMAGE_STORAGE = '1.2.840.10008.5.1.4.1.1.2';

export interface SampleStudyOptions {
  /** Number of slices, 1 or more. Defaults to 4. */
  readonly images?: number;
  /** Defaults to 256. */
  readonly rows?: number;
  /** Defaults to 256. */
  readonly columns?: number;
  /** Defaults to `DIMSE-RX^PHANTOM`. Non-ASCII names get Specific Character Set ISO_IR 192 (UTF-8). */
  readonly patientName?: string;
  /** Any integer; the UIDs, patient ID and noise derive from it. Defaults to 1. */
  readonly seed?: number;
  /** 0 (unsigned, the default) or 1 (two's complement); the stored values are the same, within 12 bits either way. */
  readonly pixelRepresentation?: 0 | 1;
}

/** Field of view in mm, across rows and across columns. */
const FIELD_OF_VIEW = 350;
const SLICE_THICKNESS = 2.5;
/** Stored value = HU - intercept, with slope 1 (PS3.3 C.11.1.1.2). */
const RESCALE_INTERCEPT = -1024;
const BITS_STORED = 12;

/**
 * A CT-like study (CT Image Storage): `images` axial slices of `rows` x `columns` 16-bit pixels
 * (12 stored) through an elliptical body phantom with fat, lungs, spine, aorta and a spherical
 * nodule that grows and shrinks over the slices, plus a little noise. Study, series and frame of
 * reference are shared; each image has its own SOP Instance UID. UIDs are `2.25.` UUID-derived
 * (PS3.5 B.2) from a SHA-256 of the seed, so different seeds give unrelated studies. Pixel data is
 * `[ArrayBuffer]` in little endian order, `_vrMap.PixelData` is `OW`.
 */
export function generateSampleStudy(options: SampleStudyOptions = {}): NaturalizedDataset[] {
  const images = checkedInteger('images', options.images ?? 4, 1, 10_000);
  const rows = checkedInteger('rows', options.rows ?? 256, 1, 0xffff);
  const columns = checkedInteger('columns', options.columns ?? 256, 1, 0xffff);
  const seed = checkedInteger('seed', options.seed ?? 1, Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER);
  const pixelRepresentation = options.pixelRepresentation ?? 0;
  if (pixelRepresentation !== 0 && pixelRepresentation !== 1) throw new RangeError('pixelRepresentation must be 0 or 1');
  const patientName = options.patientName ?? 'DIMSE-RX^PHANTOM';

  const uid = (role: string, index = 0) => uuidDerivedUid(`dimse-rx sample study\0${seed}\0${role}\0${index}`);
  const study = uid('study');
  const series = uid('series');
  const frameOfReference = uid('frame-of-reference');
  const rowSpacing = round(FIELD_OF_VIEW / rows, 4);
  const columnSpacing = round(FIELD_OF_VIEW / columns, 4);
  const random = mulberry32(digest(`dimse-rx sample study\0${seed}\0noise`).readUInt32LE(0));

  return Array.from({ length: images }, (_, index) => {
    const z = round(-index * SLICE_THICKNESS, 4);
    return {
      ...(/^[\x20-\x7e]*$/.test(patientName) ? {} : { SpecificCharacterSet: 'ISO_IR 192' }),
      ImageType: ['ORIGINAL', 'PRIMARY', 'AXIAL'],
      SOPClassUID: CT_IMAGE_STORAGE,
      SOPInstanceUID: uid('image', index),
      StudyDate: '20250101',
      ContentDate: '20250101',
      StudyTime: '120000',
      ContentTime: '120000',
      AccessionNumber: '',
      Modality: 'CT',
      Manufacturer: 'dimse-rx',
      ReferringPhysicianName: '',
      StudyDescription: 'dimse-rx synthetic phantom',
      SeriesDescription: `Axial ${SLICE_THICKNESS} mm`,
      PatientName: patientName,
      PatientID: `DRX${seed}`,
      PatientBirthDate: '',
      PatientSex: 'O',
      SliceThickness: SLICE_THICKNESS,
      KVP: 120,
      PatientPosition: 'HFS',
      StudyInstanceUID: study,
      SeriesInstanceUID: series,
      StudyID: '1',
      SeriesNumber: 1,
      AcquisitionNumber: 1,
      InstanceNumber: index + 1,
      ImagePositionPatient: [round((-FIELD_OF_VIEW + columnSpacing) / 2, 4), round((-FIELD_OF_VIEW + rowSpacing) / 2, 4), z],
      ImageOrientationPatient: [1, 0, 0, 0, 1, 0],
      FrameOfReferenceUID: frameOfReference,
      PositionReferenceIndicator: '',
      SliceLocation: z,
      SamplesPerPixel: 1,
      PhotometricInterpretation: 'MONOCHROME2',
      Rows: rows,
      Columns: columns,
      PixelSpacing: [rowSpacing, columnSpacing],
      BitsAllocated: 16,
      BitsStored: BITS_STORED,
      HighBit: BITS_STORED - 1,
      PixelRepresentation: pixelRepresentation,
      WindowCenter: [40, -600],
      WindowWidth: [400, 1500],
      RescaleIntercept: RESCALE_INTERCEPT,
      RescaleSlope: 1,
      RescaleType: 'HU',
      WindowCenterWidthExplanation: ['SOFT TISSUE', 'LUNG'],
      PixelData: [phantomSlice(rows, columns, rowSpacing, columnSpacing, (index - (images - 1) / 2) * SLICE_THICKNESS, random)],
      _vrMap: { PixelData: 'OW' },
    };
  });
}

/**
 * One slice of the phantom in stored values (HU + 1024, within 0..2047 so that both pixel
 * representations hold them in 12 bits), `offset` mm from the middle of the stack.
 */
function phantomSlice(
  rows: number,
  columns: number,
  rowSpacing: number,
  columnSpacing: number,
  offset: number,
  random: () => number,
): ArrayBuffer {
  const pixels = new DataView(new ArrayBuffer(rows * columns * 2));
  const lungScale = 0.85 + 0.15 * Math.cos(offset / 20);
  const noduleRadius = Math.sqrt(Math.max(0, 18 ** 2 - offset ** 2));
  const inEllipse = (x: number, y: number, cx: number, cy: number, a: number, b: number) => ((x - cx) / a) ** 2 + ((y - cy) / b) ** 2 <= 1;
  for (let row = 0; row < rows; row++) {
    const y = (row + 0.5 - rows / 2) * rowSpacing;
    for (let column = 0; column < columns; column++) {
      const x = (column + 0.5 - columns / 2) * columnSpacing;
      let hu = -1000;
      if (inEllipse(x, y, 0, 0, 150, 110)) {
        hu = inEllipse(x, y, 0, 0, 142, 102) ? 40 : -100;
        if (inEllipse(x, y, -60, -10, 45 * lungScale, 65 * lungScale) || inEllipse(x, y, 60, -10, 45 * lungScale, 65 * lungScale))
          hu = -850;
        if (inEllipse(x, y, -60, -20, noduleRadius, noduleRadius)) hu = 30;
        if (inEllipse(x, y, 20, 40, 12, 12)) hu = 180;
        if (inEllipse(x, y, 0, 80, 16, 16)) hu = inEllipse(x, y, 0, 80, 9, 9) ? 250 : 700;
        hu += Math.round((random() + random() - 1) * 12);
      }
      pixels.setUint16((row * columns + column) * 2, Math.min(2047, Math.max(0, hu - RESCALE_INTERCEPT)), true);
    }
  }
  return pixels.buffer;
}

const digest = (text: string) => createHash('sha256').update(text, 'utf8').digest();

/**
 * A UID from a name: SHA-256 of the name cut to 128 bits, marked as a version 8 (custom) UUID
 * of the RFC 9562 variant, written as `2.25.` and its decimal value (PS3.5 B.2).
 */
function uuidDerivedUid(name: string): string {
  const bytes = digest(name).subarray(0, 16);
  bytes[6] = (bytes[6]! & 0x0f) | 0x80;
  bytes[8] = (bytes[8]! & 0x3f) | 0x80;
  return `2.25.${BigInt(`0x${bytes.toString('hex')}`).toString(10)}`;
}

/** Mulberry32: a small, fast, seedable generator of floats in [0, 1); enough for noise. */
function mulberry32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

const round = (value: number, decimals: number) => {
  const rounded = Math.round(value * 10 ** decimals) / 10 ** decimals;
  return rounded === 0 ? 0 : rounded; // no -0
};

function checkedInteger(name: string, value: number, min: number, max: number): number {
  if (!Number.isInteger(value) || value < min || value > max)
    throw new RangeError(`${name} must be an integer from ${min} to ${max}, not ${value}`);
  return value;
}
