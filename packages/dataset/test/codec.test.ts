import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { deflateRawSync, inflateRawSync } from 'node:zlib';
import { data, log } from 'dcmjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeDcmtk, runDcmtk } from '../../../test/support/dcmtk.js';
import { DatasetCodecError, DatasetCodecErrorKind, decodeDataset, encodeDataset, type NaturalizedDataset } from '../src/codec.js';
import { TransferSyntax } from '../src/transfer-syntax.js';

const CT = '1.2.840.10008.5.1.4.1.1.2';
const INSTANCE = '1.2.826.0.1.3680043.10.1.1';
const NATIVE = [
  ['Implicit VR Little Endian', TransferSyntax.ImplicitVrLittleEndian],
  ['Explicit VR Little Endian', TransferSyntax.ExplicitVrLittleEndian],
  ['Explicit VR Big Endian', TransferSyntax.ExplicitVrBigEndian],
  ['Deflated Explicit VR Little Endian', TransferSyntax.DeflatedExplicitVrLittleEndian],
] as const;

/** Bytes in little endian order, whatever the host. */
function littleEndian(size: 2 | 4 | 8, write: (view: DataView, offset: number, value: number) => void, values: number[]): ArrayBuffer {
  const view = new DataView(new ArrayBuffer(values.length * size));
  for (const [i, value] of values.entries()) write(view, i * size, value);
  return view.buffer;
}
const PIXELS = littleEndian(2, (v, o, x) => v.setUint16(o, x, true), [0, 1, 0x0102, 0x0fff, 4095, 2048, 0x8001, 12345]);
const FLOATS = littleEndian(4, (v, o, x) => v.setFloat32(o, x, true), [1.5, -2.25, 3.125]);
const DOUBLES = littleEndian(8, (v, o, x) => v.setFloat64(o, x, true), [Math.PI, -1e-300]);
const PRIVATE_BYTES = Uint8Array.of(1, 2, 3, 4, 5, 6).buffer;

/** A data set with every kind of value the codec handles, in the form decoding gives back. */
function sample(): NaturalizedDataset {
  return {
    SpecificCharacterSet: 'ISO_IR 192',
    ImageType: ['ORIGINAL', 'PRIMARY', 'AXIAL'],
    SOPClassUID: CT,
    SOPInstanceUID: INSTANCE,
    StudyDate: '20240229',
    StudyTime: '235959.123456',
    AccessionNumber: '',
    Modality: 'CT',
    RecommendedDisplayFrameRateInFloat: 12.5,
    ReferencedImageSequence: [
      { ReferencedSOPClassUID: CT, ReferencedSOPInstanceUID: '1.2.3.4.5', ReferencedFrameNumber: [1, 2] },
      { ReferencedSOPClassUID: CT, ReferencedSOPInstanceUID: '1.2.3.4.6' },
    ],
    PatientName: [{ Alphabetic: 'MÜLLER^JÖRG' }],
    PatientID: 'ID-0042',
    PatientAge: '042Y',
    PatientWeight: 72.5,
    ProcedureCodeSequence: [
      {
        CodeValue: 'CTCHEST',
        CodingSchemeDesignator: 'L',
        CodeMeaning: 'CT Thorax',
        EquivalentCodeSequence: [{ CodeValue: '1234', CodingSchemeDesignator: 'L', CodeMeaning: 'Équivalent' }],
      },
    ],
    SliceThickness: 1.25,
    ReferencePixelX0: -123456,
    TagAngleSecondAxis: -42,
    InstanceNumber: 7,
    ImagePositionPatient: [-175.5, -175.5, 12.25],
    ImageOrientationPatient: [1, 0, 0, 0, 1, 0],
    SamplesPerPixel: 1,
    PhotometricInterpretation: 'MONOCHROME2',
    Rows: 2,
    Columns: 4,
    FrameIncrementPointer: 0x00181063,
    PixelSpacing: [0.5, 0.75],
    BitsAllocated: 16,
    BitsStored: 12,
    HighBit: 11,
    PixelRepresentation: 0,
    SmallestImagePixelValue: 0,
    LargestImagePixelValue: 4095,
    RealWorldValueIntercept: -1024.5,
    SelectorULValue: [1, 4294967295],
    TextValue: 'line one\r\nline two',
    '00090010': 'DIMSE-RX TEST',
    '00091010': [PRIVATE_BYTES],
    FloatPixelData: [FLOATS],
    DoubleFloatPixelData: [DOUBLES],
    PixelData: [PIXELS],
    _vrMap: { PixelData: 'OW', '00090010': 'LO', '00091010': 'UN' },
  };
}

