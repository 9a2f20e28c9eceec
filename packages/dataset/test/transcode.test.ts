import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { endianness, tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { deflateRawSync, inflateRawSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeDcmtk, runDcmtk } from '../../../test/support/dcmtk.js';
import { encodeFileMetaInformation, parsePart10Header } from '../src/part10.js';
import { createTranscoder, TranscodeError } from '../src/transcode/index.js';
import { TransferSyntax } from '../src/transfer-syntax.js';

const {
  ImplicitVrLittleEndian: ILE,
  ExplicitVrLittleEndian: ELE,
  ExplicitVrBigEndian: EBE,
  DeflatedExplicitVrLittleEndian: DEF,
} = TransferSyntax;

// ---------------------------------------------------------------------------------------------
// Building data sets byte by byte (PS3.5 7.1): the expected output is spelled out, not computed
// by the code under test.

type Order = 'LE' | 'BE';

function u16(order: Order, ...values: number[]): Buffer {
  const out = Buffer.alloc(values.length * 2);
  for (const [i, v] of values.entries()) {
    if (order === 'LE') out.writeUInt16LE(v, i * 2);
    else out.writeUInt16BE(v, i * 2);
  }
  return out;
}
function u32(order: Order, ...values: number[]): Buffer {
  const out = Buffer.alloc(values.length * 4);
  for (const [i, v] of values.entries()) {
    if (order === 'LE') out.writeUInt32LE(v, i * 4);
    else out.writeUInt32BE(v, i * 4);
  }
  return out;
}
function f64(order: Order, ...values: number[]): Buffer {
  const out = Buffer.alloc(values.length * 8);
  for (const [i, v] of values.entries()) {
    if (order === 'LE') out.writeDoubleLE(v, i * 8);
    else out.writeDoubleBE(v, i * 8);
  }
  return out;
}
const text = (s: string) => Buffer.from(s, 'latin1');
const UNDEFINED = 0xffffffff;
const LONG_VRS = new Set(['OB', 'OD', 'OF', 'OL', 'OV', 'OW', 'SQ', 'SV', 'UC', 'UN', 'UR', 'UT', 'UV']);

/** An explicit VR element; a number as value means only the header, with that length. */
function ex(order: Order, group: number, element: number, vr: string, value: Buffer | number): Buffer {
  const length = typeof value === 'number' ? value : value.length;
  const header = LONG_VRS.has(vr)
    ? Buffer.concat([u16(order, group, element), text(vr), u16(order, 0), u32(order, length)])
    : Buffer.concat([u16(order, group, element), text(vr), u16(order, length)]);
  return typeof value === 'number' ? header : Buffer.concat([header, value]);
}
/** An implicit VR little endian element; a number as value means only the header. */
function im(group: number, element: number, value: Buffer | number): Buffer {
  const length = typeof value === 'number' ? value : value.length;
  const header = Buffer.concat([u16('LE', group, element), u32('LE', length)]);
  return typeof value === 'number' ? header : Buffer.concat([header, value]);
}
const item = (order: Order, length: number) => Buffer.concat([u16(order, 0xfffe, 0xe000), u32(order, length)]);
const itemEnd = (order: Order) => Buffer.concat([u16(order, 0xfffe, 0xe00d), u32(order, 0)]);
const seqEnd = (order: Order) => Buffer.concat([u16(order, 0xfffe, 0xe0dd), u32(order, 0)]);
const cat = (...parts: Buffer[]) => Buffer.concat(parts);

// ---------------------------------------------------------------------------------------------

/** A small deterministic generator (mulberry32) for chunk sizes. */
function random(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Cuts bytes into chunks of 1..64 bytes. */
function randomChunks(bytes: Uint8Array, seed: number): Buffer[] {
  const next = random(seed);
  const out: Buffer[] = [];
  for (let offset = 0; offset < bytes.length; ) {
    const size = 1 + Math.floor(next() * 64);
    out.push(Buffer.from(bytes.subarray(offset, offset + size)));
    offset += size;
  }
  return out;
}

async function transcode(from: string, to: string, chunks: readonly Uint8Array[]): Promise<Buffer> {
  const parts: Buffer[] = [];
  await pipeline(
    Readable.from(
      chunks.map((c) => Buffer.from(c)),
      { objectMode: false },
    ),
    createTranscoder(from, to),
    new Writable({
      write(chunk: Buffer, _encoding, callback) {
        parts.push(chunk);
        callback();
      },
    }),
  );
  return Buffer.concat(parts);
}

/** Transcodes whole and in random chunks, checks both give the same bytes, returns them. */
async function transcodeAnyhow(from: string, to: string, bytes: Uint8Array, seed = 1): Promise<Buffer> {
  const whole = await transcode(from, to, [bytes]);
  const chunked = await transcode(from, to, randomChunks(bytes, seed));
  expect(chunked.equals(whole)).toBe(true);
  return whole;
}

async function transcodeError(from: string, to: string, bytes: Uint8Array): Promise<TranscodeError> {
  const error = await transcode(from, to, randomChunks(bytes, 7)).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(TranscodeError);
  return error as TranscodeError;
}

describe('createTranscoder: element rewriting', () => {
  it('swaps US, SS, AT, UL, SL, FL, FD, OW, OF, OD, OL, OV, SV, UV by their unit and keeps strings, OB and UN (explicit LE to BE)', async () => {
    const fl = (order: Order, v: number) => {
      const b = Buffer.alloc(4);
      if (order === 'LE') b.writeFloatLE(v);
      else b.writeFloatBE(v);
      return b;
    };
    const i64 = (order: Order, ...v: bigint[]) => {
      const b = Buffer.alloc(v.length * 8);
      for (const [i, x] of v.entries()) {
        if (order === 'LE') b.writeBigUInt64LE(x, i * 8);
        else b.writeBigUInt64BE(x, i * 8);
      }
      return b;
    };
    const dataSet = (o: Order) =>
      cat(
        ex(o, 0x0008, 0x0016, 'UI', text('1.2.3\0')),
        ex(o, 0x0010, 0x0010, 'PN', text('Doe^Jane')),
        ex(o, 0x0018, 0x1320, 'FL', fl(o, -2.5)),
        ex(o, 0x0018, 0x6020, 'SL', u32(o, 0xfffeee90)),
        ex(o, 0x0018, 0x9087, 'FD', f64(o, 1000.25)),
        ex(o, 0x0020, 0x9165, 'AT', u16(o, 0x0028, 0x0010, 0x7fe0, 0x0010)),
        ex(o, 0x0028, 0x0010, 'US', u16(o, 512)),
        ex(o, 0x0028, 0x0106, 'SS', u16(o, 0xfffb)),
        ex(o, 0x0029, 0x1001, 'UN', Buffer.from([1, 2, 3, 4])),
        ex(o, 0x0054, 0x0081, 'UL', u32(o, 0x01020304, 0xa0b0c0d0)),
        ex(o, 0x0066, 0x0016, 'OF', cat(fl(o, 1.5), fl(o, -3))),
        ex(o, 0x0066, 0x0022, 'OD', f64(o, Math.PI)),
        ex(o, 0x0066, 0x0129, 'OL', u32(o, 7, 0x10203040)),
        ex(o, 0x0072, 0x0081, 'OV', i64(o, 0x0102030405060708n)),
        ex(o, 0x0072, 0x0082, 'SV', i64(o, 0xfffffffffffffffen)),
        ex(o, 0x0072, 0x0083, 'UV', i64(o, 0x1122334455667788n)),
        ex(o, 0x0072, 0x0070, 'UT', text('long text ')),
        ex(o, 0x7fe0, 0x0010, 'OW', u16(o, 0x0102, 0x0304, 0xfffe)),
        ex(o, 0xfffc, 0xfffc, 'OB', Buffer.from([9, 8, 7, 6])),
      );
    const le = dataSet('LE');
    const be = dataSet('BE');
    // The UN value keeps its bytes: its real VR is unknown (PS3.5 6.2.2).
    expect(await transcodeAnyhow(ELE, EBE, le)).toEqual(be);
    expect(await transcodeAnyhow(EBE, ELE, be)).toEqual(le);
  });

  it('writes defined-length sequences and items with undefined length and delimitation items (explicit LE to implicit)', async () => {
    const code = ex('LE', 0x0008, 0x0100, 'SH', text('CODE1 '));
    const inner = cat(item('LE', code.length), code);
    const innerSq = cat(ex('LE', 0x0040, 0x0008, 'SQ', inner.length), inner);
    const first = cat(ex('LE', 0x0040, 0x0007, 'LO', text('Step one')), innerSq);
    const items = cat(item('LE', first.length), first, item('LE', 0));
    const input = cat(
      ex('LE', 0x0010, 0x0010, 'PN', text('Doe^Jane')),
      ex('LE', 0x0040, 0x0275, 'SQ', items.length),
      items,
      ex('LE', 0x0040, 0x0276, 'SQ', 0),
      ex('LE', 0x0054, 0x0081, 'US', u16('LE', 3)),
    );
    const expected = cat(
      im(0x0010, 0x0010, text('Doe^Jane')),
      im(0x0040, 0x0275, UNDEFINED),
      item('LE', UNDEFINED),
      im(0x0040, 0x0007, text('Step one')),
      im(0x0040, 0x0008, UNDEFINED),
      item('LE', UNDEFINED),
      im(0x0008, 0x0100, text('CODE1 ')),
      itemEnd('LE'),
      seqEnd('LE'),
      itemEnd('LE'),
      item('LE', UNDEFINED),
      itemEnd('LE'),
      seqEnd('LE'),
      im(0x0040, 0x0276, UNDEFINED),
      seqEnd('LE'),
      im(0x0054, 0x0081, u16('LE', 3)),
    );
    expect(await transcodeAnyhow(ELE, ILE, input)).toEqual(expected);
  });

  it('writes sequences as SQ with 12-byte headers in explicit VR big endian (implicit to BE)', async () => {
    const code = im(0x0008, 0x0100, text('CODE1 '));
    const input = cat(im(0x0040, 0x0008, 8 + code.length), item('LE', code.length), code, im(0x0054, 0x0081, u16('LE', 0x0102)));
    const expected = cat(
      ex('BE', 0x0040, 0x0008, 'SQ', UNDEFINED),
      item('BE', UNDEFINED),
      ex('BE', 0x0008, 0x0100, 'SH', text('CODE1 ')),
      itemEnd('BE'),
      seqEnd('BE'),
      ex('BE', 0x0054, 0x0081, 'US', u16('BE', 0x0102)),
    );
    expect(await transcodeAnyhow(ILE, EBE, input)).toEqual(expected);
  });

  it('takes VRs from the dictionary going from implicit VR, with UN for private and unknown tags', async () => {
    const longText = text('x'.repeat(70_000));
    const input = cat(
      im(0x0008, 0x0000, u32('LE', 1234)),
      im(0x0008, 0x0016, text('1.2.3\0')),
      im(0x0009, 0x0010, text('DIMSE-RX TEST ')),
      im(0x0009, 0x1001, u16('LE', 7, 8)),
      im(0x0018, 0xfff0, text('ab')),
      im(0x0020, 0x4000, longText),
      im(0x0028, 0x0103, u16('LE', 1)),
      im(0x0028, 0x0106, u16('LE', 0xfffb)),
      im(0x0054, 0x0081, u16('LE', 0x0102, 0x0304)),
      im(0x6002, 0x3000, u16('LE', 0x0102)),
      im(0x7fe0, 0x0010, u16('LE', 0x0a0b, 0x0c0d)),
    );
    const expected = cat(
      // (0008,0000) group length is left out: it would be wrong after conversion.
      ex('BE', 0x0008, 0x0016, 'UI', text('1.2.3\0')),
      ex('BE', 0x0009, 0x0010, 'LO', text('DIMSE-RX TEST ')),
      ex('BE', 0x0009, 0x1001, 'UN', u16('LE', 7, 8)),
      ex('BE', 0x0018, 0xfff0, 'UN', text('ab')),
      // LT of 70000 bytes does not fit a 16-bit length: UN (PS3.5 6.2.2).
      ex('BE', 0x0020, 0x4000, 'UN', longText),
      ex('BE', 0x0028, 0x0103, 'US', u16('BE', 1)),
      // 'US or SS' follows Pixel Representation 1.
      ex('BE', 0x0028, 0x0106, 'SS', u16('BE', 0xfffb)),
      ex('BE', 0x0054, 0x0081, 'US', u16('BE', 0x0102, 0x0304)),
      // Repeating group 60xx, and pixel data: OW in implicit VR.
      ex('BE', 0x6002, 0x3000, 'OW', u16('BE', 0x0102)),
      ex('BE', 0x7fe0, 0x0010, 'OW', u16('BE', 0x0a0b, 0x0c0d)),
    );
    expect(await transcodeAnyhow(ILE, EBE, input)).toEqual(expected);
    // Pixel Representation 0 (or absent): US.
    const unsigned = cat(im(0x0028, 0x0103, u16('LE', 0)), im(0x0028, 0x0106, u16('LE', 5)));
    expect(await transcodeAnyhow(ILE, ELE, unsigned)).toEqual(
      cat(ex('LE', 0x0028, 0x0103, 'US', u16('LE', 0)), ex('LE', 0x0028, 0x0106, 'US', u16('LE', 5))),
    );
  });

  it('keeps the value of UN with undefined length in implicit VR little endian (PS3.5 6.2.2)', async () => {
    // A private sequence read in implicit VR: its contents are not known, so they stay as they are.
    const contents = cat(
      item('LE', UNDEFINED),
      im(0x0029, 0x1002, u16('LE', 0x0102)),
      itemEnd('LE'),
      item('LE', 4),
      text('abcd'),
      seqEnd('LE'),
    );
    const implicitInput = cat(
      im(0x0029, 0x0010, text('CREATOR ')),
      im(0x0029, 0x1001, UNDEFINED),
      contents,
      im(0x0029, 0x1003, text('zz')),
    );
    const bigEndian = cat(
      ex('BE', 0x0029, 0x0010, 'LO', text('CREATOR ')),
      ex('BE', 0x0029, 0x1001, 'UN', UNDEFINED),
      contents,
      ex('BE', 0x0029, 0x1003, 'UN', text('zz')),
    );
    expect(await transcodeAnyhow(ILE, EBE, implicitInput)).toEqual(bigEndian);
    expect(await transcodeAnyhow(EBE, ILE, bigEndian)).toEqual(implicitInput);
    const littleEndian = cat(
      ex('LE', 0x0029, 0x0010, 'LO', text('CREATOR ')),
      ex('LE', 0x0029, 0x1001, 'UN', UNDEFINED),
      contents,
      ex('LE', 0x0029, 0x1003, 'UN', text('zz')),
    );
    expect(await transcodeAnyhow(EBE, ELE, bigEndian)).toEqual(littleEndian);
  });

  it('gives the same bytes whatever the chunking: every split point and byte by byte', async () => {
    const inner = cat(ex('LE', 0x0008, 0x0100, 'SH', text('CODE1 ')), ex('LE', 0x0018, 0x9087, 'FD', f64('LE', 2.5)));
    const input = cat(
      ex('LE', 0x0010, 0x0010, 'PN', text('Doe^Jane')),
      ex('LE', 0x0040, 0x0008, 'SQ', 8 + inner.length),
      item('LE', inner.length),
      inner,
      ex('LE', 0x0029, 0x1001, 'UN', UNDEFINED),
      item('LE', UNDEFINED),
      im(0x0029, 0x1002, u16('LE', 1)),
      itemEnd('LE'),
      seqEnd('LE'),
      ex('LE', 0x0054, 0x0081, 'UL', u32('LE', 0x01020304)),
      ex('LE', 0x7fe0, 0x0010, 'OW', u16('LE', 1, 2, 3, 4, 5)),
    );
    for (const [from, to] of [
      [ELE, EBE],
      [ELE, ILE],
    ] as const) {
      const whole = await transcode(from, to, [input]);
      for (let split = 1; split < input.length; split++) {
        const parts = await transcode(from, to, [input.subarray(0, split), input.subarray(split)]);
        expect(parts.equals(whole), `split at ${split}`).toBe(true);
      }
      const bytes = await transcode(
        from,
        to,
        Array.from(input, (b) => Buffer.from([b])),
      );
      expect(bytes.equals(whole)).toBe(true);
    }
  });

  it('passes the bytes through unchanged when the syntax does not change', async () => {
    const input = cat(
      ex('LE', 0x0008, 0x0000, 'UL', u32('LE', 18)),
      ex('LE', 0x0008, 0x0016, 'UI', text('1.2.3\0')),
      ex('LE', 0x0040, 0x0008, 'SQ', 0),
    );
    for (const syntax of [ELE, ILE, EBE, DEF, '1.2.840.10008.1.2.4.50']) {
      expect(await transcodeAnyhow(syntax, syntax, input)).toEqual(input);
    }
  });

  it('deflates and inflates the explicit VR little endian stream (PS3.5 A.5)', async () => {
    const le = cat(ex('LE', 0x0010, 0x0010, 'PN', text('Doe^Jane')), ex('LE', 0x0028, 0x0010, 'US', u16('LE', 0x0102)));
    const be = cat(ex('BE', 0x0010, 0x0010, 'PN', text('Doe^Jane')), ex('BE', 0x0028, 0x0010, 'US', u16('BE', 0x0102)));
    const implicit = cat(im(0x0010, 0x0010, text('Doe^Jane')), im(0x0028, 0x0010, u16('LE', 0x0102)));
    expect(inflateRawSync(await transcodeAnyhow(ELE, DEF, le))).toEqual(le);
    expect(inflateRawSync(await transcodeAnyhow(EBE, DEF, be))).toEqual(le);
    expect(inflateRawSync(await transcodeAnyhow(ILE, DEF, implicit))).toEqual(le);
    const deflated = deflateRawSync(le);
    expect(await transcodeAnyhow(DEF, ELE, deflated)).toEqual(le);
    expect(await transcodeAnyhow(DEF, EBE, deflated)).toEqual(be);
    expect(await transcodeAnyhow(DEF, ILE, deflated)).toEqual(implicit);
  });

  it('pads deflated output to even length with one zero byte, as DCMTK and pydicom write it', async () => {
    let odd = 0;
    let even = 0;
    for (let n = 1; n <= 24; n++) {
      const le = cat(ex('LE', 0x0010, 0x0010, 'PN', text('Doe^Jane'.repeat(n))), ex('LE', 0x0028, 0x0010, 'US', u16('LE', n)));
      // zlib's own deflate of the same bytes (same level and settings as the transcoder's).
      const stream = deflateRawSync(le);
      if (stream.length % 2 === 1) odd++;
      else even++;
      for (const [from, input] of [
        [ELE, le],
        [ILE, cat(im(0x0010, 0x0010, text('Doe^Jane'.repeat(n))), im(0x0028, 0x0010, u16('LE', n)))],
      ] as const) {
        const out = await transcodeAnyhow(from, DEF, input, n);
        expect(out.length % 2, `${n} names from ${from}`).toBe(0);
        expect(out).toEqual(stream.length % 2 === 1 ? cat(stream, Buffer.of(0)) : stream);
        // The padding is after the end of the deflate stream: inflating ignores it.
        expect(inflateRawSync(out)).toEqual(le);
        expect(await transcodeAnyhow(DEF, ELE, out, n)).toEqual(le);
      }
    }
    // Both cases met: streams of odd length padded, of even length left as they are.
    expect(odd).toBeGreaterThan(0);
    expect(even).toBeGreaterThan(0);
  });

  it('holds back when nobody reads (backpressure), for one stage and for a chain', async () => {
    // Incompressible bytes, so that deflate output is as large as its input.
    const next = random(3);
    const chunk = Buffer.from(Array.from({ length: 64 * 1024 }, () => Math.floor(next() * 256)));
    const chunks = 96;
    for (const [from, to, order, vr] of [
      [ELE, EBE, 'LE', 'OW'],
      [EBE, DEF, 'BE', 'OB'],
    ] as const) {
      const transcoder = createTranscoder(from, to);
      transcoder.write(ex(order, 0x7fe0, 0x0010, vr, chunks * chunk.length));
      for (let i = 0; i < chunks; i++) transcoder.write(chunk);
      // Time enough for zlib (on the thread pool) to deflate all of it, were it let through.
      await new Promise((resolve) => setTimeout(resolve, 300));
      // Nobody reads: a little is converted, the rest (6 MB) waits on the writable side.
      expect(transcoder.readableLength).toBeLessThan(512 * 1024);
      expect(transcoder.writableLength).toBeGreaterThan((chunks - 8) * chunk.length);
      transcoder.end();
      const out: Buffer[] = [];
      for await (const piece of transcoder) out.push(piece as Buffer);
      const bytes = Buffer.concat(out);
      if (to === DEF) {
        const expected = cat(ex('LE', 0x7fe0, 0x0010, 'OB', chunks * chunk.length), ...Array<Buffer>(chunks).fill(chunk));
        // Buffer#equals: toEqual walks 6 MB one element at a time.
        expect(inflateRawSync(bytes).equals(expected)).toBe(true);
      } else {
        expect(bytes.length).toBe(12 + chunks * chunk.length);
        expect(bytes.subarray(12, 14)).toEqual(Buffer.from([chunk[1]!, chunk[0]!]));
      }
    }
  });
});

describe('createTranscoder: malformed input', () => {
  it('refuses encapsulated (compressed) pixel data: undefined-length pixel data', async () => {
    const header = ex('LE', 0x0010, 0x0010, 'PN', text('Doe^Jane'));
    const encapsulated = cat(header, ex('LE', 0x7fe0, 0x0010, 'OB', UNDEFINED), item('LE', 0), seqEnd('LE'));
    const error = await transcodeError(ELE, ILE, encapsulated);
    expect(error.name).toBe('TranscodeError');
    expect(error.offset).toBe(header.length);
    expect(error.message).toMatch(/encapsulated/i);
    const implicit = cat(im(0x0010, 0x0010, text('Doe^Jane')), im(0x7fe0, 0x0010, UNDEFINED), item('LE', 0), seqEnd('LE'));
    expect((await transcodeError(ILE, ELE, implicit)).offset).toBe(16);
  });

  it('refuses a syntax that is not uncompressed', () => {
    expect(() => createTranscoder('1.2.840.10008.1.2.4.50', ELE)).toThrow(TranscodeError);
    expect(() => createTranscoder(ELE, '1.2.840.10008.1.2.4.90')).toThrow(/not an uncompressed transfer syntax/);
  });

  it('reports odd lengths, lengths that are not a multiple of the VR unit, and unknown VRs with their offset', async () => {
    const first = ex('LE', 0x0010, 0x0010, 'PN', text('Doe^Jane'));
    const odd = await transcodeError(ELE, EBE, cat(first, ex('LE', 0x0010, 0x0020, 'LO', text('abc'))));
    expect(odd.offset).toBe(first.length);
    expect(odd.message).toMatch(/odd length 3/);
    const unit = await transcodeError(ELE, EBE, cat(first, ex('LE', 0x0054, 0x0081, 'UL', u16('LE', 1, 2, 3))));
    expect(unit.message).toMatch(/not a multiple of 4/);
    const unknown = await transcodeError(ELE, ILE, cat(first, ex('LE', 0x0010, 0x0020, 'ZZ', text('ab'))));
    expect(unknown.message).toMatch(/unknown VR 'ZZ'/);
    expect(unknown.offset).toBe(first.length);
  });

  it('reports an element that runs past the end of its defined-length item', async () => {
    const code = ex('LE', 0x0008, 0x0100, 'SH', text('CODE1 '));
    // The item says 10 bytes, its element needs 14.
    const input = cat(ex('LE', 0x0040, 0x0008, 'SQ', 8 + code.length), item('LE', 10), code);
    const error = await transcodeError(ELE, ILE, input);
    expect(error.offset).toBe(20);
    expect(error.message).toMatch(/runs past the end of its defined-length/);
  });

  it('reports truncated data at the end: inside a header, a value, or an open sequence', async () => {
    const element = ex('LE', 0x0010, 0x0010, 'PN', text('Doe^Jane'));
    const inHeader = await transcodeError(ELE, EBE, element.subarray(0, 5));
    expect(inHeader.message).toMatch(/inside an element header/);
    expect(inHeader.offset).toBe(5);
    const inValue = await transcodeError(ELE, EBE, element.subarray(0, 12));
    expect(inValue.message).toMatch(/4 bytes before the end of a value/);
    const open = await transcodeError(ELE, EBE, cat(ex('LE', 0x0040, 0x0008, 'SQ', UNDEFINED), item('LE', UNDEFINED), element));
    expect(open.message).toMatch(/2 sequence\(s\) or item\(s\) that were not closed/);
    const inDefined = await transcodeError(ELE, ILE, cat(ex('LE', 0x0040, 0x0008, 'SQ', 100), item('LE', 92), element));
    expect(inDefined.message).toMatch(/not closed/);
  });

  it('reports misplaced items and delimiters', async () => {
    expect((await transcodeError(ELE, EBE, item('LE', 0))).message).toMatch(/outside a sequence/);
    expect((await transcodeError(ELE, EBE, seqEnd('LE'))).message).toMatch(/no undefined-length sequence is open/);
    const elementInSequence = cat(ex('LE', 0x0040, 0x0008, 'SQ', UNDEFINED), ex('LE', 0x0010, 0x0010, 'PN', text('AB')));
    expect((await transcodeError(ELE, EBE, elementInSequence)).message).toMatch(/inside a sequence but outside an item/);
  });

  it('reports corrupt deflated data as TranscodeError', async () => {
    const error = await transcodeError(DEF, ELE, Buffer.from([0xff, 0xff, 0xff, 0xff, 0x00, 0x01]));
    expect(error.message).toMatch(/Cannot convert the data set/);
    const truncated = deflateRawSync(ex('LE', 0x0010, 0x0010, 'PN', text('Doe^Jane'.repeat(100)))).subarray(0, 10);
    await transcodeError(DEF, EBE, truncated);
    // Errors of the element rewriter inside the chain come out as they are, offset in the inflated stream.
    const header = ex('LE', 0x0010, 0x0010, 'PN', text('Doe^Jane'));
    const encapsulated = deflateRawSync(cat(header, ex('LE', 0x7fe0, 0x0010, 'OB', UNDEFINED), item('LE', 0), seqEnd('LE')));
    const inChain = await transcodeError(DEF, ILE, encapsulated);
    expect(inChain.message).toMatch(/Encapsulated/);
    expect(inChain.offset).toBe(header.length);
  });
});

// ---------------------------------------------------------------------------------------------
// Interoperability with DCMTK: the same data set in the four syntaxes, written by dump2dcm and
// dcmconv; every conversion compared with dcmconv's own.

const SYNTAXES = { ti: ILE, te: ELE, tb: EBE, td: DEF } as const;
type SyntaxKey = keyof typeof SYNTAXES;
const KEYS = Object.keys(SYNTAXES) as SyntaxKey[];

const PRIVATE_LINES = `(0009,0010) LO [DIMSE-RX TEST]
(0009,1001) LO [private value]
(0009,1002) US 7\\8
`;

const DUMP = `(0002,0002) UI =SecondaryCaptureImageStorage
(0002,0003) UI [1.2.826.0.1.3680043.2.1143.1]
(0002,0010) UI =LittleEndianExplicit
(0008,0016) UI =SecondaryCaptureImageStorage
(0008,0018) UI [1.2.826.0.1.3680043.2.1143.1]
(0008,0020) DA [20240131]
(0008,0119) UC [long code]
(0008,1161) UL 1\\65536\\4000000000
(0008,1190) UR [http://example.com/x]
${PRIVATE_LINES}(0010,0010) PN [Doe^Jane]
(0010,0020) LO [ID-0042]
(0018,0050) DS [1.25]
(0018,1320) FL 0.5\\-2
(0018,6020) SL -70000
(0018,9087) FD 1000.25
(0020,000d) UI [1.2.826.0.1.3680043.2.1143.2]
(0020,9165) AT (0028,0010)\\(7fe0,0010)
(0028,0002) US 1
(0028,0010) US 2
(0028,0011) US 3
(0028,0030) DS [0.5\\0.5]
(0028,0100) US 16
(0028,0101) US 12
(0028,0103) US 1
(0028,0106) SS -5
(0028,0107) SS 300
(0040,0275) SQ (Sequence with explicit length #=3)
  (fffe,e000) na (Item with explicit length #=2)
    (0040,0007) LO [Step one]
    (0040,0008) SQ (Sequence with explicit length #=1)
      (fffe,e000) na (Item with explicit length #=1)
        (0008,0100) SH [CODE1]
      (fffe,e00d) na (ItemDelimitationItem for re-encoding)
    (fffe,e0dd) na (SequenceDelimitationItem for re-encoding)
  (fffe,e00d) na (ItemDelimitationItem for re-encoding)
  (fffe,e000) na (Item with explicit length #=1)
    (0040,0009) SH [SPS2]
  (fffe,e00d) na (ItemDelimitationItem for re-encoding)
  (fffe,e000) na (Item with explicit length #=0)
  (fffe,e00d) na (ItemDelimitationItem for re-encoding)
(fffe,e0dd) na (SequenceDelimitationItem for re-encoding)
(0040,0260) SQ (Sequence with explicit length #=0)
(fffe,e0dd) na (SequenceDelimitationItem for re-encoding)
(0066,0016) OF 1.5\\-2.25
(0066,0022) OD 3.125\\-1e10
(0066,0129) OL 1\\2\\4294967295
(0072,0070) UT [some text]
(0072,0081) OV 1\\18446744073709551615
(0072,0082) SV -2\\9007199254740993
(0072,0083) UV 5\\18446744073709551615
(6000,0010) US 2
(6000,3000) OW 0102\\0304
(7fe0,0010) OW 0001\\0203\\0405\\0607\\0809\\0a0b
`;

async function dcmtk(tool: string, args: readonly string[]): Promise<string> {
  const result = await runDcmtk(tool, args);
  if (result.code !== 0) throw new Error(`${tool} ${args.join(' ')} failed (${result.code}):\n${result.stdout}\n${result.stderr}`);
  return result.stdout;
}

/**
 * dcmdump lines of the data set only, without what legitimately differs: the length column,
 * "explicit/undefined length" of sequences and items, the delimitation items, the alignment.
 */
function dataSetLines(dump: string): string[] {
  const lines = dump.split('\n');
  const start = lines.findIndex((line) => line.startsWith('# Dicom-Data-Set'));
  expect(start).toBeGreaterThan(0);
  return lines
    .slice(start + 1)
    .filter((line) => line.trim() !== '' && !line.startsWith('#') && !/^\s*\(fffe,e0(0d|dd)\)/.test(line))
    .map((line) =>
      line
        .replace(/with (explicit|undefined) length /, '')
        .replace(/#\s*(\d+|u\/l),\s*/, '# ')
        .replace(/\s+/g, ' ')
        .trim(),
    );
}

const dump = (path: string) => dcmtk('dcmdump', ['-q', '+L', path]);

describeDcmtk('createTranscoder against DCMTK (dump2dcm, dcmconv, dcmdump)', () => {
  let dir = '';
  /** files[variant][syntax]: the data set as DCMTK wrote it. */
  const files: Record<'defined' | 'undefined' | 'standard', Record<SyntaxKey, string>> = {
    defined: { ti: '', te: '', tb: '', td: '' },
    undefined: { ti: '', te: '', tb: '', td: '' },
    standard: { ti: '', te: '', tb: '', td: '' },
  };

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'dimse-rx-transcode-'));
    await writeFile(join(dir, 'full.dump'), DUMP);
    await writeFile(join(dir, 'standard.dump'), DUMP.replace(PRIVATE_LINES, ''));
    const variants = [
      ['defined', 'full.dump', '+e'],
      ['undefined', 'full.dump', '-e'],
      ['standard', 'standard.dump', '-e'],
    ] as const;
    await Promise.all(
      variants.map(async ([variant, dumpFile, lengths]) => {
        const original = join(dir, `${variant}-te.dcm`);
        await dcmtk('dump2dcm', ['-q', lengths, join(dir, dumpFile), original]);
        files[variant].te = original;
        await Promise.all(
          KEYS.filter((key) => key !== 'te').map(async (key) => {
            files[variant][key] = join(dir, `${variant}-${key}.dcm`);
            await dcmtk('dcmconv', ['-q', lengths, `+${key}`, original, files[variant][key]]);
          }),
        );
      }),
    );
  });

  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  const pairs = KEYS.flatMap((from) => KEYS.filter((to) => to !== from).map((to) => [from, to] as const));

  async function dataSetOf(path: string): Promise<{ bytes: Buffer; meta: ReturnType<typeof parsePart10Header>['meta'] }> {
    const file = await readFile(path);
    const header = parsePart10Header(file);
    return { bytes: file.subarray(header.dataSetOffset), meta: header.meta };
  }

  for (const variant of ['defined', 'undefined'] as const) {
    it.each(pairs)(`converts %s to %s like dcmconv does (${variant} lengths)`, async (from, to) => {
      const source = files[variant][from];
      const { bytes, meta } = await dataSetOf(source);
      expect(meta.transferSyntaxUid).toBe(SYNTAXES[from]);
      const out = await transcodeAnyhow(SYNTAXES[from], SYNTAXES[to], bytes, from.charCodeAt(1) * 31 + to.charCodeAt(1));
      const ours = join(dir, `${variant}-${from}-${to}-ours.dcm`);
      const theirs = join(dir, `${variant}-${from}-${to}-dcmconv.dcm`);
      await Promise.all([
        writeFile(ours, Buffer.concat([encodeFileMetaInformation({ ...meta, transferSyntaxUid: SYNTAXES[to] }), out])),
        dcmtk('dcmconv', ['-q', `+${to}`, source, theirs]),
      ]);
      const [ourDump, theirDump] = await Promise.all([dump(ours), dump(theirs)]);
      expect(ourDump).toContain(`# Used TransferSyntax: ${theirDump.match(/# Dicom-Data-Set\n# Used TransferSyntax: (.*)/)?.[1]}`);
      const lines = dataSetLines(ourDump);
      expect(lines).toEqual(dataSetLines(theirDump));
      // The comparison sees the values: a few of them, spelled out.
      expect(lines).toContain('(0010,0010) PN [Doe^Jane] # 1 PatientName');
      expect(lines).toContain('(0020,9165) AT (0028,0010)\\(7fe0,0010) # 2 DimensionIndexPointer');
      expect(lines).toContain('(0008,1161) UL 1\\65536\\4000000000 # 3 SimpleFrameList');
      expect(lines).toContain('(0066,0022) OD 3.125\\-10000000000 # 1 DoublePointCoordinatesData');
      expect(lines).toContain('(0028,0106) SS -5 # 1 SmallestImagePixelValue');
      expect(lines).toContain('(0008,0100) SH [CODE1] # 1 CodeValue');
    });
  }

  it('gives back the original bytes after A to B to A when the original has undefined lengths', async () => {
    // Through implicit VR, explicit VRs come back from the dictionary: exact for standard tags
    // only, so the data set without private elements is used when B is implicit VR.
    const checks = pairs.map(async ([a, b]) => {
      const variant = b === 'ti' && a !== 'ti' ? 'standard' : 'undefined';
      const { bytes } = await dataSetOf(files[variant][a]);
      const there = await transcode(SYNTAXES[a], SYNTAXES[b], randomChunks(bytes, 11));
      const back = await transcode(SYNTAXES[b], SYNTAXES[a], randomChunks(there, 12));
      // Deflate output need not be the same bytes as DCMTK's zlib: compare what it inflates to.
      const [original, result] = a === 'td' ? [inflateRawSync(bytes), inflateRawSync(back)] : [bytes, back];
      expect(result.equals(original), `${a} → ${b} → ${a} (${variant})`).toBe(true);
    });
    await Promise.all(checks);
  });

  it('passes explicit VR little endian through byte for byte', async () => {
    const { bytes } = await dataSetOf(files.defined.te);
    const out = await transcode(ELE, ELE, randomChunks(bytes, 5));
    expect(out.equals(bytes)).toBe(true);
  });

  it('writes a private sequence from implicit VR as UN of undefined length that DCMTK reads back', async () => {
    const input = cat(
      im(0x0010, 0x0010, text('Doe^Jane')),
      im(0x0029, 0x0010, text('CREATOR ')),
      im(0x0029, 0x1001, UNDEFINED),
      item('LE', UNDEFINED),
      im(0x0029, 0x1002, text('inner value ')),
      itemEnd('LE'),
      seqEnd('LE'),
    );
    const out = await transcodeAnyhow(ILE, EBE, input);
    const path = join(dir, 'private-sequence.dcm');
    const meta = {
      mediaStorageSopClassUid: '1.2.840.10008.5.1.4.1.1.7',
      mediaStorageSopInstanceUid: '1.2.3.4',
      transferSyntaxUid: EBE,
      implementationClassUid: '1.2.3.4.5',
    };
    await writeFile(path, Buffer.concat([encodeFileMetaInformation(meta), out]));
    const lines = dataSetLines(await dump(path));
    expect(lines[0]).toBe('(0010,0010) PN [Doe^Jane] # 1 PatientName');
    expect(lines.some((line) => line.startsWith('(0029,1001) SQ (Sequence #=1)'))).toBe(true);
    expect(lines.some((line) => line.includes('(0029,1002)') && line.includes('69\\6e\\6e\\65\\72'))).toBe(true);
  });
});

