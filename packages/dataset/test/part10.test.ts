import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeDcmtk, runDcmtk } from '../../../test/support/dcmtk.js';
import {
  encodeFileMetaInformation,
  type FileMetaInformation,
  Part10Error,
  parsePart10Header,
  readPart10Header,
  readPart10HeaderSync,
} from '../src/index.js';
import { TransferSyntax } from '../src/transfer-syntax.js';

const LONG_VRS = new Set(['OB', 'OW', 'SQ', 'UN', 'UT']);

/** One Explicit VR Little Endian element (PS3.5 7.1.2). */
function el(group: number, element: number, vr: string, value: Buffer | string): Buffer {
  const bytes = typeof value === 'string' ? Buffer.from(value, 'latin1') : value;
  const header = Buffer.alloc(LONG_VRS.has(vr) ? 12 : 8);
  header.writeUInt16LE(group, 0);
  header.writeUInt16LE(element, 2);
  header.write(vr, 4, 'latin1');
  if (LONG_VRS.has(vr)) header.writeUInt32LE(bytes.length, 8);
  else header.writeUInt16LE(bytes.length, 6);
  return Buffer.concat([header, bytes]);
}
const ul = (n: number) => {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n);
  return b;
};
const preamble = () => Buffer.concat([Buffer.alloc(128), Buffer.from('DICM', 'latin1')]);

/** A Part 10 file from meta elements (group length added when asked) and a data set. */
function part10(metaElements: Buffer[], dataSet: Buffer, withGroupLength = true): Buffer {
  const group = Buffer.concat(metaElements);
  return Buffer.concat([preamble(), withGroupLength ? el(0x0002, 0x0000, 'UL', ul(group.length)) : Buffer.alloc(0), group, dataSet]);
}

const CT = '1.2.840.10008.5.1.4.1.1.2';
const standardMeta = [
  el(0x0002, 0x0001, 'OB', Buffer.from([0, 1])),
  el(0x0002, 0x0002, 'UI', `${CT}\0`),
  el(0x0002, 0x0003, 'UI', '1.2.3.4.5\0'),
  el(0x0002, 0x0010, 'UI', `${TransferSyntax.ExplicitVrLittleEndian}\0`),
  el(0x0002, 0x0012, 'UI', '1.2.3.4\0'),
  el(0x0002, 0x0013, 'SH', 'DIMSE_RX_1 '),
];
const dataSet = el(0x0010, 0x0010, 'PN', 'Doe^Jane');

const meta: FileMetaInformation = {
  mediaStorageSopClassUid: CT,
  mediaStorageSopInstanceUid: '1.2.3.4.5',
  transferSyntaxUid: TransferSyntax.ExplicitVrLittleEndian,
  implementationClassUid: '1.2.3.4',
  implementationVersionName: 'DIMSE_RX_1',
  sourceApplicationEntityTitle: 'STORESCU',
};

function thrown(fn: () => unknown): Part10Error {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(Part10Error);
    expect((error as Error).name).toBe('Part10Error');
    return error as Part10Error;
  }
  throw new Error('expected a Part10Error');
}