/** Plain data to compare: bytes as hex, dcmjs's proxies and `_vrMap` left out. */
function plain(value: unknown): unknown {
  if (value instanceof ArrayBuffer) return { hex: Buffer.from(value).toString('hex') };
  if (ArrayBuffer.isView(value)) return { hex: Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('hex') };
  if (Array.isArray(value)) return value.map(plain);
  if (typeof value === 'object' && value !== null) {
    return Object.fromEntries(
      Object.entries(value)
        .filter(([key]) => key !== '_vrMap')
        .map(([key, v]) => [key, plain(v)]),
    );
  }
  return value;
}

/** The value bytes of the first element with this tag in an explicit VR little endian encoding (enough for a test: no sequence before it holds the tag). */
function elementValue(bytes: Buffer, group: number, element: number): Buffer {
  for (let i = 0; i + 8 <= bytes.length; i += 2) {
    if (bytes.readUInt16LE(i) === group && bytes.readUInt16LE(i + 2) === element) {
      const vr = bytes.toString('latin1', i + 4, i + 6);
      const long = ['OB', 'OW', 'OF', 'OD', 'SQ', 'UN', 'UT', 'UC', 'UR'].includes(vr);
      const length = long ? bytes.readUInt32LE(i + 8) : bytes.readUInt16LE(i + 6);
      const start = i + (long ? 12 : 8);
      return bytes.subarray(start, start + length);
    }
  }
  throw new Error(`(${group.toString(16)},${element.toString(16)}) not found`);
}

