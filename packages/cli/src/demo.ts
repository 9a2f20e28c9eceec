import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Association, Listening } from '@dimse-rx/association';
import { generateSampleStudy } from '@dimse-rx/dataset/sample';
import {
  associate,
  echo,
  encodeDataset,
  encodeFileMetaInformation,
  fileSink,
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
    store: fileSink({ directory: join(folder, 'received') }),
    onListening: (l) => listening.next(l),
  }).subscribe();
  try {
    const { host, port } = await firstValueFrom(listening);
    out(`  storage SCP DEMO-SCP on ${host}:${port}, writing to ${join(folder, 'received')}`);
    const study = generateSampleStudy({ images: 5, rows: 256, columns: 256, seed: 42 });
    // Written as Part 10 files first: store() streams them from disk, as it would a real study.
    const source = join(folder, 'source');
    await mkdir(source);
    const paths: string[] = [];
    for (const dataset of study) {
      const path = join(source, `${String(dataset.SOPInstanceUID)}.dcm`);
      const meta = encodeFileMetaInformation({
        mediaStorageSopClassUid: CT_IMAGE_STORAGE,
        mediaStorageSopInstanceUid: String(dataset.SOPInstanceUID),
        transferSyntaxUid: TransferSyntax.ExplicitVrLittleEndian,
      });
      await writeFile(path, Buffer.concat([meta, encodeDataset(dataset, TransferSyntax.ExplicitVrLittleEndian)]));
      paths.push(path);
    }
    out(`  generated ${study.length} CT images of 256x256, patient ${String(study[0]?.PatientID)}, as Part 10 files`);

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
    let failures = status.kind === 'success' ? 0 : 1;
    for (const [i, path] of paths.entries()) {
      let response: Extract<StoreEvent, { type: 'response' }> | undefined;
      let sent = 0;
      let steps = 0;
      await lastValueFrom(
        // Read 32 KiB at a time, so that progress shows on images this small.
        store(association, path, { readChunkSize: 32 * 1024 }).pipe(
          tap((event) => {
            if (event.type === 'progress') {
              sent = event.bytesSent;
              steps++;
            } else {
              response = event;
            }
          }),
        ),
      );
      bytes += sent;
      if (response?.status.kind !== 'success') failures++;
      out(
        `  C-STORE image ${i + 1}/${study.length}: ${sent} bytes in ${steps} progress steps, ${response?.status.meaning} (0x${response?.status.code.toString(16).padStart(4, '0')})`,
      );
    }
    await lastValueFrom(association.release(), { defaultValue: undefined });
    out('  association released');

    let verified = 0;
    for (const dataset of study) {
      const file = await readFile(join(folder, 'received', `${String(dataset.SOPInstanceUID)}.dcm`));
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
