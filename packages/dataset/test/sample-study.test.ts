import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeDcmtk, runDcmtk } from '../../../test/support/dcmtk.js';
import { decodeDataset, encodeDataset, type NaturalizedDataset } from '../src/codec.js';
import { CT_IMAGE_STORAGE, generateSampleStudy } from '../src/sample-study.js';
import { TransferSyntax } from '../src/transfer-syntax.js';

const EXPLICIT = TransferSyntax.ExplicitVrLittleEndian;
const UUID_DERIVED_UID = /^2\.25\.(0|[1-9][0-9]{0,38})$/;

/** The pixel data of a generated image, as its stored 16-bit values. */
function pixelValues(image: NaturalizedDataset): Uint16Array {
  const [buffer] = image.PixelData as ArrayBuffer[];
  if (!(buffer instanceof ArrayBuffer)) throw new Error('PixelData is not [ArrayBuffer]');
  const view = new DataView(buffer);
  return Uint16Array.from({ length: buffer.byteLength / 2 }, (_, i) => view.getUint16(i * 2, true));
}

describe('generateSampleStudy', () => {
  const study = generateSampleStudy();

  it('makes 4 CT images of 256 x 256 by default, 16 bits allocated, 12 stored', () => {
    expect(study).toHaveLength(4);
    for (const [i, image] of study.entries()) {
      expect(image).toMatchObject({
        SOPClassUID: CT_IMAGE_STORAGE,
        Modality: 'CT',
        InstanceNumber: i + 1,
        Rows: 256,
        Columns: 256,
        BitsAllocated: 16,
        BitsStored: 12,
        HighBit: 11,
        PixelRepresentation: 0,
        SamplesPerPixel: 1,
        PhotometricInterpretation: 'MONOCHROME2',
        RescaleIntercept: -1024,
        RescaleSlope: 1,
        WindowCenter: [40, -600],
        WindowWidth: [400, 1500],
        ImageOrientationPatient: [1, 0, 0, 0, 1, 0],
        PixelSpacing: [1.3672, 1.3672],
        SliceThickness: 2.5,
        PatientName: 'DIMSE-RX^PHANTOM',
        PatientID: 'DRX1',
        _vrMap: { PixelData: 'OW' },
      });
      expect(image.ImagePositionPatient).toEqual([-174.3164, -174.3164, -2.5 * i + 0]);
      expect(image.SpecificCharacterSet).toBeUndefined();
    }
  });

  it('shares patient, study, series and frame of reference, and gives each image its own UID', () => {
    const uids = (key: string) => study.map((image) => image[key]);
    for (const key of ['StudyInstanceUID', 'SeriesInstanceUID', 'FrameOfReferenceUID', 'PatientID', 'PatientName']) {
      expect(new Set(uids(key)).size).toBe(1);
    }
    expect(new Set(uids('SOPInstanceUID')).size).toBe(study.length);
    const all = new Set([
      ...uids('SOPInstanceUID'),
      study[0]?.StudyInstanceUID,
      study[0]?.SeriesInstanceUID,
      study[0]?.FrameOfReferenceUID,
    ]);
    expect(all.size).toBe(study.length + 3);
    for (const uid of all) {
      expect(uid).toMatch(UUID_DERIVED_UID);
      expect(String(uid).length).toBeLessThanOrEqual(64);
    }
  });

  it('is deterministic: the same options give the same bytes, another seed another study', () => {
    const encode = (images: NaturalizedDataset[]) => images.map((image) => encodeDataset(image, EXPLICIT));
    const first = encode(generateSampleStudy({ seed: 7 }));
    const again = encode(generateSampleStudy({ seed: 7 }));
    expect(again.every((bytes, i) => first[i]?.equals(bytes))).toBe(true);
    const other = generateSampleStudy({ seed: 8 });
    const seven = generateSampleStudy({ seed: 7 });
    expect(other[0]?.StudyInstanceUID).not.toBe(seven[0]?.StudyInstanceUID);
    expect(other[0]?.SOPInstanceUID).not.toBe(seven[0]?.SOPInstanceUID);
    expect(other[0]?.PatientID).toBe('DRX8');
    expect(Buffer.from(pixelValues(other[0]!).buffer).equals(Buffer.from(pixelValues(seven[0]!).buffer))).toBe(false); // the noise
  });

  it('fills pixel data with rows x columns 16-bit values within Bits Stored, for either pixel representation', () => {
    for (const pixelRepresentation of [0, 1] as const) {
      for (const image of generateSampleStudy({ images: 2, rows: 48, columns: 64, pixelRepresentation })) {
        expect(image.PixelRepresentation).toBe(pixelRepresentation);
        const [buffer] = image.PixelData as ArrayBuffer[];
        expect(buffer?.byteLength).toBe(48 * 64 * 2);
        const values = pixelValues(image);
        const max = pixelRepresentation === 0 ? 2 ** 12 - 1 : 2 ** 11 - 1; // 12 bits stored, unsigned or two's complement
        expect(Math.max(...values)).toBeLessThanOrEqual(max);
        expect(Math.min(...values)).toBeGreaterThanOrEqual(0);
      }
    }
  });

  it('draws a phantom: air around the body, soft tissue in it, bone in the spine, lungs, and a nodule changing over the slices', () => {
    const images = generateSampleStudy({ images: 17 });
    const hu = (image: NaturalizedDataset, x: number, y: number) => (pixelValues(image)[y * 256 + x] ?? Number.NaN) - 1024; // stored - 1024, 1.3672 mm pixels
    const at = (mm: number) => Math.round(128 + mm / 1.3672 - 0.5);
    const middle = images[8]!;
    expect(hu(middle, 0, 0)).toBe(-1000); // air
    expect(Math.abs(hu(middle, at(-100), at(60)) - 40)).toBeLessThan(30); // soft tissue
    expect(hu(middle, at(0), at(80 + 12))).toBeGreaterThan(600); // cortical bone of the spine
    expect(hu(middle, at(60), at(-10))).toBeLessThan(-800); // lung
    expect(Math.abs(hu(middle, at(-60), at(-20)) - 30)).toBeLessThan(30); // nodule, in the middle slice
    expect(hu(images[0]!, at(-60), at(-20))).toBeLessThan(-800); // no nodule 20 mm away
  });

  it('declares UTF-8 for a patient name outside ASCII', () => {
    const [image] = generateSampleStudy({ images: 1, rows: 8, columns: 8, patientName: 'MÜLLER^JÖRG' });
    expect(image).toMatchObject({ SpecificCharacterSet: 'ISO_IR 192', PatientName: 'MÜLLER^JÖRG' });
    expect(decodeDataset(encodeDataset(image!, EXPLICIT), EXPLICIT).PatientName).toEqual([{ Alphabetic: 'MÜLLER^JÖRG' }]);
  });

  it('rejects sizes and seeds it cannot use', () => {
    expect(() => generateSampleStudy({ images: 0 })).toThrow(RangeError);
    expect(() => generateSampleStudy({ rows: 1.5 })).toThrow(/rows must be an integer from 1 to 65535/);
    expect(() => generateSampleStudy({ columns: 70_000 })).toThrow(RangeError);
    expect(() => generateSampleStudy({ seed: Number.NaN })).toThrow(RangeError);
  });

  it('round-trips through the codec in every native transfer syntax', () => {
    const [image] = generateSampleStudy({ images: 1, rows: 32, columns: 32 });
    const pixels = Buffer.from(pixelValues(image!).buffer).toString('hex');
    for (const syntax of Object.values(TransferSyntax)) {
      const decoded = decodeDataset(encodeDataset(image!, syntax), syntax);
      expect(decoded).toMatchObject({
        SOPInstanceUID: image?.SOPInstanceUID,
        Rows: 32,
        WindowCenter: [40, -600],
        PatientName: [{ Alphabetic: 'DIMSE-RX^PHANTOM' }],
      });
      expect(Buffer.from(pixelValues(decoded).buffer).toString('hex')).toBe(pixels);
    }
  });
});