describe('encodeFileMetaInformation', () => {
  it('writes the preamble, DICM and group 0002 in explicit VR little endian with its group length', () => {
    const expected = part10(
      [
        el(0x0002, 0x0001, 'OB', Buffer.from([0, 1])),
        // UIDs padded with a NUL to an even length, SH and AE with a space (PS3.5 6.2).
        el(0x0002, 0x0002, 'UI', `${CT}\0`),
        el(0x0002, 0x0003, 'UI', '1.2.3.4.5\0'),
        el(0x0002, 0x0010, 'UI', '1.2.840.10008.1.2.1\0'),
        el(0x0002, 0x0012, 'UI', '1.2.3.4\0'),
        el(0x0002, 0x0013, 'SH', 'DIMSE_RX_1'),
        el(0x0002, 0x0016, 'AE', 'STORESCU'),
      ],
      Buffer.alloc(0),
    );
    const bytes = encodeFileMetaInformation(meta);
    expect(bytes).toEqual(expected);
    expect(bytes.subarray(0, 128).every((b) => b === 0)).toBe(true);
    expect(bytes.toString('latin1', 128, 132)).toBe('DICM');
    // (0002,0000) counts every byte after itself.
    expect(bytes.readUInt32LE(140)).toBe(bytes.length - 144);
  });

  it('leaves out the optional elements and pads odd values', () => {
    const bytes = encodeFileMetaInformation({
      mediaStorageSopClassUid: '1.2.3',
      mediaStorageSopInstanceUid: '1.2.34',
      transferSyntaxUid: TransferSyntax.ImplicitVrLittleEndian,
      implementationClassUid: '1.2',
    });
    const expected = part10(
      [
        el(0x0002, 0x0001, 'OB', Buffer.from([0, 1])),
        el(0x0002, 0x0002, 'UI', '1.2.3\0'),
        el(0x0002, 0x0003, 'UI', '1.2.34'),
        el(0x0002, 0x0010, 'UI', '1.2.840.10008.1.2\0'),
        el(0x0002, 0x0012, 'UI', '1.2\0'),
      ],
      Buffer.alloc(0),
    );
    expect(bytes).toEqual(expected);
    expect(
      encodeFileMetaInformation({ ...meta, sourceApplicationEntityTitle: 'ODD' })
        .subarray(-4)
        .toString('latin1'),
    ).toBe('ODD ');
  });

  it('round trips through parsePart10Header', () => {
    for (const m of [
      meta,
      { ...meta, implementationVersionName: 'V', sourceApplicationEntityTitle: 'A B' },
      {
        mediaStorageSopClassUid: '1.2',
        mediaStorageSopInstanceUid: '1.2.3',
        transferSyntaxUid: TransferSyntax.DeflatedExplicitVrLittleEndian,
        implementationClassUid: '1.23',
      },
    ]) {
      const bytes = Buffer.concat([encodeFileMetaInformation(m), dataSet]);
      const header = parsePart10Header(bytes);
      expect(header.meta).toEqual(m);
      expect(header.dataSetOffset).toBe(bytes.length - dataSet.length);
      expect(header.fileSize).toBe(bytes.length);
    }
  });

  it('refuses values it cannot encode', () => {
    expect(thrown(() => encodeFileMetaInformation({ ...meta, mediaStorageSopInstanceUid: '' })).message).toMatch(
      /Media Storage SOP Instance UID '' is not a UID/,
    );
    expect(thrown(() => encodeFileMetaInformation({ ...meta, transferSyntaxUid: '1.2.x' })).message).toMatch(/Transfer Syntax UID/);
    expect(thrown(() => encodeFileMetaInformation({ ...meta, mediaStorageSopClassUid: `1.${'2'.repeat(64)}` })).message).toMatch(
      /at most 64/,
    );
    expect(thrown(() => encodeFileMetaInformation({ ...meta, sourceApplicationEntityTitle: 'A'.repeat(17) })).message).toMatch(
      /Source Application Entity Title/,
    );
  });
});

