import { decodePdu, encodePdu, encodePduParts, PduFramer } from '@dimse-rx/pdu';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { anyPdu } from './arbitraries.js';

describe('round trips of generated PDUs', () => {
  it('decodes what it encodes to an equal model', () => {
    fc.assert(
      fc.property(anyPdu, (pdu) => {
        expect(decodePdu(encodePdu(pdu))).toEqual(pdu);
      }),
      { numRuns: 2000 },
    );
  });

  it('writes in parts the same bytes as in one buffer, P-DATA values as the given views', () => {
    fc.assert(
      fc.property(anyPdu, (pdu) => {
        const parts = encodePduParts(pdu);
        expect(Buffer.concat(parts).equals(encodePdu(pdu))).toBe(true);
        if (pdu.type === 'PDataTf') {
          const values = pdu.pdvs.map((pdv) => pdv.value).filter((value) => value.length > 0);
          // Every non-empty value is one of the parts, by identity: nothing was copied.
          expect(values.every((value) => parts.includes(value))).toBe(true);
          expect(parts.length).toBe(pdu.pdvs.length + values.length);
        } else {
          expect(parts).toHaveLength(1);
        }
      }),
      { numRuns: 1000 },
    );
  });

  it('encodes a decoded PDU back to the same bytes', () => {
    fc.assert(
      fc.property(anyPdu, (pdu) => {
        const bytes = encodePdu(pdu);
        expect(encodePdu(decodePdu(bytes)).equals(bytes)).toBe(true);
      }),
      { numRuns: 1000 },
    );
  });

  it('frames a stream of generated PDUs cut at generated places', () => {
    fc.assert(
      fc.property(fc.array(anyPdu, { minLength: 1, maxLength: 6 }), fc.array(fc.nat(), { maxLength: 10 }), (pdus, cuts) => {
        const stream = Buffer.concat(pdus.map((p) => encodePdu(p)));
        const points = [...new Set(cuts.map((c) => c % (stream.length + 1)))].sort((a, b) => a - b);
        const framer = new PduFramer({ maxPduLength: 0 });
        const out = [];
        let from = 0;
        for (const point of [...points, stream.length]) {
          out.push(...framer.push(stream.subarray(from, point)));
          from = point;
        }
        expect(out).toEqual(pdus);
        expect(framer.buffered).toBe(0);
      }),
      { numRuns: 500 },
    );
  });
});
