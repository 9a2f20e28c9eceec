/**
 * Sends a folder of DICOM files over a few associations at once: `mergeMap` with a concurrency
 * limit, one association per share of the files, progress as it goes and a summary at the end.
 * When an association ends early (the peer aborted), that share goes on over a new association
 * with the files not yet answered: `retry` resubscribes, and `defer` picks what is left.
 *
 *   node examples/dist/send-folder.js HOST PORT FOLDER [--associations N] [--aec AE]
 */
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { type DicomFileHeader, readDicomFileHeaderSync, storageContexts, storeAll, withAssociation } from '@dimse-rx/dimse';
import { defer, from, lastValueFrom, mergeMap, type Observable, retry, tap } from 'rxjs';

export interface SendOptions {
  readonly host: string;
  readonly port: number;
  readonly calledAeTitle?: string;
  readonly associations?: number;
  /** Called as files are answered: files done, their bytes, and the files in all. */
  readonly onProgress?: (done: number, bytes: number, files: number) => void;
}

export interface Summary {
  readonly files: number;
  readonly stored: number;
  readonly failed: { readonly path: string; readonly reason: string }[];
  readonly skipped: readonly string[];
  readonly bytes: number;
  /** New associations opened because one ended early. */
  readonly resumed: number;
  readonly seconds: number;
}

interface File {
  readonly path: string;
  readonly header: DicomFileHeader;
}

/** Every file below `folder`, in a stable order. */
function filesOf(folder: string): string[] {
  return readdirSync(folder)
    .sort()
    .flatMap((name) => {
      const path = join(folder, name);
      return statSync(path).isDirectory() ? filesOf(path) : [path];
    });
}

export async function sendFolder(folder: string, options: SendOptions): Promise<Summary> {
  const started = performance.now();
  const files: File[] = [];
  const skipped: string[] = [];
  for (const path of filesOf(folder)) {
    try {
      files.push({ path, header: readDicomFileHeaderSync(path) });
    } catch {
      skipped.push(path); // not DICOM
    }
  }
  const answered = new Set<string>();
  const failed: { path: string; reason: string }[] = [];
  let stored = 0;
  let bytes = 0;
  let resumed = 0;
  const n = Math.max(1, Math.min(options.associations ?? 3, files.length));
  const shares = Array.from({ length: n }, (_, i) => files.filter((_, j) => j % n === i));

  const sendShare = (share: readonly File[]): Observable<unknown> => {
    let attempt = 0;
    return defer(() => {
      if (attempt++ > 0) resumed++;
      const left = share.filter((f) => !answered.has(f.path));
      if (left.length === 0) return from([]);
      return withAssociation(
        {
          host: options.host,
          port: options.port,
          callingAeTitle: 'SEND-FOLDER',
          calledAeTitle: options.calledAeTitle ?? 'ANY-SCP',
          presentationContexts: storageContexts(left.map((f) => f.header)),
        },
        (association) =>
          storeAll(
            association,
            left.map((f) => f.path),
          ).pipe(
            tap((event) => {
              const file = left[event.index]!;
              if (event.type === 'progress') return;
              answered.add(file.path);
              if (event.type === 'failed') failed.push({ path: file.path, reason: event.error.message });
              else if (event.status.kind === 'failure') failed.push({ path: file.path, reason: event.status.meaning });
              else {
                stored++;
                bytes += file.header.fileSize;
              }
              options.onProgress?.(answered.size, bytes, files.length);
            }),
          ),
      );
    }).pipe(retry({ count: 3, delay: 200 }));
  };

  await lastValueFrom(from(shares).pipe(mergeMap(sendShare, n)), { defaultValue: undefined }).catch((error: Error) => {
    for (const f of files) if (!answered.has(f.path)) failed.push({ path: f.path, reason: `not sent: ${error.message}` });
  });
  return { files: files.length, stored, failed, skipped, bytes, resumed, seconds: (performance.now() - started) / 1000 };
}

async function main(args: string[]): Promise<void> {
  const [host, port, folder] = args;
  const option = (name: string) => {
    const i = args.indexOf(name);
    return i < 0 ? undefined : args[i + 1];
  };
  if (!host || !port || !folder) {
    console.error('usage: send-folder HOST PORT FOLDER [--associations N] [--aec AE]');
    process.exit(2);
  }
  const aec = option('--aec');
  const summary = await sendFolder(folder, {
    host,
    port: Number(port),
    associations: Number(option('--associations') ?? 3),
    ...(aec ? { calledAeTitle: aec } : {}),
    onProgress: (done, bytes, files) => console.log(`progress ${done}/${files} files, ${(bytes / 1e6).toFixed(1)} MB`),
  });
  for (const { path, reason } of summary.failed) console.log(`failed ${path}: ${reason}`);
  for (const path of summary.skipped) console.log(`skipped ${path}: not DICOM`);
  console.log(
    `summary: ${summary.stored} of ${summary.files} files stored, ${summary.failed.length} failed, ${summary.skipped.length} skipped, ` +
      `${(summary.bytes / 1e6).toFixed(1)} MB in ${summary.seconds.toFixed(2)} s, ${summary.resumed} resumed`,
  );
  process.exitCode = summary.failed.length === 0 ? 0 : 1;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) void main(process.argv.slice(2));