describe('parsePart10Header', () => {
  it('reads the meta group by its group length, trimming NUL and space padding', () => {
    const bytes = part10([...standardMeta, el(0x0002, 0x0016, 'AE', 'SCU ')], dataSet);
    const header = parsePart10Header(bytes);
    expect(header).toEqual({
      meta: { ...meta, sourceApplicationEntityTitle: 'SCU' },
      dataSetOffset: bytes.length - dataSet.length,
      fileSize: bytes.length,
    });
  });

  it('walks the 0002 elements when (0002,0000) is absent', () => {
    const bytes = part10(standardMeta, dataSet, false);
    const header = parsePart10Header(bytes);
    expect(header.meta.mediaStorageSopInstanceUid).toBe('1.2.3.4.5');
    expect(header.meta.implementationVersionName).toBe('DIMSE_RX_1');
    expect(header.meta.sourceApplicationEntityTitle).toBeUndefined();
    expect(header.dataSetOffset).toBe(bytes.length - dataSet.length);
    // No data set at all.
    expect(parsePart10Header(part10(standardMeta, Buffer.alloc(0), false)).dataSetOffset).toBe(132 + Buffer.concat(standardMeta).length);
  });

  it('reports what is wrong', () => {
    expect(thrown(() => parsePart10Header(Buffer.alloc(100))).message).toMatch(/too short.*100 bytes/);
    const noPrefix = part10(standardMeta, dataSet);
    noPrefix.write('DICX', 128, 'latin1');
    expect(thrown(() => parsePart10Header(noPrefix)).message).toMatch(/no 'DICM'/);
    for (const [element, name] of [
      [0x0010, 'Transfer Syntax UID'],
      [0x0002, 'Media Storage SOP Class UID'],
      [0x0003, 'Media Storage SOP Instance UID'],
    ] as const) {
      const without = standardMeta.filter((e) => e.readUInt16LE(2) !== element);
      expect(thrown(() => parsePart10Header(part10(without, dataSet))).message).toMatch(
        new RegExp(`missing \\(0002,${element.toString(16).padStart(4, '0')}\\) ${name}`),
      );
    }
    // The group length promises more than the file has.
    const bytes = part10(standardMeta, Buffer.alloc(0));
    expect(thrown(() => parsePart10Header(bytes.subarray(0, bytes.length - 3))).message).toMatch(/truncated meta information/);
    // Without group length, an element runs past the end of the file.
    const walked = part10(standardMeta, Buffer.alloc(0), false);
    expect(thrown(() => parsePart10Header(walked.subarray(0, walked.length - 3))).message).toMatch(
      /truncated meta information: \(0002,0013\)/,
    );
    expect(thrown(() => parsePart10Header(walked.subarray(0, 136))).message).toMatch(/element header at byte 132/);
  });
});

describe.each([
  ['readPart10Header', readPart10Header],
  // The blocking one, wrapped so that its throws are rejections like the other's.
  ['readPart10HeaderSync', async (path: string) => readPart10HeaderSync(path)],
] as const)('%s', (_name, readPart10Header) => {
  let dir = '';
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'dimse-rx-part10-'));
  });
  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('reads only the start of a file and gives where the data set starts', async () => {
    const path = join(dir, 'small.dcm');
    const bytes = Buffer.concat([encodeFileMetaInformation(meta), dataSet, Buffer.alloc(100_000)]);
    await writeFile(path, bytes);
    expect(await readPart10Header(path)).toEqual({ meta, dataSetOffset: encodeFileMetaInformation(meta).length, fileSize: bytes.length });
  });

  it('grows the read when the meta group is longer than the first read, with and without group length', async () => {
    // (0002,0102) Private Information, OB: 20000 bytes of meta group.
    const big = [...standardMeta, el(0x0002, 0x0100, 'UI', '1.2.3\0'), el(0x0002, 0x0102, 'OB', Buffer.alloc(20_000, 0x55))];
    for (const withGroupLength of [true, false]) {
      const path = join(dir, `big-${withGroupLength}.dcm`);
      const bytes = part10(big, dataSet, withGroupLength);
      await writeFile(path, bytes);
      const header = await readPart10Header(path);
      expect(header.dataSetOffset).toBe(bytes.length - dataSet.length);
      expect(header.fileSize).toBe(bytes.length);
      expect(header.meta.transferSyntaxUid).toBe(TransferSyntax.ExplicitVrLittleEndian);
    }
  });

  it('names the file in its errors', async () => {
    const short = join(dir, 'short.dcm');
    await writeFile(short, Buffer.alloc(10));
    await expect(readPart10Header(short)).rejects.toThrow(new RegExp(`${short.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: too short`));
    const truncated = join(dir, 'truncated.dcm');
    const bytes = part10([...standardMeta, el(0x0002, 0x0102, 'OB', Buffer.alloc(20_000))], Buffer.alloc(0));
    await writeFile(truncated, bytes.subarray(0, 10_000));
    const error = await readPart10Header(truncated).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(Part10Error);
    expect((error as Error).message).toMatch(/truncated\.dcm: truncated meta information/);
    const notDicom = join(dir, 'text.txt');
    await writeFile(notDicom, 'x'.repeat(500));
    await expect(readPart10Header(notDicom)).rejects.toThrow(/text\.txt: no 'DICM'/);
  });
});

