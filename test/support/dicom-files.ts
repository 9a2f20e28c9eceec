/**
 * DICOM Part 10 files for the interoperability tests: written from naturalized data sets with
 * dimse-rx's own codec, a large one streamed to disk without ever being held in memory, and the
 * data set of a file (the bytes after its meta information) read back whole or hashed as a stream.
 */
import { createCipheriv, createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { finished } from 'node:stream/promises';
import {
  encodeDataset,
  encodeFileMetaInformation,
  type NaturalizedDataset,
  type Part10Header,
  parsePart10Header,
  readPart10Header,
  TransferSyntax,
} from '@dimse-rx/dimse';

/** Preamble, meta information and `dataset` encoded in `transferSyntaxUid`, written to `path`. */
export async function writePart10(path: string, dataset: NaturalizedDataset, transferSyntaxUid: string): Promise<void> {
  const meta = encodeFileMetaInformation({
    mediaStorageSopClassUid: String(dataset.SOPClassUID),
    mediaStorageSopInstanceUid: String(dataset.SOPInstanceUID),
    transferSyntaxUid,
  });
  await writeFile(path, Buffer.concat([meta, encodeDataset(dataset, transferSyntaxUid)]));
}

export interface LargeFile {
  readonly path: string;
  readonly header: Part10Header;
  /** SHA-256 (hex) of the data set: every byte after the meta information. */
  readonly dataSetSha256: string;
}

/**
 * A Part 10 file in Explicit VR Little Endian whose Pixel Data (7FE0,0010) OW holds
 * `pixelDataLength` bytes of an AES-128-CTR key stream (deterministic in `seed`, incompressible,
 * generated at hundreds of MB/s). `dataset` is everything else, without PixelData; it is encoded
 * by dimse-rx and the Pixel Data element, which sorts last, is appended by hand: its header
 * (PS3.5 7.1.2: tag, 'OW', 2 reserved bytes, 4-byte length), then the bytes 1 MiB at a time,
 * hashed on the way.
 */
export async function writeLargePart10(path: string, dataset: NaturalizedDataset, pixelDataLength: number, seed = 1): Promise<LargeFile> {
  if (pixelDataLength % 2 !== 0 || pixelDataLength >= 0xffffffff) throw new RangeError('Pixel Data needs an even length below 2^32 - 1');
  if ('PixelData' in dataset) throw new TypeError('writeLargePart10 appends the Pixel Data itself');
  const syntax = TransferSyntax.ExplicitVrLittleEndian;
  const meta = encodeFileMetaInformation({
    mediaStorageSopClassUid: String(dataset.SOPClassUID),
    mediaStorageSopInstanceUid: String(dataset.SOPInstanceUID),
    transferSyntaxUid: syntax,
  });
  const pixelDataHeader = Buffer.alloc(12);
  pixelDataHeader.writeUInt16LE(0x7fe0, 0);
  pixelDataHeader.writeUInt16LE(0x0010, 2);
  pixelDataHeader.write('OW', 4, 'latin1');
  pixelDataHeader.writeUInt32LE(pixelDataLength, 8);

  const hash = createHash('sha256');
  const out = createWriteStream(path);
  const done = finished(out);
  const write = async (chunk: Buffer, hashed = true) => {
    if (hashed) hash.update(chunk);
    if (!out.write(chunk)) await new Promise<void>((resolve) => out.once('drain', resolve));
  };
  try {
    await write(meta, false);
    await write(encodeDataset(dataset, syntax));
    await write(pixelDataHeader);
    const key = createHash('sha256').update(`dimse-rx interop pixel data ${seed}`).digest().subarray(0, 16);
    const keyStream = createCipheriv('aes-128-ctr', key, Buffer.alloc(16));
    const zeros = Buffer.alloc(1 << 20);
    for (let written = 0; written < pixelDataLength; written += zeros.length) {
      await write(keyStream.update(zeros.subarray(0, Math.min(zeros.length, pixelDataLength - written))));
    }
    out.end();
    await done;
  } catch (error) {
    out.destroy();
    await done.catch(() => undefined);
    throw error;
  }
  return { path, header: await readPart10Header(path), dataSetSha256: hash.digest('hex') };
}

/** The data set bytes of a Part 10 file (after its meta information), and its header. */
export async function readDataSet(path: string): Promise<{ readonly header: Part10Header; readonly dataSet: Buffer }> {
  const bytes = await readFile(path);
  const header = parsePart10Header(bytes);
  return { header, dataSet: bytes.subarray(header.dataSetOffset) };
}

/** SHA-256 (hex) of the data set of a Part 10 file, streamed from disk. */
export async function dataSetSha256(path: string): Promise<string> {
  const { dataSetOffset } = await readPart10Header(path);
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path, { start: dataSetOffset, highWaterMark: 1 << 20 })) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** Every entry of a folder (hidden ones too), full paths, sorted. */
export async function filesIn(directory: string): Promise<string[]> {
  return (await readdir(directory)).sort().map((name) => join(directory, name));
}
