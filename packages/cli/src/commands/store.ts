import { readdir, realpath, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { type Association, associate } from '@dimse-rx/association';
import { type Part10Header, readPart10HeaderSync, type StoreEvent, storageContexts, storeAll } from '@dimse-rx/dimse';
import { lastValueFrom, tap, timeout } from 'rxjs';
import { describeOptions, parseArgs, port, UsageError } from '../args.js';
import { COMMON_OPTIONS, commonSettings, describeError, letGo, type Output } from './common.js';
import { Progress } from './progress.js';

export const STORE_USAGE = `dimse-rx store HOST PORT PATH... [options]: C-STORE files and folders (recursively)

${describeOptions(COMMON_OPTIONS)}`;

/** At most 128 presentation contexts fit one association (odd IDs 1..255). */
const MAX_CONTEXTS = 128;

interface Candidate {
  readonly path: string;
  readonly header: Part10Header;
}

/**
 * Every file below the paths, folders walked recursively in a stable order. A folder that
 * cannot be read is reported through `unreadable` and skipped; a folder reached again through a
 * link is walked once.
 */
async function* walk(
  paths: readonly string[],
  unreadable: (path: string, error: unknown) => void,
  seen = new Set<string>(),
): AsyncGenerator<string> {
  for (const path of paths) {
    const info = await stat(path).catch(() => undefined);
    if (!info?.isDirectory()) {
      yield path;
      continue;
    }
    const real = await realpath(path).catch(() => path);
    if (seen.has(real)) continue;
    seen.add(real);
    let entries: string[];
    try {
      entries = (await readdir(path)).sort();
    } catch (error) {
      unreadable(path, error);
      continue;
    }
    yield* walk(
      entries.map((e) => join(path, e)),
      unreadable,
      seen,
    );
  }
}

/** Reads the headers of `paths`, in order: blocking reads, as nothing else runs before the associations open. */
function readHeaders(paths: readonly string[]): (Part10Header | Error)[] {
  return paths.map((path) => {
    try {
      return readPart10HeaderSync(path);
    } catch (error) {
      return error instanceof Error ? error : new Error(String(error));
    }
  });
}

/** Files grouped so that each group's presentation contexts fit one association. */
function batches(files: readonly Candidate[]): Candidate[][] {
  const out: Candidate[][] = [];
  let current: Candidate[] = [];
  let keys = new Set<string>();
  for (const file of files) {
    const key = `${file.header.meta.mediaStorageSopClassUid} ${file.header.meta.transferSyntaxUid}`;
    if (!keys.has(key) && keys.size === MAX_CONTEXTS) {
      out.push(current);
      current = [];
      keys = new Set();
    }
    keys.add(key);
    current.push(file);
  }
  if (current.length > 0) out.push(current);
  return out;
}

/** `bar`: where the progress bar is drawn (a terminal); undefined for plain lines only. */
export async function storeCommand(args: readonly string[], out: Output, bar?: (text: string) => void): Promise<number> {
  const { positionals, options } = parseArgs(args, COMMON_OPTIONS);
  if (positionals.length < 3) throw new UsageError('store takes HOST, PORT and at least one PATH');
  const [host, portText, ...given] = positionals as [string, string, ...string[]];
  const settings = commonSettings(options);
  const target = { host, port: port(portText) };

  const files: Candidate[] = [];
  let unreadable = 0;
  const skip = (path: string, error: unknown) => {
    unreadable++;
    if (settings.json) out.json({ command: 'store', file: path, skipped: describeError(error) });
    else out.error(`skipped ${path}: ${describeError(error)}`);
  };
  const paths: string[] = [];
  for await (const path of walk(given, skip)) paths.push(path);
  const headers = readHeaders(paths);
  headers.forEach((header, i) => {
    if (header instanceof Error) skip(paths[i]!, header);
    else files.push({ path: paths[i]!, header });
  });
  const totalBytes = files.reduce((n, f) => n + f.header.fileSize - f.header.dataSetOffset, 0);
  const progress = new Progress(files.length, totalBytes, out, settings.json ? undefined : bar);
  let stored = 0;
  let warnings = 0;
  let failed = 0;
  let fatal: string | undefined;

  for (const batch of batches(files)) {
    let association: Association;
    try {
      association = await new Promise<Association>((resolve, reject) => {
        associate({
          ...target,
          callingAeTitle: settings.callingAeTitle,
          calledAeTitle: settings.calledAeTitle,
          maxPduLength: settings.maxPduLength,
          timeouts: settings.timeouts,
          presentationContexts: storageContexts(
            batch.map((f) => ({ sopClassUid: f.header.meta.mediaStorageSopClassUid, transferSyntaxUid: f.header.meta.transferSyntaxUid })),
          ),
        }).subscribe({ next: resolve, error: reject });
      });
    } catch (error) {
      fatal = describeError(error);
      failed += batch.length;
      break;
    }
    let started = performance.now();
    /** How many files of the batch have an outcome (they come in order). */
    let settled = 0;
    const failure = (file: Candidate, error: unknown) => {
      settled++;
      failed++;
      progress.done(file.path, 0);
      if (settings.json) out.json({ command: 'store', file: file.path, error: describeError(error) });
      else progress.say(`failed ${file.path}: ${describeError(error)}`);
    };
    const answered = (file: Candidate, response: Extract<StoreEvent, { type: 'response' }>) => {
      settled++;
      const ms = Math.round(performance.now() - started);
      started = performance.now();
      const size = file.header.fileSize - file.header.dataSetOffset;
      progress.done(file.path, size);
      if (response.status.kind === 'success') stored++;
      else if (response.status.kind === 'warning') warnings++;
      else failed++;
      const code = `0x${response.status.code.toString(16).padStart(4, '0')}`;
      if (settings.json) {
        out.json({
          command: 'store',
          file: file.path,
          sopInstanceUid: response.sopInstanceUid,
          status: response.status.code,
          kind: response.status.kind,
          meaning: response.status.meaning,
          transferSyntax: response.transferSyntaxUid,
          converted: response.converted,
          bytes: size,
          ms,
        });
      } else if (response.status.kind !== 'success' || !progress.interactive) {
        progress.say(
          `${file.path}: ${response.status.meaning} (${code})${response.converted ? `, sent as ${response.transferSyntaxUid}` : ''}`,
        );
      }
    };
    try {
      // storeAll opens the next file while one is sent.
      await lastValueFrom(
        storeAll(
          association,
          batch.map((f) => f.path),
        ).pipe(
          // No progress and no response for the timeout: the peer is stuck (PS3.7's DIMSE timeout).
          timeout({ each: settings.dimseTimeoutMs }),
          tap((event) => {
            const file = batch[event.index]!;
            if (event.type === 'progress') progress.file(file.path, event.bytesSent);
            else if (event.type === 'response') answered(file, event);
            else failure(file, event.error);
          }),
        ),
        { defaultValue: undefined },
      );
    } catch (error) {
      // The association ended, or the peer went silent: the file in flight failed, the rest is not sent.
      const inFlight = batch[settled];
      if (inFlight) failure(inFlight, error);
      await letGo(association, error);
      fatal = describeError(error);
    }
    if (fatal) break;
    await letGo(association);
  }
  progress.finish();
  const notSent = files.length - stored - warnings - failed;
  const seconds = progress.elapsedSeconds();
  if (settings.json) {
    out.json({
      command: 'store',
      summary: true,
      stored,
      warnings,
      failed: failed + notSent,
      skipped: unreadable,
      bytes: progress.bytesDone,
      seconds,
      ...(fatal ? { error: fatal } : {}),
    });
  } else {
    if (fatal) out.error(`dimse-rx store: ${fatal}`);
    out.line(
      `${stored} stored, ${warnings} with warnings, ${failed + notSent} failed, ${unreadable} skipped; ${(progress.bytesDone / 1e6).toFixed(1)} MB in ${seconds.toFixed(1)} s`,
    );
  }
  return stored === files.length && unreadable === 0 && !fatal ? 0 : 1;
}
