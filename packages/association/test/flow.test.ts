import { type Association, associate, serve } from '@dimse-rx/association';
import { concatMap, firstValueFrom, from, lastValueFrom, ReplaySubject, type Subscription } from 'rxjs';
import { afterEach, describe, expect, it } from 'vitest';

const VERIFICATION = '1.2.840.10008.1.1';
const IMPLICIT = '1.2.840.10008.1.2';
const wait = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('flow control over a real socket', () => {
  const cleanup: Subscription[] = [];
  afterEach(() => {
    for (const s of cleanup.splice(0)) s.unsubscribe();
  });

  it('stops reading while the receiver holds, so the sender waits on drain, and resumes when released', async () => {
    const listening = new ReplaySubject<number>(1);
    const served = new ReplaySubject<Association>(1);
    cleanup.push(
      serve({
        maxPduLength: 65536,
        abstractSyntaxes: { [VERIFICATION]: [IMPLICIT] },
        onListening: ({ port }) => listening.next(port),
      }).subscribe(served),
    );
    const port = await firstValueFrom(listening);
    const sender = await new Promise<Association>((resolve, reject) => {
      cleanup.push(
        associate({
          host: '127.0.0.1',
          port,
          callingAeTitle: 'SENDER',
          calledAeTitle: 'RECEIVER',
          presentationContexts: [{ abstractSyntax: VERIFICATION, transferSyntaxes: [IMPLICIT] }],
        }).subscribe({ next: resolve, error: reject }),
      );
    });
    const receiver = await firstValueFrom(served);
    let received = 0;
    receiver.pData.subscribe((pdu) => {
      received += pdu.pdvs[0]!.value.length;
    });
    const release = receiver.hold();

    // 64 MiB in 64 KiB PDUs: far more than the socket buffers on both sides hold.
    const count = 1024;
    const value = new Uint8Array(65536 - 6);
    let sent = 0;
    const sending = from(Array.from({ length: count }))
      .pipe(concatMap(() => sender.send({ type: 'PDataTf', pdvs: [{ presentationContextId: 1, command: false, last: false, value }] })))
      .subscribe({ complete: () => (sent = count) });
    cleanup.push(sending);
    await wait(300);
    // Held: what arrived is at most what was in flight before the pause, and the sender, whose
    // every send() waits for drain, is still far from done.
    expect(sender.state).toBe('Sta6');
    expect(received).toBeLessThan(8 * 1024 * 1024);
    expect(sent).toBe(0);

    release();
    for (let i = 0; i < 200 && received < count * value.length; i++) await wait(20);
    expect(received).toBe(count * value.length);
    expect(sent).toBe(count);
    await lastValueFrom(sender.release(), { defaultValue: undefined });
  });
});