// ---------------------------------------------------------------------------------------------

/**
 * A way to run the garbage collector (V8 lets the flag be set at run time). Buffers no longer
 * referenced wait for V8's external memory trigger (about 64 MB) before they are freed, so RSS
 * alone mixes what is retained with what is merely not collected yet.
 */
function collector(): (() => void) | undefined {
  setFlagsFromString('--expose-gc');
  const gc: unknown = runInNewContext('gc');
  // Twice: array buffer memory found dead by one collection is released by the next.
  return typeof gc === 'function'
    ? () => {
        gc();
        gc();
      }
    : undefined;
}

describe('createTranscoder: bounded memory', () => {
  const chunkSize = 64 * 1024;
  const head = (order: Order, valueLength: number) =>
    cat(
      ex(order, 0x0008, 0x0016, 'UI', text('1.2.3\0')),
      ex(order, 0x0028, 0x0100, 'US', u16(order, 16)),
      ex(order, 0x7fe0, 0x0010, 'OW', valueLength),
    );
  /** The 16-bit word at index i of the pixel data. */
  const word = (i: number) => Math.imul(i, 0x9e3779b1) >>> 16;

  /** The data set, made by code 64 KiB at a time, as a file read stream would give it. */
  function generator(valueLength: number): Readable {
    let headSent = false;
    let produced = 0;
    return new Readable({
      read() {
        if (!headSent) {
          headSent = true;
          this.push(head('LE', valueLength));
          return;
        }
        if (produced >= valueLength) {
          this.push(null);
          return;
        }
        const chunk = Buffer.allocUnsafe(Math.min(chunkSize, valueLength - produced));
        const words = new Uint16Array(chunk.buffer, chunk.byteOffset, chunk.length / 2);
        const first = produced / 2;
        for (let i = 0; i < words.length; i++) words[i] = word(first + i);
        produced += chunk.length;
        this.push(chunk);
      },
    });
  }

  /** Transcodes to a counting sink that keeps sample bytes; RSS sampled every MiB, GC run every 16 MiB when given. */
  async function run(valueLength: number, gc: (() => void) | undefined) {
    const expectedHead = head('BE', valueLength);
    const samples = [0, 2, 65_534, 65_536, 1_000_002, 104_857_600, valueLength - 2]
      .filter((offset) => offset < valueLength)
      .map((offset) => expectedHead.length + offset);
    const seen = new Map<number, number>();
    let count = 0;
    let firstBytes = Buffer.alloc(0);
    gc?.();
    const before = process.memoryUsage.rss();
    let peak = before;
    let peakArrayBuffers = 0;
    /** Buffer bytes still referenced right after a collection. */
    let retained = 0;
    const sink = new Writable({
      write(chunk: Buffer, _encoding, callback) {
        if (firstBytes.length < expectedHead.length) {
          firstBytes = Buffer.concat([firstBytes, chunk.subarray(0, expectedHead.length - firstBytes.length)]);
        }
        for (const offset of samples) {
          for (const at of [offset, offset + 1]) if (at >= count && at < count + chunk.length) seen.set(at, chunk[at - count]!);
        }
        count += chunk.length;
        if (gc && (count & 0xffffff) < chunk.length) {
          gc();
          retained = Math.max(retained, process.memoryUsage().arrayBuffers);
        }
        if ((count & 0xfffff) < chunk.length) {
          const usage = process.memoryUsage();
          peak = Math.max(peak, usage.rss);
          peakArrayBuffers = Math.max(peakArrayBuffers, usage.arrayBuffers);
        }
        callback();
      },
    });
    const started = performance.now();
    await pipeline(generator(valueLength), createTranscoder(ELE, EBE), sink);
    const seconds = (performance.now() - started) / 1000;
    peak = Math.max(peak, process.memoryUsage.rss());

    expect(count).toBe(expectedHead.length + valueLength);
    expect(firstBytes).toEqual(expectedHead);
    for (const offset of samples) {
      const w = word((offset - expectedHead.length) / 2);
      // Big endian: high byte first.
      expect([seen.get(offset), seen.get(offset + 1)]).toEqual([w >>> 8, w & 0xff]);
    }
    const mb = (n: number) => n / 1024 / 1024;
    return {
      seconds,
      mbPerSecond: mb(count) / seconds,
      grownMb: mb(peak - before),
      arrayBuffersMb: mb(peakArrayBuffers),
      retainedMb: mb(retained),
    };
  }

  it('converts a 200 MB pixel data element from explicit LE to BE with little memory', async () => {
    expect(endianness()).toBe('LE');
    const gc = collector();
    // Warm up (code compiled, pools and heap at their working size) so that RSS shows the run only.
    await run(8 * 1024 * 1024, undefined);
    const valueLength = 200 * 1024 * 1024;
    // With the garbage collected every 16 MiB: what the pipeline really holds.
    const collected = await run(valueLength, gc);
    // As it runs in use: unreferenced buffers are freed when V8 decides (external memory trigger).
    const natural = await run(valueLength, undefined);
    const report = (r: typeof natural) =>
      `${r.seconds.toFixed(2)} s, ${r.mbPerSecond.toFixed(0)} MB/s, RSS peak +${r.grownMb.toFixed(1)} MB, buffers peak ${r.arrayBuffersMb.toFixed(1)} MB`;
    console.log(
      `200 MB explicit LE → BE (generation included): with GC every 16 MiB ${report(collected)}, retained ${collected.retainedMb.toFixed(2)} MB; without ${report(natural)}`,
    );
    expect(collected.grownMb).toBeLessThan(64);
    // What the generator, the transcoder and the sink hold at once: a few chunks.
    if (gc) expect(collected.retainedMb).toBeLessThan(4);
    // Without forced collection the peak includes up to V8's external memory trigger of garbage;
    // a pipeline that held the data set would still be far above this.
    expect(natural.grownMb).toBeLessThan(128);
  });
});
