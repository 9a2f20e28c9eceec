import { AbortReason, encodePdu, type Pdu, PduDecodeError, PduFramer } from '@dimse-rx/pdu';
import { describe, expect, it } from 'vitest';
import { pdu, u32, zeros } from './bytes.js';

const VERIFICATION = '1.2.840.10008.1.1';

const sample: Pdu[] = [
  {
    type: 'AssociateRq',
    protocolVersion: 1,
    calledAeTitle: 'SCP',
    callingAeTitle: 'SCU',
    applicationContextName: '1.2.840.10008.3.1.1.1',
    presentationContexts: [{ id: 1, abstractSyntax: VERIFICATION, transferSyntaxes: ['1.2.840.10008.1.2'] }],
    userInformation: [{ type: 'MaximumLength', maximumLength: 16384 }],
  },
  {
    type: 'PDataTf',
    pdvs: [
      { presentationContextId: 1, command: true, last: true, value: Buffer.from('command bytes') },
      { presentationContextId: 1, command: false, last: true, value: Buffer.alloc(300, 7) },
    ],
  },
  { type: 'ReleaseRq' },
  { type: 'ReleaseRp' },
  { type: 'Abort', source: 2, reason: 1 },
];
const stream = Buffer.concat(sample.map((p) => encodePdu(p)));

function frameInPieces(bytes: Buffer, cuts: number[], framer = new PduFramer()): Pdu[] {
  const out: Pdu[] = [];
  let from = 0;
  for (const cut of [...cuts, bytes.length]) {
    out.push(...framer.push(bytes.subarray(from, cut)));
    from = cut;
  }
  return out;
}

function decodeError(run: () => unknown): PduDecodeError {
  try {
    run();
  } catch (error) {
    if (error instanceof PduDecodeError) return error;
    throw error;
  }
  throw new Error('no error was thrown');
}

