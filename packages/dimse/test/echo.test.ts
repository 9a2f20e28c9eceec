import { type Association, associate, serve } from '@dimse-rx/association';
import { dimse, echo, NoPresentationContextError, VERIFICATION_SOP_CLASS } from '@dimse-rx/dimse';
import { firstValueFrom, lastValueFrom, ReplaySubject, type Subscription } from 'rxjs';
import { afterEach, describe, expect, it } from 'vitest';

const IMPLICIT = '1.2.840.10008.1.2';
const CT = '1.2.840.10008.5.1.4.1.1.2';

describe('C-ECHO between dimse-rx peers', () => {
  const cleanup: Subscription[] = [];
  afterEach(() => {
    for (const s of cleanup.splice(0)) s.unsubscribe();
  });

  it('answers C-ECHO with success on an association that accepted Verification, several times', async () => {
    const port = new ReplaySubject<number>(1);
    cleanup.push(
      serve({ abstractSyntaxes: { [VERIFICATION_SOP_CLASS]: [IMPLICIT] }, onListening: (l) => port.next(l.port) }).subscribe((a) =>
        dimse(a),
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
          presentationContexts: [{ abstractSyntax: VERIFICATION_SOP_CLASS, transferSyntaxes: [IMPLICIT] }],
        }).subscribe({ next: resolve, error: reject }),
      );
    });
    for (let i = 0; i < 3; i++) {
      const status = await firstValueFrom(echo(association));
      expect(status).toEqual({ code: 0, kind: 'success', meaning: 'success' });
    }
    await lastValueFrom(association.release(), { defaultValue: undefined });
  });

  it('fails with NoPresentationContextError when Verification was not accepted', async () => {
    const port = new ReplaySubject<number>(1);
    cleanup.push(serve({ abstractSyntaxes: { [CT]: [IMPLICIT] }, onListening: (l) => port.next(l.port) }).subscribe((a) => dimse(a)));
    const listeningOn = await firstValueFrom(port);
    const association = await new Promise<Association>((resolve, reject) => {
      cleanup.push(
        associate({
          host: '127.0.0.1',
          port: listeningOn,
          callingAeTitle: 'ECHO-SCU',
          calledAeTitle: 'ECHO-SCP',
          presentationContexts: [
            { abstractSyntax: VERIFICATION_SOP_CLASS, transferSyntaxes: [IMPLICIT] },
            { abstractSyntax: CT, transferSyntaxes: [IMPLICIT] },
          ],
        }).subscribe({ next: resolve, error: reject }),
      );
    });
    await expect(firstValueFrom(echo(association))).rejects.toBeInstanceOf(NoPresentationContextError);
    await lastValueFrom(association.release(), { defaultValue: undefined });
  });
});
