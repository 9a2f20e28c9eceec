// Generated test data for the store benchmark: Part 10 files in Explicit VR Little Endian whose
// header and data set (all but the pixel data) come from the library, with the pixel data
// (7FE0,0010) OW appended with an explicit 4-byte length and streamed from a pseudo-random
// pattern, so that a 1 GiB file never has to be held in memory.
import { closeSync, mkdirSync, openSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { generateSampleStudy } from '../../packages/dataset/dist/sample-study.js';
import { encodeDataset, encodeFileMetaInformation, TransferSyntax } from '../../packages/dimse/dist/index.js';

/** CT Image Storage (PS3.4 B.5), for the single-frame images. */
export const CT_IMAGE_STORAGE = '1.2.840.10008.5.1.4.1.1.2';
/** Multi-frame Grayscale Word Secondary Capture Image Storage (PS3.4 B.5), for the big image. */
export const MULTIFRAME_WORD_SC_STORAGE = '1.2.840.10008.5.1.4.1.1.7.3';

const EXPLICIT_LE = TransferSyntax.ExplicitVrLittleEndian;
/** (0018,2001) Page Number Vector: what the frames of a secondary capture advance by (PS3.3 C.8.6.3). */
const PAGE_NUMBER_VECTOR = 0x00182001;
const CHUNK = 4 << 20;

/** 4 MiB of xorshift32 noise plus a little slack, so that every image can start at another offset. */
function noise() {
  const words = new Uint32Array((CHUNK + 65536) / 4);
  let x = 0x9e3779b9;
  for (let i = 0; i < words.length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    // 12 bits stored in each 16-bit pixel, as BitsStored says.
    words[i] = (x >>> 0) & 0x0fff0fff;
  }
  return Buffer.from(words.buffer);
}

/** The (7FE0,0010) OW element header, explicit VR little endian with its reserved bytes and a 4-byte length (PS3.5 7.1.2). */
function pixelDataHeader(length) {
  const header = Buffer.alloc(12);
  header.writeUInt16LE(0x7fe0, 0);
  header.writeUInt16LE(0x0010, 2);
  header.write('OW', 4, 'latin1');
  header.writeUInt32LE(length, 8);
  return header;
}

/** Writes one Part 10 file: meta, the data set without pixel data, then `pixelBytes` of pixel data from the pattern. */
function writeImage(path, dataset, pixelBytes, pattern, start) {
  const { PixelData: _pixels, _vrMap: _vr, ...rest } = dataset;
  const meta = encodeFileMetaInformation({
    mediaStorageSopClassUid: rest.SOPClassUID,
    mediaStorageSopInstanceUid: rest.SOPInstanceUID,
    transferSyntaxUid: EXPLICIT_LE,
  });
  const fd = openSync(path, 'w');
  try {
    writeSync(fd, meta);
    writeSync(fd, encodeDataset(rest, EXPLICIT_LE));
    writeSync(fd, pixelDataHeader(pixelBytes));
    let written = 0;
    let offset = (start % 65536) & ~1;
    while (written < pixelBytes) {
      const n = Math.min(CHUNK, pixelBytes - written);
      written += writeSync(fd, pattern, offset, n);
      offset = (offset + 4098) % 65536; // the next chunk is another stretch of the noise
    }
  } finally {
    closeSync(fd);
  }
}

/**
 * `count` CT images of `rows` x `columns` 16-bit pixels in `directory`, one study and series,
 * each with its own SOP Instance UID. `seed` picks the sample study (its UIDs), `attributes`
 * replace some of each data set's (patient, study, series of an archive's layout), `prefix`
 * starts the file names. Returns the file paths and their total size.
 */
export function writeImageSet(directory, { count, rows, columns, seed = 500, attributes = {}, prefix = 'img' }) {
  mkdirSync(directory, { recursive: true });
  const pattern = noise();
  // The sample study gives consistent patient/study/series attributes and UIDs; its 1x1 pixels are replaced.
  const study = generateSampleStudy({ images: count, rows: 1, columns: 1, seed });
  const pixelBytes = rows * columns * 2;
  const files = study.map((dataset, i) => {
    const path = join(directory, `${prefix}${String(i + 1).padStart(5, '0')}.dcm`);
    const image = { ...dataset, ...attributes, Rows: rows, Columns: columns, PixelSpacing: [350 / rows, 350 / columns] };
    writeImage(path, image, pixelBytes, pattern, i * 2);
    return path;
  });
  return { files, pixelBytes: pixelBytes * count };
}

/**
 * One multi-frame image of `frames` frames of `rows` x `columns` 16-bit pixels, written in 4 MiB
 * chunks. Returns the file path and its pixel data size.
 */
export function writeMultiFrame(directory, { frames, rows, columns }) {
  mkdirSync(directory, { recursive: true });
  const pattern = noise();
  const [base] = generateSampleStudy({ images: 1, rows: 1, columns: 1, seed: 1024 });
  const pixelBytes = frames * rows * columns * 2;
  if (pixelBytes >= 0xffffffff) throw new RangeError('pixel data must stay below 4 GiB for an explicit length');
  const path = join(directory, 'multiframe.dcm');
  writeImage(
    path,
    {
      ...base,
      SOPClassUID: MULTIFRAME_WORD_SC_STORAGE,
      Modality: 'OT',
      ConversionType: 'WSD',
      Rows: rows,
      Columns: columns,
      PixelSpacing: [350 / rows, 350 / columns],
      NumberOfFrames: frames,
      FrameIncrementPointer: PAGE_NUMBER_VECTOR,
    },
    pixelBytes,
    pattern,
    0,
  );
  return { files: [path], pixelBytes };
}
