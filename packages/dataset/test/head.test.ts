/**
 * The head reader and DICOM file inspection: attributes read from data set bytes in every
 * uncompressed transfer syntax, at every chunking; structure errors for bytes that are not a
 * data set; Part 10 files, meta groups without preamble and bare data sets.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  DataSetHeadReader,
  encodeDataset,
  encodeFileMetaInformation,
  inspectDicomBytes,
  type NaturalizedDataset,
  Part10Error,
  readDataSetHead,
  readDicomFileHeader,
  readDicomFileHeaderSync,
  TransferSyntax,
} from '@dimse-rx/dataset';
import { generateSampleStudy } from '@dimse-rx/dataset/sample';
import { afterAll, describe, expect, it } from 'vitest';

const {
  ImplicitVrLittleEndian: ILE,
  ExplicitVrLittleEndian: ELE,
  ExplicitVrBigEndian: EBE,
  DeflatedExplicitVrLittleEndian: DEF,
} = TransferSyntax;
const [image] = generateSampleStudy({ images: 1, rows: 16, columns: 16, seed: 3 });
const dataset: NaturalizedDataset = {
  ...image!,
  SpecificCharacterSet: 'ISO_IR 192',
  PatientName: 'Müller^Jörg',
  // A sequence before the SOP UIDs (0008,0006), with a nested one, walked item by item.
  LanguageCodeSequence: [{ CodeValue: 'de', CodingSchemeDesignator: 'RFC5646', CodeMeaning: 'German' }],
};
const WANTED = ['SOPClassUID', 'SOPInstanceUID', 'PatientName', 'StudyInstanceUID'];

describe('DataSetHeadReader', () => {
  it.each([
    ['Implicit VR Little Endian', ILE],
    ['Explicit VR Little Endian', ELE],
    ['Explicit VR Big Endian', EBE],
    ['Deflated Explicit VR Little Endian', DEF],
  ])('reads chosen attributes of a data set in %s, whole and byte by byte', (_name, syntax) => {
    const bytes = encodeDataset(dataset, syntax);
    const whole = readDataSetHead(bytes, syntax, WANTED);
    expect(whole.error).toBeUndefined();
    expect(whole.complete).toBe(true);
    expect(whole.string('SOPClassUID')).toBe(dataset.SOPClassUID);
    expect(whole.string('SOPInstanceUID')).toBe(dataset.SOPInstanceUID);
    expect(whole.string('PatientName')).toBe('Müller^Jörg');
    expect(whole.string(0x0020000d)).toBe(dataset.StudyInstanceUID);
    const reader = new DataSetHeadReader(syntax, WANTED);
    let fed = 0;
    while (!reader.done && fed < bytes.length) reader.push(bytes.subarray(fed, ++fed));
    // Done before the end: the pixel data is never walked (deflated, it is a few compressed bytes).
    if (syntax !== DEF) expect(fed).toBeLessThan(bytes.length - 16 * 16 * 2);
    else expect(fed).toBeLessThan(bytes.length);
    expect(reader.head.string('SOPInstanceUID')).toBe(dataset.SOPInstanceUID);
    expect(reader.head.string('PatientName')).toBe('Müller^Jörg');
  });

  it('reports random bytes and truncated data sets as errors, a data set without the attribute as complete without it', () => {
    for (let i = 0; i < 200; i++) {
      const head = readDataSetHead(randomBytes(64 + i * 7), i % 2 ? ELE : ILE, ['SOPClassUID', 'SOPInstanceUID']);
      // Random bytes never yield both UIDs without an error.
      expect(head.error !== undefined || head.string('SOPInstanceUID') === undefined).toBe(true);
      if (i % 2) expect(head.error).toBeDefined();
    }
    const bytes = encodeDataset(dataset, ELE);
    const cut = readDataSetHead(bytes.subarray(0, 40), ELE, ['SOPInstanceUID', 'SeriesInstanceUID']);
    expect(cut.error?.message).toMatch(/ends inside/);
    const without = encodeDataset({ PatientID: 'X' }, ELE);
    const head = readDataSetHead(without, ELE, ['SOPInstanceUID']);
    expect(head.error).toBeUndefined();
    expect(head.complete).toBe(true);
    expect(head.string('SOPInstanceUID')).toBeUndefined();
  });

  it('refuses elements out of order', () => {
    const a = encodeDataset({ PatientID: 'A' }, ELE);
    const b = encodeDataset({ SOPInstanceUID: '1.2.3' }, ELE);
    expect(readDataSetHead(Buffer.concat([a, b]), ELE, ['SOPInstanceUID']).error?.message).toMatch(/ascending order/);
  });
});

describe('inspecting DICOM files', () => {
  const dirs: string[] = [];
  afterAll(() => Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true }))));
  const meta = (sopClassUid: string, sopInstanceUid: string, transferSyntaxUid: string) =>
    encodeFileMetaInformation({ mediaStorageSopClassUid: sopClassUid, mediaStorageSopInstanceUid: sopInstanceUid, transferSyntaxUid });

  it('takes the SOP UIDs from the data set and warns when the meta header disagrees', () => {
    const file = Buffer.concat([meta('1.2.840.10008.5.1.4.1.1.4', '1.2.3.4', ELE), encodeDataset(dataset, ELE)]);
    const header = inspectDicomBytes(file);
    expect(header).toMatchObject({ sopClassUid: dataset.SOPClassUID, sopInstanceUid: dataset.SOPInstanceUID, part10: true });
    expect(header.warnings).toHaveLength(2);
    expect(header.warnings[0]).toContain('(0002,0002) 1.2.840.10008.5.1.4.1.1.4');
    const agreeing = inspectDicomBytes(
      Buffer.concat([meta(String(dataset.SOPClassUID), String(dataset.SOPInstanceUID), ELE), encodeDataset(dataset, ELE)]),
    );
    expect(agreeing.warnings).toEqual([]);
  });

  it.each([
    ['Implicit VR Little Endian', ILE],
    ['Explicit VR Little Endian', ELE],
    ['Explicit VR Big Endian', EBE],
  ])('detects a bare data set in %s, from a file and from bytes', async (_name, syntax) => {
    const dir = await mkdtemp(join(tmpdir(), 'dimse-rx-head-'));
    dirs.push(dir);
    const bytes = encodeDataset(dataset, syntax);
    const path = join(dir, 'bare');
    await writeFile(path, bytes);
    for (const header of [await readDicomFileHeader(path), readDicomFileHeaderSync(path), inspectDicomBytes(bytes)]) {
      expect(header).toMatchObject({
        sopClassUid: dataset.SOPClassUID,
        sopInstanceUid: dataset.SOPInstanceUID,
        transferSyntaxUid: syntax,
        part10: false,
        dataSetOffset: 0,
        fileSize: bytes.length,
      });
      expect(header.meta).toBeUndefined();
    }
  });

  it('reads a meta group without preamble, and refuses what is not DICOM', async () => {
    const withPreamble = meta(String(dataset.SOPClassUID), String(dataset.SOPInstanceUID), ILE);
    const header = inspectDicomBytes(Buffer.concat([withPreamble.subarray(132), encodeDataset(dataset, ILE)]));
    expect(header).toMatchObject({ part10: false, transferSyntaxUid: ILE, sopInstanceUid: dataset.SOPInstanceUID });
    expect(header.dataSetOffset).toBe(withPreamble.length - 132);
    expect(() => inspectDicomBytes(Buffer.from('hello, this is a text file and not DICOM at all\n'.repeat(4)))).toThrow(Part10Error);
    expect(() => inspectDicomBytes(Buffer.concat([Buffer.from([0x08, 0x00, 0x16, 0x00]), randomBytes(200)]))).toThrow(Part10Error);
  });
});
