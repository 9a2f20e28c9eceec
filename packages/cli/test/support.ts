/** Helpers of the command-line tests: captured output, generated files, SCPs in this process. */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Association } from '@dimse-rx/association';
import { generateSampleStudy } from '@dimse-rx/dataset/sample';
import {
  encodeDataset,
  encodeFileMetaInformation,
  type NaturalizedDataset,
  type StorageHandler,
  scp,
  TransferSyntax,
} from '@dimse-rx/dimse';
import type { Subscription } from 'rxjs';
import { main } from '../src/main.js';

export const CT = '1.2.840.10008.5.1.4.1.1.2';

export interface Captured {
  readonly out: string[];
  readonly err: string[];
  readonly bar: string[];
  readonly io: { out: (l: string) => void; err: (l: string) => void; bar: (t: string) => void };
}

export const capture = (): Captured => {
  const out: string[] = [];
  const err: string[] = [];
  const bar: string[] = [];
  return { out, err, bar, io: { out: (l) => out.push(l), err: (l) => err.push(l), bar: (t) => bar.push(t) } };
};

/** The JSON objects of a `--json` run's output. */
export const jsonLines = (lines: readonly string[]) => lines.map((l) => JSON.parse(l) as Record<string, unknown>);

export interface StudyFile {
  readonly path: string;
  readonly uid: string;
  readonly dataSet: Buffer;
}

/** Part 10 files of a generated study in `folder` (image-0.dcm...), CT unless told, with their data set bytes. */
export async function writeStudy(folder: string, images: number, seed: number, prefix = 'image', sopClass = CT): Promise<StudyFile[]> {
  const files: StudyFile[] = [];
  for (const [i, generated] of generateSampleStudy({ images, rows: 32, columns: 32, seed }).entries()) {
    const dataset: NaturalizedDataset = { ...generated, SOPClassUID: sopClass };
    const uid = String(dataset.SOPInstanceUID);
    const dataSet = encodeDataset(dataset, TransferSyntax.ExplicitVrLittleEndian);
    const meta = encodeFileMetaInformation({
      mediaStorageSopClassUid: sopClass,
      mediaStorageSopInstanceUid: uid,
      transferSyntaxUid: TransferSyntax.ExplicitVrLittleEndian,
    });
    const path = join(folder, `${prefix}-${i}.dcm`);
    await writeFile(path, Buffer.concat([meta, dataSet]));
    files.push({ path, uid, dataSet });
  }
  return files;
}

/** A `dimse-rx storescp` run in this process; `stop()` ends it and gives its exit code. */
export async function startStorescp(args: string[]): Promise<{ port: number; lines: string[]; stop: () => Promise<number> }> {
  const lines: string[] = [];
  let stop!: () => void;
  const stopped = new Promise<void>((resolve) => {
    stop = resolve;
  });
  let listening!: (port: number) => void;
  let failed!: (error: Error) => void;
  const port = new Promise<number>((resolve, reject) => {
    listening = resolve;
    failed = reject;
  });
  const exit = main(['storescp', '--port', '0', ...args], {
    out: (line) => {
      lines.push(line);
      const m = /listening on 127\.0\.0\.1:(\d+)/.exec(line) ?? /"listening":true.*"port":(\d+)/.exec(line);
      if (m) listening(Number(m[1]));
    },
    err: (line) => lines.push(line),
    stop: () => stopped,
  });
  void exit.then((code) => failed(new Error(`storescp ended with ${code} before listening: ${lines.join('\n')}`)));
  return {
    port: await port,
    lines,
    stop: async () => {
      stop();
      return exit;
    },
  };
}

/** A library SCP in this process with its own storage handler; it records the associations it served. */
export async function startScp(
  store: StorageHandler,
  options: Partial<Parameters<typeof scp>[0]> = {},
): Promise<{ port: number; associations: Association[]; stop: () => void }> {
  const associations: Association[] = [];
  let subscription: Subscription | undefined;
  const port = await new Promise<number>((resolve, reject) => {
    subscription = scp({
      port: 0,
      abstractSyntaxes: (abstractSyntax) =>
        abstractSyntax === CT || abstractSyntax === '1.2.840.10008.1.1'
          ? [TransferSyntax.ExplicitVrLittleEndian, TransferSyntax.ImplicitVrLittleEndian]
          : undefined,
      store,
      ...options,
      onListening: ({ port }) => resolve(port),
    }).subscribe({ next: (a) => associations.push(a), error: reject });
  });
  return { port, associations, stop: () => subscription?.unsubscribe() };
}

/** A handler that reads each data set to its end and answers `status(n)` for the n-th C-STORE it gets. */
export function answering(status: (n: number) => number): StorageHandler {
  let n = 0;
  return (_info, data) =>
    new Promise<number>((resolve, reject) => data.chunks.subscribe({ complete: () => resolve(status(++n)), error: reject }));
}
