import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Association, associate, type Listening } from '@dimse-rx/association';
import {
  echo,
  encodeDataset,
  fileSink,
  generateSampleStudy,
  parsePart10Header,
  type StoreEvent,
  scp,
  store,
  TransferSyntax,
  VERIFICATION_SOP_CLASS,
} from '@dimse-rx/dimse';
import { firstValueFrom, lastValueFrom, ReplaySubject, tap } from 'rxjs';

const CT_IMAGE_STORAGE = '1.2.840.10008.5.1.4.1.1.2';

/**
 * The demo: a storage SCP in process on a free loopback port writing to a temporary folder, a
 * generated CT study, a C-ECHO, the C-STOREs with progress, a check that every stored file holds
 * exactly the data set sent, and a summary. Nothing but Node is needed.
 */
export async function demo(version: string, out: (line: string) => void): Promise<number> {
  const started = performance.now();
  out(`dimse-rx ${version} demo: a generated CT study stored over DICOM on loopback`);
  const folder = await mkdtemp(join(tmpdir(), 'dimse-rx-demo-'));
  const listening = new ReplaySubject<Listening>(1);
  const server = scp({
    aeTitles: ['DEMO-SCP'],
    abstractSyntaxes: {
      [VERIFICATION_SOP_CLASS]: [TransferSyntax.ExplicitVrLittleEndian, TransferSyntax.ImplicitVrLittleEndian],
      [CT_IMAGE_STORAGE]: [TransferSyntax.ExplicitVrLittleEndian, TransferSyntax.ImplicitVrLittleEndian],
    },
    store: fileSink({ directory: folder }),
    onListening: (l) => listening.next(l),
  }).subscribe();
  try {
    const { host, port } = await firstValueFrom(listening);
    out(`  storage SCP DEMO-SCP on ${host}:${port}, writing to ${folder}`);
    const study = generateSampleStudy({ images: 5, rows: 256, columns: 256, seed: 42 });
    out(`  generated ${study.length} CT images of 256x256, patient ${String(study[0]?.PatientID)}`);

    const association = await new Promise<Association>((resolve, reject) => {
      associate({
        host,
        port,
        callingAeTitle: 'DEMO-SCU',
        calledAeTitle: 'DEMO-SCP',
        presentationContexts: [
          { abstractSyntax: VERIFICATION_SOP_CLASS, transferSyntaxes: [TransferSyntax.ExplicitVrLittleEndian] },
          { abstractSyntax: CT_IMAGE_STORAGE, transferSyntaxes: [TransferSyntax.ExplicitVrLittleEndian] },
        ],
      }).subscribe({ next: resolve, error: reject });
    });
    const status = await firstValueFrom(echo(association));
    out(`  C-ECHO: ${status.meaning} (0x${status.code.toString(16).padStart(4, '0')})`);

    let bytes = 0;
    let failures = 0;
    for (const [i, dataset] of study.entries()) {
      let response: Extract<StoreEvent, { type: 'response' }> | undefined;
      let sent = 0;
      await lastValueFrom(
        store(association, { dataset }).pipe(
          tap((event) => {
            if (event.type === 'progress') sent = event.bytesSent;
            else response = event;
          }),
        ),
      );
      bytes += sent;
      if (response?.status.kind !== 'success') failures++;
      out(
        `  C-STORE image ${i + 1}/${study.length}: ${sent} bytes, ${response?.status.meaning} (0x${response?.status.code.toString(16).padStart(4, '0')})`,
      );
    }
    await lastValueFrom(association.release(), { defaultValue: undefined });
    out('  association released');

    let verified = 0;
    for (const dataset of study) {
      const file = await readFile(join(folder, `${String(dataset.SOPInstanceUID)}.dcm`));
      const header = parsePart10Header(file);
      const expected = encodeDataset(dataset, header.meta.transferSyntaxUid);
      if (header.meta.mediaStorageSopInstanceUid === dataset.SOPInstanceUID && file.subarray(header.dataSetOffset).equals(expected))
        verified++;
    }
    out(`  verified: ${verified} of ${study.length} stored files hold exactly the data set sent`);
    const seconds = (performance.now() - started) / 1000;
    const ok = verified === study.length && failures === 0;
    out(`${ok ? 'Done' : 'FAILED'}: ${study.length} images, ${(bytes / 1e6).toFixed(1)} MB stored and checked in ${seconds.toFixed(2)} s.`);
    return ok ? 0 : 1;
  } finally {
    server.unsubscribe();
    await rm(folder, { recursive: true, force: true });
  }
}