/** A Part 10 file: preamble, DICM, the meta group (explicit VR LE, with its length), the data set. */
function part10(dataSet: Buffer, sopClassUid: string, sopInstanceUid: string, transferSyntaxUid: string): Buffer {
  const element = (elementNumber: number, vr: string, value: Buffer) => {
    const padded = value.length % 2 ? Buffer.concat([value, Buffer.alloc(1)]) : value;
    const header = Buffer.alloc(vr === 'OB' ? 12 : 8);
    header.writeUInt16LE(0x0002, 0);
    header.writeUInt16LE(elementNumber, 2);
    header.write(vr, 4, 'latin1');
    if (vr === 'OB') header.writeUInt32LE(padded.length, 8);
    else header.writeUInt16LE(padded.length, 6);
    return Buffer.concat([header, padded]);
  };
  const group = Buffer.concat([
    element(0x0001, 'OB', Buffer.from([0, 1])),
    element(0x0002, 'UI', Buffer.from(sopClassUid)),
    element(0x0003, 'UI', Buffer.from(sopInstanceUid)),
    element(0x0010, 'UI', Buffer.from(transferSyntaxUid)),
    element(0x0012, 'UI', Buffer.from('1.2.826.0.1.3680043.10.1')),
  ]);
  const length = Buffer.alloc(4);
  length.writeUInt32LE(group.length);
  return Buffer.concat([Buffer.alloc(128), Buffer.from('DICM'), element(0x0000, 'UL', length), group, dataSet]);
}

