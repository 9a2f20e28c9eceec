import { type Association, associate, type Listening, serve } from '@dimse-rx/association';
import { encodePdu } from '@dimse-rx/pdu';
import { firstValueFrom, lastValueFrom, ReplaySubject } from 'rxjs';

const VERIFICATION = '1.2.840.10008.1.1';
const CT_IMAGE_STORAGE = '1.2.840.10008.5.1.4.1.1.2';
const EXPLICIT_VR_LE = '1.2.840.10008.1.2.1';
const IMPLICIT_VR_LE = '1.2.840.10008.1.2';

/**
 * The demo: an acceptor on a free loopback port, a requestor that negotiates three
 * presentation contexts with it, the negotiation outcome, and a release. In-process, nothing
 * but Node needed.
 */
export async function demo(version: string, out: (line: string) => void): Promise<void> {
  out(`dimse-rx ${version}: an association on loopback`);
  const listening = new ReplaySubject<Listening>(1);
  const served = new ReplaySubject<Association>(1);
  const server = serve({
    aeTitles: ['DEMO-SCP'],
    abstractSyntaxes: { [VERIFICATION]: [IMPLICIT_VR_LE], [CT_IMAGE_STORAGE]: [EXPLICIT_VR_LE, IMPLICIT_VR_LE] },
    onListening: (l) => listening.next(l),
  }).subscribe(served);
  try {
    const { host, port } = await firstValueFrom(listening);
    out(`  acceptor DEMO-SCP listening on ${host}:${port}`);
    const options = {
      host,
      port,
      callingAeTitle: 'DEMO-SCU',
      calledAeTitle: 'DEMO-SCP',
      presentationContexts: [
        { abstractSyntax: VERIFICATION, transferSyntaxes: [IMPLICIT_VR_LE] },
        { abstractSyntax: CT_IMAGE_STORAGE, transferSyntaxes: [IMPLICIT_VR_LE, EXPLICIT_VR_LE] },
        { abstractSyntax: '1.2.840.10008.5.1.4.1.1.4', transferSyntaxes: [EXPLICIT_VR_LE] },
      ],
    };
    // Subscribed for as long as it is used: unsubscribing would release it.
    const association = await new Promise<Association>((resolve, reject) => {
      associate(options).subscribe({ next: resolve, error: reject });
    });
    const n = association.negotiation;
    out(`  requestor DEMO-SCU associated (A-ASSOCIATE-RQ of ${encodePdu(n.request).length} bytes), state ${association.state}`);
    for (const pc of n.presentationContexts) {
      out(
        `    context ${pc.id} ${pc.abstractSyntax}: ${pc.accepted ? `accepted with ${pc.transferSyntax}` : `rejected (result ${pc.result})`}`,
      );
    }
    out(
      `    maximum PDU length: ours ${n.localMaxPduLength}, peer ${n.peerMaxPduLength}; peer implementation ${n.peerImplementationClassUid} ${n.peerImplementationVersionName}`,
    );
    const acceptorSide = await firstValueFrom(served);
    await lastValueFrom(association.release(), { defaultValue: undefined });
    const acceptorEnd = await firstValueFrom(acceptorSide.finished);
    out(`  released: requestor ${association.state}, acceptor ${acceptorEnd ? acceptorEnd.message : 'released too'}`);
  } finally {
    server.unsubscribe();
  }
  out('Coming next: C-ECHO and streaming C-STORE on top of these associations.');
}