describeDcmtk('Part 10 files and DCMTK', () => {
  let dir = '';
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'dimse-rx-part10-dcmtk-'));
  });
  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('writes meta information that dcmdump reads, values and all', async () => {
    const path = join(dir, 'ours.dcm');
    const body = Buffer.concat([
      el(0x0008, 0x0016, 'UI', `${CT}\0`),
      el(0x0008, 0x0018, 'UI', '1.2.3.4.5\0'),
      dataSet,
      el(0x0028, 0x0010, 'US', Buffer.from([0x00, 0x02])),
    ]);
    await writeFile(path, Buffer.concat([encodeFileMetaInformation(meta), body]));
    const result = await runDcmtk('dcmdump', [path]);
    expect(result.code).toBe(0);
    expect(result.stderr).toBe('');
    const lines = result.stdout.split('\n').map((line) => line.replace(/\s+/g, ' ').trim());
    const groupLength = encodeFileMetaInformation(meta).length - 144;
    for (const line of [
      `(0002,0000) UL ${groupLength} # 4, 1 FileMetaInformationGroupLength`,
      '(0002,0001) OB 00\\01 # 2, 1 FileMetaInformationVersion',
      '(0002,0002) UI =CTImageStorage # 26, 1 MediaStorageSOPClassUID',
      '(0002,0003) UI [1.2.3.4.5] # 10, 1 MediaStorageSOPInstanceUID',
      '(0002,0010) UI =LittleEndianExplicit # 20, 1 TransferSyntaxUID',
      '(0002,0012) UI [1.2.3.4] # 8, 1 ImplementationClassUID',
      '(0002,0013) SH [DIMSE_RX_1] # 10, 1 ImplementationVersionName',
      '(0002,0016) AE [STORESCU] # 8, 1 SourceApplicationEntityTitle',
      '(0010,0010) PN [Doe^Jane] # 8, 1 PatientName',
      '(0028,0010) US 512 # 2, 1 Rows',
    ]) {
      expect(lines).toContain(line);
    }
  });

  it('reads the header of files DCMTK wrote, in each transfer syntax', async () => {
    const dump = join(dir, 'in.dump');
    await writeFile(
      dump,
      [
        '(0002,0002) UI =CTImageStorage',
        '(0002,0003) UI [1.2.826.0.1.3680043.2.1143.7]',
        '(0002,0016) AE [DUMPER]',
        '(0008,0016) UI =CTImageStorage',
        '(0008,0018) UI [1.2.826.0.1.3680043.2.1143.7]',
        '(0010,0010) PN [Doe^Jane]',
        '',
      ].join('\n'),
    );
    const original = join(dir, 'dcmtk.dcm');
    const made = await runDcmtk('dump2dcm', ['-q', '+te', dump, original]);
    expect(made.code, made.stderr).toBe(0);
    for (const [option, uid] of [
      ['+te', TransferSyntax.ExplicitVrLittleEndian],
      ['+ti', TransferSyntax.ImplicitVrLittleEndian],
      ['+tb', TransferSyntax.ExplicitVrBigEndian],
      ['+td', TransferSyntax.DeflatedExplicitVrLittleEndian],
    ] as const) {
      const path = join(dir, `dcmtk${option}.dcm`);
      const converted = await runDcmtk('dcmconv', ['-q', option, original, path]);
      expect(converted.code, converted.stderr).toBe(0);
      const header = await readPart10Header(path);
      expect(header.meta.mediaStorageSopClassUid).toBe(CT);
      expect(header.meta.mediaStorageSopInstanceUid).toBe('1.2.826.0.1.3680043.2.1143.7');
      expect(header.meta.transferSyntaxUid).toBe(uid);
      expect(header.meta.implementationClassUid).toMatch(/^1\.2\.276\.0\.7230010\.3\./);
      expect(header.meta.implementationVersionName).toMatch(/^OFFIS_DCMTK_/);
      const dumped = (await runDcmtk('dcmdump', ['-q', path])).stdout;
      const groupLength = Number(dumped.match(/\(0002,0000\) UL (\d+)/)?.[1]);
      expect(header.dataSetOffset).toBe(144 + groupLength);
      // dcmdump reads the data set from there too: the group length is what DCMTK wrote.
      expect(dumped).toContain('(0010,0010) PN [Doe^Jane]');
    }
  });
});