describeDcmtk('generateSampleStudy with DCMTK', () => {
  let folder: string;
  beforeAll(async () => {
    folder = await mkdtemp(join(tmpdir(), 'dimse-rx-sample-'));
  });
  afterAll(async () => {
    await rm(folder, { recursive: true, force: true });
  });

  it('makes images dcmdump reads without complaint, showing the attributes generated', async () => {
    const [image] = generateSampleStudy({ images: 1, patientName: 'MÜLLER^JÖRG' });
    const file = join(folder, 'image.dcm');
    await writeFile(file, part10(encodeDataset(image!, EXPLICIT), CT_IMAGE_STORAGE, String(image?.SOPInstanceUID), EXPLICIT));
    const { code, stdout, stderr } = await runDcmtk('dcmdump', ['+L', file]);
    expect(stderr).toBe('');
    expect(code).toBe(0);
    for (const line of [
      /\(0008,0016\) UI =CTImageStorage/,
      new RegExp(`\\(0008,0018\\) UI \\[${String(image?.SOPInstanceUID).replaceAll('.', '\\.')}\\]`),
      /\(0010,0010\) PN \[MÜLLER\^JÖRG\]/,
      /\(0020,0032\) DS \[-174\.3164\\-174\.3164\\0\]/,
      /\(0028,0010\) US 256/,
      /\(0028,0101\) US 12/,
      /\(0028,1050\) DS \[40\\-600\]/,
      /\(0028,1052\) DS \[-1024\]/,
      /\(7fe0,0010\) OW [0-9a-f\\]+ +# 131072, 1 PixelData/,
    ]) {
      expect(stdout).toMatch(line);
    }
  });

  it('makes images DCMTK can render: dcm2pnm writes a 256 x 256 grey image', async () => {
    const [image] = generateSampleStudy({ images: 1 });
    const file = join(folder, 'render.dcm');
    await writeFile(file, part10(encodeDataset(image!, EXPLICIT), CT_IMAGE_STORAGE, String(image?.SOPInstanceUID), EXPLICIT));
    const pgm = join(folder, 'render.pgm');
    const { code, stderr } = await runDcmtk('dcm2pnm', ['+Wi', '1', file, pgm]);
    expect(stderr).toBe('');
    expect(code).toBe(0);
    expect((await readFile(pgm)).subarray(0, 15).toString('latin1')).toMatch(/^P5\s+256\s+256\s+255\s/);
  });
});