describe('data set codec', () => {
  describe.each(NATIVE)('%s', (_name, syntax) => {
    it('decodes what it encodes: text, numbers, tags, sequences, private elements and binary values', () => {
      const decoded = decodeDataset(encodeDataset(sample(), syntax), syntax);
      expect(plain(decoded)).toEqual(plain(sample()));
      expect(decoded._vrMap).toMatchObject({ PixelData: 'OW', SmallestImagePixelValue: 'US', '00090010': 'LO', '00091010': 'UN' });
    });

    it('encodes a decoded data set back to the same bytes', () => {
      const bytes = encodeDataset(sample(), syntax);
      expect(encodeDataset(decodeDataset(bytes, syntax), syntax).equals(bytes)).toBe(true);
    });

    it('decodes from a view into a larger buffer, and shares no memory with it', () => {
      const bytes = encodeDataset(sample(), syntax);
      const padded = Buffer.alloc(bytes.length + 64, 0xee);
      bytes.copy(padded, 32);
      const view = padded.subarray(32, 32 + bytes.length);
      const decoded = decodeDataset(view, syntax);
      padded.fill(0);
      expect(plain(decoded)).toEqual(plain(sample()));
    });
  });

  it('writes OW, OF and OD words byte-swapped in big endian, and everything else in big endian too', () => {
    const little = encodeDataset(sample(), TransferSyntax.ExplicitVrLittleEndian);
    const big = encodeDataset(sample(), TransferSyntax.ExplicitVrBigEndian);
    expect(big.length).toBe(little.length);
    // (7FE0,0010) OW: tag and length big endian, then each 16-bit word big endian.
    const pixelData = Buffer.from('7fe000104f57000000000010' + '0000000101020fff0fff080080013039', 'hex');
    expect(big.subarray(big.length - pixelData.length).equals(pixelData)).toBe(true);
    const floats = Buffer.from(FLOATS.slice(0)).swap32();
    expect(big.includes(Buffer.concat([Buffer.from('7fe000084f4600000000000c', 'hex'), floats]))).toBe(true);
    expect(big.includes(Buffer.concat([Buffer.from('7fe000094f44000000000010', 'hex'), Buffer.from(DOUBLES.slice(0)).swap64()]))).toBe(
      true,
    );
    expect(big.includes(Buffer.from('00280010555300020002', 'hex'))).toBe(true); // Rows US 2
  });

  it('encodes Deflated Explicit VR Little Endian as the raw deflate of Explicit VR Little Endian', () => {
    const deflated = encodeDataset(sample(), TransferSyntax.DeflatedExplicitVrLittleEndian);
    const explicit = encodeDataset(sample(), TransferSyntax.ExplicitVrLittleEndian);
    expect(inflateRawSync(deflated).equals(explicit)).toBe(true);
    expect(deflated.length).toBeLessThan(explicit.length);
  });

  it('pads a deflated data set of odd length with one zero byte, which decoding ignores', () => {
    // Accession numbers of 0 to 15 characters give deflated streams of both parities.
    const lengths = { odd: 0, even: 0 };
    for (let n = 0; n < 16; n++) {
      const dataset = { ...sample(), AccessionNumber: 'A'.repeat(n) };
      const deflated = encodeDataset(dataset, TransferSyntax.DeflatedExplicitVrLittleEndian);
      const raw = deflateRawSync(encodeDataset(dataset, TransferSyntax.ExplicitVrLittleEndian));
      expect(deflated.length % 2).toBe(0);
      if (raw.length % 2 === 1) {
        lengths.odd++;
        expect(deflated).toEqual(Buffer.concat([raw, Buffer.of(0)]));
      } else {
        lengths.even++;
        expect(deflated).toEqual(raw);
      }
      expect(decodeDataset(deflated, TransferSyntax.DeflatedExplicitVrLittleEndian).AccessionNumber).toBe(n === 0 ? '' : 'A'.repeat(n));
    }
    expect(lengths.odd).toBeGreaterThan(0);
    expect(lengths.even).toBeGreaterThan(0);
  });

  it('encodes the same bytes for a person name given as a string or as DICOM JSON, and for any kind of binary view', () => {
    const pixelBytes = Buffer.from(PIXELS);
    const pooled = Buffer.concat([Buffer.alloc(7), pixelBytes]).subarray(7); // a view at an offset into a larger buffer
    const variants: NaturalizedDataset[] = [
      { ...sample(), PatientName: 'MÜLLER^JÖRG' },
      { ...sample(), PatientName: { Alphabetic: 'MÜLLER^JÖRG' } },
      { ...sample(), PixelData: PIXELS },
      { ...sample(), PixelData: pooled },
      { ...sample(), PixelData: [new Uint16Array(PIXELS)] },
      { ...sample(), FrameIncrementPointer: '00181063' },
    ];
    const expected = encodeDataset(sample(), TransferSyntax.ExplicitVrLittleEndian);
    for (const variant of variants) expect(encodeDataset(variant, TransferSyntax.ExplicitVrLittleEndian).equals(expected)).toBe(true);
  });

  it('infers OB or OW for pixel data and US or SS from the image attributes when _vrMap does not say, also when decoding implicit VR', () => {
    const eightBit = encodeDataset({ BitsAllocated: 8, PixelData: Uint8Array.of(1, 2, 3, 4) }, TransferSyntax.ExplicitVrLittleEndian);
    expect(eightBit.subarray(-16).equals(Buffer.from('e07f10004f4200000400000001020304', 'hex'))).toBe(true);
    const sixteenBit = encodeDataset({ BitsAllocated: 16, PixelData: Uint8Array.of(1, 2, 3, 4) }, TransferSyntax.ExplicitVrLittleEndian);
    expect(sixteenBit.subarray(-16, -10).toString('latin1', 4)).toBe('OW');
    const signed = encodeDataset({ PixelRepresentation: 1, SmallestImagePixelValue: -5 }, TransferSyntax.ExplicitVrLittleEndian);
    expect(signed.subarray(-10).equals(Buffer.from('2800060153530200fbff', 'hex'))).toBe(true);
    for (const [, syntax] of NATIVE) {
      const decodedSigned = decodeDataset(encodeDataset({ PixelRepresentation: 1, SmallestImagePixelValue: -5 }, syntax), syntax);
      expect(decodedSigned).toMatchObject({ SmallestImagePixelValue: -5, _vrMap: { SmallestImagePixelValue: 'SS' } });
      const decodedEightBit = decodeDataset(encodeDataset({ BitsAllocated: 8, PixelData: Uint8Array.of(1, 2, 3, 4) }, syntax), syntax);
      expect(decodedEightBit._vrMap).toEqual({ PixelData: 'OB' });
      expect(plain(decodedEightBit.PixelData)).toEqual([{ hex: '01020304' }]);
    }
  });

  it('writes numbers given for DS and IS within their lengths', () => {
    const bytes = encodeDataset(
      { SliceThickness: 0.1 + 0.2, PatientWeight: 1 / 3, InstanceNumber: 12 },
      TransferSyntax.ExplicitVrLittleEndian,
    );
    const sliceThickness = elementValue(bytes, 0x0018, 0x0050).toString('latin1');
    expect(sliceThickness.trim().length).toBeLessThanOrEqual(16);
    expect(Number(sliceThickness)).toBeCloseTo(0.3, 14);
    expect(elementValue(bytes, 0x0010, 0x1030).toString('latin1')).toBe('0.33333333333333');
    expect(elementValue(bytes, 0x0020, 0x0013).toString('latin1')).toBe('12');
  });

  it('writes empty elements for null and empty arrays', () => {
    const bytes = encodeDataset(
      { AccessionNumber: null, ReferencedImageSequence: [], PatientName: '' },
      TransferSyntax.ExplicitVrLittleEndian,
    );
    expect(bytes.toString('hex')).toBe(
      ['08005000', '5348', '0000'].join('') +
        ['08004011', '5351', '0000', 'ffffffff', 'feffdde0', '00000000'].join('') +
        ['10001000', '504e', '0000'].join(''),
    );
    const decoded = decodeDataset(bytes, TransferSyntax.ExplicitVrLittleEndian);
    expect(plain(decoded)).toEqual({ AccessionNumber: '', ReferencedImageSequence: [], PatientName: [] });
  });

  it('does not modify the data set it encodes', () => {
    const dataset = sample();
    const before = plain(dataset);
    for (const [, syntax] of NATIVE) encodeDataset(dataset, syntax);
    expect(plain(dataset)).toEqual(before);
    expect(dataset._vrMap).toEqual({ PixelData: 'OW', '00090010': 'LO', '00091010': 'UN' });
  });

  it('keeps encapsulated pixel data as frames, one fragment each, for a compressed syntax', () => {
    const jpegBaseline = '1.2.840.10008.1.2.4.50';
    const frames = [Uint8Array.of(0xff, 0xd8, 1, 2, 0xff, 0xd9).buffer, Uint8Array.of(0xff, 0xd8, 3, 0xff, 0xd9).buffer];
    const dataset = { SOPClassUID: CT, BitsAllocated: 8, NumberOfFrames: 2, PixelData: frames, _vrMap: { PixelData: 'OB' } };
    const bytes = encodeDataset(dataset, jpegBaseline);
    // (7FE0,0010) OB undefined length, offset table [0, 14], one item per frame (odd one padded), sequence delimiter.
    const expected = [
      'e07f10004f420000ffffffff',
      'feff00e008000000000000000e000000',
      'feff00e006000000ffd80102ffd9',
      'feff00e006000000ffd803ffd900',
      'feffdde000000000',
    ];
    expect(bytes.subarray(bytes.indexOf(Buffer.from('e07f1000', 'hex'))).toString('hex')).toBe(expected.join(''));
    const decoded = decodeDataset(bytes, jpegBaseline);
    expect(plain(decoded.PixelData)).toEqual([{ hex: 'ffd80102ffd9' }, { hex: 'ffd803ffd900' }]);
    expect(decoded.NumberOfFrames).toBe(2);
  });

  it('rejects transfer syntaxes it cannot lay out, with a typed error', () => {
    for (const syntax of ['1.2.3.4', '1.2.840.10008.1.2.6.1', '']) {
      const error = catchError(() => encodeDataset(sample(), syntax));
      expect(error).toBeInstanceOf(DatasetCodecError);
      expect(error).toMatchObject({ kind: DatasetCodecErrorKind.UnsupportedTransferSyntax, transferSyntaxUid: syntax });
      expect(catchError(() => decodeDataset(Buffer.alloc(0), syntax))).toMatchObject({
        kind: DatasetCodecErrorKind.UnsupportedTransferSyntax,
      });
    }
  });

  it('rejects data sets it cannot place, naming the element', () => {
    const cases: [NaturalizedDataset, RegExp][] = [
      [{ PatientNam: 'X' }, /PatientNam is neither a keyword/],
      [{ ReferencedImageSequence: [{ ReferencedSOPInstanceUid: '1' }] }, /ReferencedImageSequence\[0\]\.ReferencedSOPInstanceUid/],
      [{ ReferencedImageSequence: ['1.2.3'] }, /ReferencedImageSequence\[0\] must be a data set/],
      [{ PixelData: 'not bytes', _vrMap: { PixelData: 'OW' } }, /PixelData is OW: it takes an ArrayBuffer/],
      [{ PatientID: 'X', _vrMap: { PatientID: 'XX' } }, /PatientID has VR XX/],
      [{ OverlayRows: 1, '60000010': 2 }, /gives \(6000,0010\) a second time/],
      [{ FrameIncrementPointer: 'Rows' }, /FrameIncrementPointer is AT/],
      [{ '00091010': 'text without a VR' }, /00091010 is UN/],
    ];
    for (const [dataset, message] of cases) {
      const error = catchError(() => encodeDataset(dataset, TransferSyntax.ExplicitVrLittleEndian));
      expect(error).toBeInstanceOf(DatasetCodecError);
      expect(error).toMatchObject({ kind: DatasetCodecErrorKind.InvalidDataset, message: expect.stringMatching(message) });
    }
    const oddWords = catchError(() =>
      encodeDataset({ PixelData: new ArrayBuffer(3), _vrMap: { PixelData: 'OW' } }, TransferSyntax.ExplicitVrBigEndian),
    );
    expect(oddWords).toMatchObject({
      kind: DatasetCodecErrorKind.InvalidDataset,
      message: expect.stringMatching(/\(7FE0,0010\) OW has 3 bytes/),
    });
  });

  it('keys elements of repeating groups other than the first by tag, so that none is lost', () => {
    const overlays = {
      OverlayRows: 8,
      OverlayData: new ArrayBuffer(4),
      '60020010': 16,
      '60023000': Uint8Array.of(1, 2, 3, 4),
      _vrMap: { OverlayData: 'OW', '60023000': 'OW' },
    };
    for (const [, syntax] of NATIVE) {
      const decoded = decodeDataset(encodeDataset(overlays, syntax), syntax);
      expect(plain(decoded)).toEqual({
        OverlayRows: 8,
        OverlayData: [{ hex: '00000000' }],
        '60020010': 16,
        '60023000': [{ hex: '01020304' }],
      });
      expect(decoded._vrMap).toEqual({ OverlayData: 'OW', '60023000': 'OW' });
    }
  });

  describe.each(NATIVE)('malformed %s', (_name, syntax) => {
    it('decodes a cut data set only where whole elements end, and throws DatasetCodecError anywhere else', () => {
      const bytes = encodeDataset(sample(), syntax);
      const deflated = syntax === TransferSyntax.DeflatedExplicitVrLittleEndian;
      let decodedCuts = 0;
      for (const cut of deflated ? [1, 10, bytes.length - 3] : range(0, bytes.length)) {
        const prefix = bytes.subarray(0, cut);
        let decoded: NaturalizedDataset;
        try {
          decoded = decodeDataset(prefix, syntax);
        } catch (error) {
          expect(error).toBeInstanceOf(DatasetCodecError);
          expect(error).toMatchObject({ kind: DatasetCodecErrorKind.Malformed });
          continue;
        }
        decodedCuts++;
        expect(encodeDataset(decoded, syntax).equals(prefix)).toBe(true);
      }
      // Only the cuts between top-level elements decode: one per element (and the empty data set).
      if (!deflated) expect(decodedCuts).toBe(Object.keys(sample()).length - 1);
    });
  });

  it('reports bytes that are not a data set', () => {
    expect(
      catchError(() => decodeDataset(Buffer.from('not a deflate stream'), TransferSyntax.DeflatedExplicitVrLittleEndian)),
    ).toMatchObject({
      kind: DatasetCodecErrorKind.Malformed,
      message: expect.stringMatching(/not a raw deflate stream/),
    });
    // (0008,0005) CS with a length past the end.
    const runaway = Buffer.from('080005004353ff00', 'hex');
    expect(catchError(() => decodeDataset(runaway, TransferSyntax.ExplicitVrLittleEndian))).toMatchObject({
      kind: DatasetCodecErrorKind.Malformed,
    });
    expect(decodeDataset(Buffer.alloc(0), TransferSyntax.ImplicitVrLittleEndian)).toEqual({ _vrMap: {} });
  });

  it('stays quiet: dcmjs logs nothing while it works for the codec', () => {
    const calls: unknown[][] = [];
    const originals = {
      log: console.log,
      info: console.info,
      warn: console.warn,
      error: console.error,
      debug: console.debug,
      trace: console.trace,
    };
    for (const level of Object.keys(originals) as (keyof typeof originals)[]) console[level] = (...args: unknown[]) => calls.push(args);
    log.rebuild(); // dcmjs's loggers bind the console methods of the moment
    try {
      data.DicomMetaDictionary.denaturalizeDataset({ NotAKeyword: 1 }); // a warning, to show the spies see dcmjs
      expect(calls).toHaveLength(1);
      calls.length = 0;
      for (const [, syntax] of NATIVE) decodeDataset(encodeDataset(sample(), syntax), syntax); // implicit VR alone makes dcmjs complain of 'ox'
      expect(calls).toEqual([]);
    } finally {
      Object.assign(console, originals);
      log.rebuild();
    }
  });
});

