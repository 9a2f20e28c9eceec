import { decodePdu, encodePdu, type Pdu, PduDecodeError, PduFramer } from '@dimse-rx/pdu';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { anyPdu } from './arbitraries.js';

/** Cases per property; `FUZZ_RUNS=200000 npx vitest run fuzz` for a longer session. */
const RUNS = Number(process.env.FUZZ_RUNS ?? 3000);

/** Decodes with both entry points; anything thrown that is not a PduDecodeError fails the run. */
function decodeBoth(bytes: Uint8Array): void {
  for (const run of [() => decodePdu(bytes), () => new PduFramer({ maxPduLength: 1 << 20 }).push(bytes)]) {
    try {
      run();
    } catch (error) {
      if (!(error instanceof PduDecodeError)) throw error;
      expect(error.abortReason).toBeGreaterThanOrEqual(1);
      expect(error.abortReason).toBeLessThanOrEqual(6);
      expect(error.offset).toBeGreaterThanOrEqual(0);
      expect(error.offset).toBeLessThanOrEqual(Math.max(bytes.length, 6));
    }
  }
}

/** A mutation of valid bytes: flipped bytes, a changed length field, a cut, an insertion. */
const mutation = fc.oneof(
  fc.record({ kind: fc.constant('set' as const), at: fc.nat(), value: fc.integer({ min: 0, max: 255 }) }),
  fc.record({ kind: fc.constant('cut' as const), at: fc.nat() }),
  fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), bytes: fc.uint8Array({ minLength: 1, maxLength: 8 }) }),
  fc.record({ kind: fc.constant('length' as const), at: fc.nat(), value: fc.constantFrom(0, 1, 2, 3, 0xff, 0xffff, 0x7fffffff) }),
);

type Mutation = typeof mutation extends fc.Arbitrary<infer M> ? M : never;

function mutate(bytes: Buffer, mutations: readonly Mutation[]): Buffer {
  let out = Buffer.from(bytes);
  for (const m of mutations) {
    const at = out.length === 0 ? 0 : m.at % out.length;
    switch (m.kind) {
      case 'set':
        if (out.length > 0) out[at] = m.value;
        break;
      case 'cut':
        out = out.subarray(0, at);
        break;
      case 'insert':
        out = Buffer.concat([out.subarray(0, at), m.bytes, out.subarray(at)]);
        break;
      case 'length':
        // Lengths sit in 2- or 4-byte big-endian fields: overwrite two bytes anywhere.
        if (at + 1 < out.length) out.writeUInt16BE(m.value & 0xffff, at);
        break;
    }
  }
  return out;
}

describe('fuzzing the decoder', () => {
  it(`throws only PduDecodeError on ${RUNS} random byte strings`, () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 7 }), fc.uint8Array({ maxLength: 600 }), (type, body) => {
        const bytes = Buffer.alloc(6 + body.length);
        bytes[0] = type;
        bytes.writeUInt32BE(body.length, 2);
        bytes.set(body, 6);
        decodeBoth(bytes);
        decodeBoth(body);
      }),
      { numRuns: RUNS },
    );
  });

  it(`throws only PduDecodeError on ${RUNS} mutations of valid PDUs, and decodes what it accepts to re-encodable models`, () => {
    fc.assert(
      fc.property(anyPdu, fc.array(mutation, { minLength: 1, maxLength: 4 }), (pdu, mutations) => {
        const bytes = mutate(encodePdu(pdu), mutations);
        decodeBoth(bytes);
        let decoded: Pdu | undefined;
        try {
          decoded = decodePdu(bytes);
        } catch (error) {
          if (!(error instanceof PduDecodeError)) throw error;
        }
        if (decoded) {
          // Whatever decodes must decode again the same after a round trip through the encoder,
          // unless the encoder refuses a value the decoder tolerates (an AE title with odd characters).
          let again: Buffer | undefined;
          try {
            again = encodePdu(decoded);
          } catch (error) {
            if (!(error instanceof RangeError)) throw error;
          }
          if (again) expect(decodePdu(again)).toEqual(decoded);
        }
      }),
      { numRuns: RUNS },
    );
  });

  it('frames mutated streams fed in small chunks without hanging or throwing anything else', () => {
    fc.assert(
      fc.property(
        fc.array(anyPdu, { minLength: 1, maxLength: 4 }),
        fc.array(mutation, { maxLength: 3 }),
        fc.integer({ min: 1, max: 64 }),
        (pdus, mutations, size) => {
          const bytes = mutate(Buffer.concat(pdus.map((p) => encodePdu(p))), mutations);
          const framer = new PduFramer({ maxPduLength: 4096 });
          try {
            for (let o = 0; o < bytes.length; o += size) framer.push(bytes.subarray(o, o + size));
            framer.end();
          } catch (error) {
            if (!(error instanceof PduDecodeError)) throw error;
          }
          expect(framer.buffered).toBeLessThanOrEqual(bytes.length);
        },
      ),
      { numRuns: Math.ceil(RUNS / 3) },
    );
  });
});
