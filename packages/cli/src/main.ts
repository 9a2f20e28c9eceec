import { readFileSync } from 'node:fs';
import { DICOM_APPLICATION_CONTEXT_NAME, decodePdu, encodePdu, type Pdu } from '@dimse-rx/pdu';

const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };

const USAGE = `dimse-rx ${pkg.version}: DICOM networking for Node.js as RxJS streams

Usage:
  dimse-rx demo        show what this build can do
  dimse-rx --version   print the version
  dimse-rx --help      this text
`;

/** Until the networking layers land, the demo shows the PDU codec at work on a real request. */
function demo(out: (line: string) => void): void {
  const request: Pdu = {
    type: 'AssociateRq',
    protocolVersion: 1,
    calledAeTitle: 'ANY-SCP',
    callingAeTitle: 'DIMSE-RX',
    applicationContextName: DICOM_APPLICATION_CONTEXT_NAME,
    presentationContexts: [{ id: 1, abstractSyntax: '1.2.840.10008.1.1', transferSyntaxes: ['1.2.840.10008.1.2.1', '1.2.840.10008.1.2'] }],
    userInformation: [
      { type: 'MaximumLength', maximumLength: 16384 },
      { type: 'ImplementationClassUid', uid: '1.2.826.0.1.3680043.10.1519' },
      { type: 'ImplementationVersionName', name: `DIMSE_RX_${pkg.version}`.slice(0, 16) },
    ],
  };
  const bytes = encodePdu(request);
  const back = decodePdu(bytes);
  out(`dimse-rx ${pkg.version}`);
  out('');
  out('Available now: @dimse-rx/pdu, every PS3.8 PDU, item and sub-item, with an incremental framer.');
  out(`  A-ASSOCIATE-RQ for Verification, ${request.callingAeTitle} -> ${request.calledAeTitle}: ${bytes.length} bytes`);
  out(`  ${bytes.subarray(0, 32).toString('hex').replace(/(..)/g, '$1 ')}...`);
  out(`  decoded again: ${back.type}, ${back.type === 'AssociateRq' ? back.presentationContexts.length : 0} presentation context(s)`);
  out('Coming next: associations (PS3.8 state machine as a reducer), C-ECHO and streaming C-STORE.');
}

export function main(args: readonly string[], out: (line: string) => void = console.log): number {
  const [command] = args;
  if (command === '--version' || command === '-v') {
    out(pkg.version);
    return 0;
  }
  if (command === 'demo') {
    demo(out);
    return 0;
  }
  if (command === undefined || command === '--help' || command === '-h') {
    out(USAGE);
    return command === undefined ? 1 : 0;
  }
  out(`dimse-rx: unknown command '${command}'\n\n${USAGE}`);
  return 2;
}