// --- Interoperability with DCMTK -------------------------------------------------------------

/** The file meta information (PS3.10 7.1), explicit VR little endian, with its group length. */
function part10(dataSet: Buffer, transferSyntaxUid: string): Buffer {
  const element = (elementNumber: number, vr: string, value: Buffer) => {
    const padded = value.length % 2 ? Buffer.concat([value, Buffer.alloc(1)]) : value;
    const long = vr === 'OB';
    const header = Buffer.alloc(long ? 12 : 8);
    header.writeUInt16LE(0x0002, 0);
    header.writeUInt16LE(elementNumber, 2);
    header.write(vr, 4, 'latin1');
    if (long) header.writeUInt32LE(padded.length, 8);
    else header.writeUInt16LE(padded.length, 6);
    return Buffer.concat([header, padded]);
  };
  const ui = (uid: string) => Buffer.from(uid, 'latin1');
  const group = Buffer.concat([
    element(0x0001, 'OB', Buffer.from([0, 1])),
    element(0x0002, 'UI', ui(CT)),
    element(0x0003, 'UI', ui(INSTANCE)),
    element(0x0010, 'UI', ui(transferSyntaxUid)),
    element(0x0012, 'UI', ui('1.2.826.0.1.3680043.10.1')),
  ]);
  const length = Buffer.alloc(4);
  length.writeUInt32LE(group.length);
  return Buffer.concat([Buffer.alloc(128), Buffer.from('DICM', 'latin1'), element(0x0000, 'UL', length), group, dataSet]);
}