describe('PduFramer', () => {
  it('yields every PDU of one chunk that holds many', () => {
    expect(new PduFramer().push(stream)).toEqual(sample);
  });

  it('yields the same PDUs for the stream cut at every single point', () => {
    for (let cut = 0; cut <= stream.length; cut++) {
      expect(frameInPieces(stream, [cut])).toEqual(sample);
    }
  });

  it('yields the same PDUs for the stream cut at every pair of points', () => {
    const bytes = Buffer.concat(sample.slice(1).map((p) => encodePdu(p)));
    for (let a = 0; a <= bytes.length; a += 7) {
      for (let b = a; b <= bytes.length; b += 11) {
        expect(frameInPieces(bytes, [a, b])).toEqual(sample.slice(1));
      }
    }
  });

  it('yields the same PDUs fed byte by byte, each PDU on the byte that completes it', () => {
    const framer = new PduFramer();
    const out: Pdu[] = [];
    const completedAt: number[] = [];
    for (let i = 0; i < stream.length; i++) {
      const got = framer.push(stream.subarray(i, i + 1));
      if (got.length > 0) completedAt.push(i + 1);
      out.push(...got);
    }
    expect(out).toEqual(sample);
    let end = 0;
    expect(completedAt).toEqual(sample.map((p) => (end += encodePdu(p).length)));
    expect(framer.buffered).toBe(0);
  });

  it('hands out values of a PDU inside one chunk as views of that chunk', () => {
    const bytes = encodePdu(sample[1]!);
    const [first] = new PduFramer().push(bytes);
    if (first?.type !== 'PDataTf') throw new Error('expected P-DATA-TF');
    expect(first.pdvs[1]!.value.buffer).toBe(bytes.buffer);
  });

  it('keeps values of a PDU that spanned chunks valid after later chunks arrive', () => {
    const bytes = Buffer.concat([encodePdu(sample[1]!), encodePdu(sample[1]!)]);
    const framer = new PduFramer();
    const first = framer.push(bytes.subarray(0, 100));
    expect(first).toEqual([]);
    const [spanned, ...rest] = framer.push(bytes.subarray(100, 400));
    rest.push(...framer.push(bytes.subarray(400)));
    bytes.fill(0xee);
    expect(spanned).toEqual(sample[1]);
    expect(rest).toEqual([sample[1]]);
  });

  it('ignores empty chunks', () => {
    const framer = new PduFramer();
    expect(framer.push(Buffer.alloc(0))).toEqual([]);
    expect(framer.push(stream)).toEqual(sample);
  });

  it('rejects a P-DATA-TF longer than the local maximum from its header, before its body arrives', () => {
    const framer = new PduFramer({ maxPduLength: 1000 });
    const header = Buffer.from([0x04, 0, ...u32(1001)]);
    const error = decodeError(() => framer.push(header));
    expect(error.abortReason).toBe(AbortReason.InvalidPduParameterValue);
    expect(error.pduType).toBe(0x04);
    expect(error.offset).toBe(2);
    expect(error.message).toContain('1001 exceeds the limit of 1000');
    expect(framer.buffered).toBe(0);
  });

  it('limits P-DATA-TF to 16384 bytes when no maximum is given, as its Maximum Length default says', () => {
    const error = decodeError(() => new PduFramer().push(Buffer.from([0x04, 0, ...u32(16385)])));
    expect(error.message).toContain('16385 exceeds the limit of 16384');
    expect(new PduFramer().push(pdu(0x04, [...u32(16384 - 4), 1, 0x02, ...zeros(16384 - 6)]))[0]?.type).toBe('PDataTf');
  });

  it('allocates for what arrives, not for what a header declares, when there is no limit', () => {
    const framer = new PduFramer({ maxPduLength: 0 });
    const before = process.memoryUsage().arrayBuffers;
    // A header that claims almost 4 GiB, followed by 10 bytes.
    expect(framer.push(Buffer.from([0x04, 0, ...u32(0xfffffff0), 0, 0, 0, 10, 1, 2, 0, 0, 0, 0]))).toEqual([]);
    expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(4 << 20);
    expect(framer.buffered).toBe(16);
  });

  it('assembles a PDU larger than its first buffer, grown as its bytes arrive in pieces', () => {
    const size = 3 * (1 << 20) + 7;
    const value = Buffer.alloc(size);
    for (let i = 0; i < size; i++) value[i] = i % 251;
    const whole = encodePdu({ type: 'PDataTf', pdvs: [{ presentationContextId: 5, command: false, last: true, value }] });
    const cuts = [3, 100, 70_000, 1_500_000, 2_900_000, 3_200_000];
    const [only] = frameInPieces(whole, cuts, new PduFramer({ maxPduLength: 0 }));
    expect(only?.type === 'PDataTf' && Buffer.from(only.pdvs[0]!.value).equals(value)).toBe(true);
  });

  it('rejects a maximum that is not a whole number from 0 to 2^32-1', () => {
    expect(() => new PduFramer({ maxPduLength: -1 })).toThrow(RangeError);
    expect(() => new PduFramer({ maxPduLength: 1.5 })).toThrow(RangeError);
  });

  it('accepts a P-DATA-TF exactly at the local maximum', () => {
    const body = [...u32(994 + 2), 1, 0x02, ...zeros(994)];
    expect(body.length).toBe(1000);
    const [only] = new PduFramer({ maxPduLength: 1000 }).push(pdu(0x04, body));
    expect(only?.type).toBe('PDataTf');
  });

  it('checks the length of a header that arrived in pieces against the limit too', () => {
    const framer = new PduFramer({ maxPduLength: 100 });
    framer.push(Buffer.from([0x04, 0, 0xff]));
    const error = decodeError(() => framer.push(Buffer.from([0xff, 0xff, 0xff])));
    expect(error.message).toContain('4294967295 exceeds the limit of 100');
  });

  it('limits association PDUs by their own maximum and the fixed-size PDUs to 4 bytes', () => {
    expect(decodeError(() => new PduFramer({ maxAssociatePduLength: 500 }).push(Buffer.from([0x01, 0, ...u32(501)]))).pduType).toBe(1);
    expect(decodeError(() => new PduFramer().push(Buffer.from([0x05, 0, ...u32(5)]))).message).toContain('limit of 4');
    expect(decodeError(() => new PduFramer().push(Buffer.from([0x07, 0, ...u32(0x7fffffff)]))).pduType).toBe(7);
  });

  it('reports an unrecognized PDU type from the first byte with abort reason 1', () => {
    const error = decodeError(() => new PduFramer().push(Buffer.from([0x09, 0, 0, 0, 0, 4, 0, 0, 0, 0])));
    expect(error.abortReason).toBe(AbortReason.UnrecognizedPdu);
    expect(error.pduType).toBe(0x09);
    expect(error.message).toMatch(/Unrecognized PDU type.*PDU type 0x09/);
  });

  it('keeps failing with the same error once the stream is bad', () => {
    const framer = new PduFramer();
    const first = decodeError(() => framer.push(Buffer.from([0x00, 0, 0, 0, 0, 0])));
    expect(decodeError(() => framer.push(stream))).toBe(first);
  });

  it('says when the stream ends inside a PDU, and not when it ends between PDUs', () => {
    const framer = new PduFramer();
    framer.push(stream.subarray(0, 20));
    expect(framer.buffered).toBe(20);
    const error = decodeError(() => framer.end());
    expect(error.message).toContain('Stream ended inside a PDU, 20 bytes received');
    expect(error.pduType).toBe(1);
    const clean = new PduFramer();
    clean.push(stream);
    clean.end();
    expect(clean.buffered).toBe(0);
  });
});
