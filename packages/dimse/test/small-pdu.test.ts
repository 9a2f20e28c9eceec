/**
 * The smallest maximum PDU lengths that carry messages (issue 8): 8 (6 bytes of PDV header and
 * a 2-byte value) and 9 (the same, an odd maximum rounded down). Every request and response goes
 * in PDVs of 2 bytes, both ways, and still arrives; below 8 the association is refused instead
 * (see the association package's max-length tests).
 */
import { type Association, associate, serve } from '@dimse-rx/association';
import { dimse, echo, VERIFICATION_SOP_CLASS } from '@dimse-rx/dimse';
import type { PDataTf } from '@dimse-rx/pdu';
import { firstValueFrom, lastValueFrom, ReplaySubject, type Subscription } from 'rxjs';
import { afterEach, describe, expect, it } from 'vitest';

const IMPLICIT = '1.2.840.10008.1.2';

describe('DIMSE at the smallest maximum PDU lengths', () => {
  const cleanup: Subscription[] = [];
  afterEach(() => {
    for (const s of cleanup.splice(0)) s.unsubscribe();
  });

  it.each([8, 9])('answers C-ECHO when both sides accept P-DATA-TF of %i bytes at most', async (maxPduLength) => {
    const port = new ReplaySubject<number>(1);
    const received: PDataTf[] = [];
    cleanup.push(
      serve({ abstractSyntaxes: { [VERIFICATION_SOP_CLASS]: [IMPLICIT] }, maxPduLength, onListening: (l) => port.next(l.port) }).subscribe(
        (a) => {
          a.pData.subscribe((pdu) => received.push(pdu));
          dimse(a);
        },
      ),
    );
    const listeningOn = await firstValueFrom(port);
    const association = await new Promise<Association>((resolve, reject) => {
      cleanup.push(
        associate({
          host: '127.0.0.1',
          port: listeningOn,
          callingAeTitle: 'ECHO-SCU',
          calledAeTitle: 'ECHO-SCP',
          maxPduLength,
          presentationContexts: [{ abstractSyntax: VERIFICATION_SOP_CLASS, transferSyntaxes: [IMPLICIT] }],
        }).subscribe({ next: resolve, error: reject }),
      );
    });
    expect(association.negotiation.peerMaxPduLength).toBe(maxPduLength);
    for (let i = 0; i < 2; i++) {
      expect(await firstValueFrom(echo(association))).toEqual({ code: 0, kind: 'success', meaning: 'success' });
    }
    // What the acceptor received: the requests cut in 2-byte command fragments, one per PDU.
    expect(received.length).toBeGreaterThan(20);
    expect(received.every((pdu) => pdu.pdvs.length === 1 && pdu.pdvs[0]!.command && pdu.pdvs[0]!.value.length === 2)).toBe(true);
    await lastValueFrom(association.release(), { defaultValue: undefined });
  });
});