/** The data set of a Part 10 file: what follows the meta group, whose length is at bytes 140-143. */
const dataSetOf = (file: Buffer) => file.subarray(144 + file.readUInt32LE(140));

/**
 * dcmdump's listing of the data set, one line per element or item with tag, VR and value; what
 * depends on the encoding (lengths, delimiters, the transfer syntax) left out.
 */
async function dump(file: string): Promise<string[]> {
  const { code, stdout, stderr } = await runDcmtk('dcmdump', ['+L', file]);
  expect(stderr).toBe('');
  expect(code).toBe(0);
  const lines = stdout.split('\n');
  return lines
    .slice(lines.indexOf('# Dicom-Data-Set') + 1)
    .filter((line) => line.trim() !== '' && !line.startsWith('#') && !line.includes('Delimitation'))
    .map((line) =>
      line
        .replace(/\((Sequence|Item) with (?:explicit|undefined) length #=(\d+)\)/, '($1 of $2)')
        .replace(/#.*$/, '')
        .trimEnd(),
    );
}

describeDcmtk('data set codec against DCMTK', () => {
  let folder: string;
  const explicitFile = () => join(folder, 'ours-explicit.dcm');

  beforeAll(async () => {
    folder = await mkdtemp(join(tmpdir(), 'dimse-rx-codec-'));
    await writeFile(
      explicitFile(),
      part10(encodeDataset(sample(), TransferSyntax.ExplicitVrLittleEndian), TransferSyntax.ExplicitVrLittleEndian),
    );
  });
  afterAll(async () => {
    await rm(folder, { recursive: true, force: true });
  });

  it('dcmdump reads our Explicit VR Little Endian and shows the values we encoded', async () => {
    const lines = await dump(explicitFile());
    expect(lines).toEqual(
      expect.arrayContaining([
        '(0008,0008) CS [ORIGINAL\\PRIMARY\\AXIAL]',
        '(0010,0010) PN [MÜLLER^JÖRG]',
        '(0010,1030) DS [72.5]',
        '(0018,6020) SL -123456',
        '(0018,9219) SS -42',
        '(0028,0009) AT (0018,1063)',
        '(0028,0010) US 2',
        '(0028,0030) DS [0.5\\0.75]',
        '(0040,9224) FD -1024.5',
        '(0072,0078) UL 1\\4294967295',
        '(0009,0010) LO [DIMSE-RX TEST]',
        '(0009,1010) UN 01\\02\\03\\04\\05\\06',
        '(7fe0,0008) OF 1.5\\-2.25\\3.125',
        '(7fe0,0010) OW 0000\\0001\\0102\\0fff\\0fff\\0800\\8001\\3039',
        '  (fffe,e000) na (Item of 4)',
        '        (0008,0104) LO [Équivalent]',
        '(7fe0,0009) OD 3.1415926535897931\\-9.9999999999999929e-301',
      ]),
    );
  });

  it('decodes what DCMTK writes by default: sequences and items of explicit length, group lengths', async () => {
    for (const [option, syntax] of [
      ['+ti', TransferSyntax.ImplicitVrLittleEndian],
      ['+te', TransferSyntax.ExplicitVrLittleEndian],
      ['+tb', TransferSyntax.ExplicitVrBigEndian],
    ] as const) {
      const file = join(folder, `dcmtk-explicit-lengths-${syntax}.dcm`);
      const converted = await runDcmtk('dcmconv', [option, '+e', '+g', explicitFile(), file]);
      expect(converted.code).toBe(0);
      const bytes = dataSetOf(await readFile(file));
      const sequenceDelimiter = syntax === TransferSyntax.ExplicitVrBigEndian ? 'fffee0dd' : 'feffdde0';
      expect(bytes.includes(Buffer.from(sequenceDelimiter, 'hex'))).toBe(false); // no sequence of undefined length left
      const groupLengths: unknown[] = [];
      /** The data set without its group lengths (in items too), which are gathered. */
      const withoutGroupLengths = (value: unknown): unknown => {
        if (Array.isArray(value)) return value.map(withoutGroupLengths);
        if (typeof value !== 'object' || value === null || value instanceof ArrayBuffer) return value;
        const entries = Object.entries(value).filter(
          ([key, v]) => key !== '_vrMap' && !(/^[0-9A-F]{4}0000$/.test(key) && groupLengths.push(v)),
        );
        return Object.fromEntries(entries.map(([key, v]) => [key, withoutGroupLengths(v)]));
      };
      const decoded = decodeDataset(bytes, syntax);
      expect(plain(withoutGroupLengths(decoded))).toEqual(plain(sample()));
      expect(groupLengths.length).toBeGreaterThan(5);
      for (const length of groupLengths) expect(length).toEqual(expect.any(Number));
      expect(decoded._vrMap).toMatchObject({ '00080000': 'UL', '00100000': 'UL' });
    }
  });

  describe.each([
    ['Implicit VR Little Endian', TransferSyntax.ImplicitVrLittleEndian, '+ti'],
    ['Explicit VR Big Endian', TransferSyntax.ExplicitVrBigEndian, '+tb'],
    ['Deflated Explicit VR Little Endian', TransferSyntax.DeflatedExplicitVrLittleEndian, '+td'],
  ] as const)('%s', (name, syntax, option) => {
    let dcmtkFile: string;
    let oursFile: string;
    beforeAll(async () => {
      dcmtkFile = join(folder, `dcmtk-${syntax}.dcm`);
      oursFile = join(folder, `ours-${syntax}.dcm`);
      // -e -g: sequences and items of undefined length and no group lengths, as dcmjs writes them.
      const converted = await runDcmtk('dcmconv', [option, '-e', '-g', explicitFile(), dcmtkFile]);
      expect(converted.stderr).toBe('');
      expect(converted.code).toBe(0);
      await writeFile(oursFile, part10(encodeDataset(sample(), syntax), syntax));
    });

    it(`dcmdump shows the same elements in our encoding as in DCMTK's conversion to ${name}`, async () => {
      const [ours, dcmtk, explicit] = await Promise.all([dump(oursFile), dump(dcmtkFile), dump(explicitFile())]);
      expect(ours).toEqual(dcmtk);
      expect(ours.length).toBeGreaterThan(50);
      if (syntax !== TransferSyntax.ImplicitVrLittleEndian) expect(ours).toEqual(explicit);
      else
        expect(ours.map((line) => line.replace(/^(\s*\(\w{4},\w{4}\)) (..|na)/, '$1'))).toEqual(
          explicit.map((line) => line.replace(/^(\s*\(\w{4},\w{4}\)) (..|na)/, '$1')),
        );
    });

    it(`encodes the same data set bytes as DCMTK does in ${name}`, async () => {
      const dcmtk = dataSetOf(await readFile(dcmtkFile));
      const ours = encodeDataset(sample(), syntax);
      if (syntax === TransferSyntax.DeflatedExplicitVrLittleEndian) expect(inflateRawSync(ours).equals(inflateRawSync(dcmtk))).toBe(true);
      else expect(ours.toString('hex')).toBe(dcmtk.toString('hex'));
    });

    it(`decodes DCMTK's ${name} to the values we started from`, async () => {
      const decoded = decodeDataset(dataSetOf(await readFile(dcmtkFile)), syntax);
      expect(plain(decoded)).toEqual(plain(sample()));
    });
  });
});

function catchError(run: () => unknown): unknown {
  try {
    run();
  } catch (error) {
    return error;
  }
  return undefined;
}

const range = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => from + i);

describe('decodeDataset: padding', () => {
  it.each([TransferSyntax.ImplicitVrLittleEndian, TransferSyntax.ExplicitVrLittleEndian, TransferSyntax.ExplicitVrBigEndian])(
    'gives dates and date-times of odd length without their pad space, in items too (%s)',
    (ts) => {
      const decoded = decodeDataset(
        encodeDataset({ StudyDate: '20240101-', AcquisitionDateTime: '2024-', ReferencedStudySequence: [{ StudyDate: '-20241231' }] }, ts),
        ts,
      );
      expect(decoded.StudyDate).toBe('20240101-');
      expect(decoded.AcquisitionDateTime).toBe('2024-');
      expect((decoded.ReferencedStudySequence as NaturalizedDataset[])[0]!.StudyDate).toBe('-20241231');
    },
  );
});
