import type { Dirent } from 'node:fs';
import { readdir, realpath, stat } from 'node:fs/promises';
import { basename, join } from 'node:path';
import {
  isUncompressed,
  Part10Error,
  type PoolInput,
  readDicomFileHeaderSync,
  type StorePoolEvent,
  type StorePoolOptions,
  storePool,
  type TransferSyntaxProposal,
} from '@dimse-rx/dimse';
import { lastValueFrom, tap } from 'rxjs';
import { describeOptions, intOption, type OptionSpec, parseArgs, port, stringOption, UsageError } from '../args.js';
import { COMMON_OPTIONS, commonSettings, describeError, type Output } from './common.js';
import { associationOptions, IDENTITY_OPTIONS, TLS_OPTIONS } from './connection.js';
import { errorCode } from './error-code.js';
import { Progress } from './progress.js';
import { fileProblem, type Job, Results } from './store-results.js';

const STORE_OPTIONS: readonly OptionSpec[] = [
  {
    name: 'recursive',
    aliases: ['-r', '+r'],
    description: 'send the files of sub-folders too (default: a folder gives its own files only)',
  },
  { name: 'scan-directories', aliases: ['+sd'], description: "storescu's: accepted and not needed (folders are always scanned)" },
  { name: 'associations', value: 'N', description: 'send over N associations at once, the files split among them (default 1)' },
  {
    name: 'retries',
    value: 'N',
    description: 'new associations after one ended early, in a row without a file stored (default 2)',
  },
  {
    name: 'propose',
    value: 'WHAT',
    description: "transfer syntaxes besides each file's own: all (default), little-endian, own, or UID,UID,...",
  },
];

const OPTIONS = [...COMMON_OPTIONS, ...STORE_OPTIONS, ...TLS_OPTIONS, ...IDENTITY_OPTIONS];

export const STORE_USAGE = `Usage: dimse-rx store HOST PORT PATH... [options]
C-STORE files and folders. A folder gives its own files, and with --recursive those of its
sub-folders too; DICOMDIR files and files that are not DICOM are skipped (and reported). Every
file gets one result line: stored, warning, failed, not sent or skipped. Exit code 0 when every
DICOM file was stored (warnings included), 1 otherwise, 2 for a usage error.

Options:
${describeOptions(OPTIONS)}`;

/** Media Storage Directory Storage (PS3.4 F): a DICOMDIR, which indexes files rather than being one to store. */
const MEDIA_STORAGE_DIRECTORY = '1.2.840.10008.1.3.10';
/** What the scan gives: files to read, and what it found that is not one. */
interface Scan {
  readonly files: string[];
  /** Folders below the ones given, left out without --recursive. */
  readonly notEntered: string[];
  /** Paths that cannot be read at all, with why. */
  readonly unreadable: { path: string; error: unknown }[];
}

/**
 * The files of the paths, in a stable order: a folder's files, and those of its sub-folders
 * with `recursive`. A folder reached again through a link is scanned once.
 */
async function scan(paths: readonly string[], recursive: boolean): Promise<Scan> {
  const result: Scan = { files: [], notEntered: [], unreadable: [] };
  const seen = new Set<string>();
  /** A file, once: `real` is its path with every link resolved. */
  const file = (path: string, real: string) => {
    // A file named twice (or reached through two folders) is sent once, and has one line.
    if (!seen.has(real)) result.files.push(path);
    seen.add(real);
  };
  const folder = async (path: string, real: string): Promise<void> => {
    if (seen.has(real)) return;
    seen.add(real);
    let entries: Dirent[];
    try {
      entries = (await readdir(path, { withFileTypes: true })).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    } catch (error) {
      result.unreadable.push({ path, error });
      return;
    }
    for (const entry of entries) {
      const child = join(path, entry.name);
      // What the folder's listing says is enough for files and folders (no stat, no realpath per
      // file: thousands of them cost two thread-pool round trips each); links are followed.
      if (entry.isFile()) file(child, join(real, entry.name));
      else if (entry.isDirectory()) {
        if (recursive) await folder(child, join(real, entry.name));
        else result.notEntered.push(child);
      } else await visit(child, false);
    }
  };
  const visit = async (path: string, given: boolean): Promise<void> => {
    let info: Awaited<ReturnType<typeof stat>>;
    try {
      info = await stat(path);
    } catch (error) {
      result.unreadable.push({ path, error });
      return;
    }
    const real = await realpath(path).catch(() => path);
    if (!info.isDirectory()) file(path, real);
    else if (!given && !recursive) result.notEntered.push(path);
    else await folder(path, real);
  };
  for (const path of paths) await visit(path, true);
  return result;
}

function parsePropose(value: string | undefined): TransferSyntaxProposal {
  if (value === undefined || value === 'all' || value === 'own' || value === 'little-endian') return value ?? 'all';
  const uids = value.split(',').map((uid) => uid.trim());
  for (const uid of uids) {
    if (!/^[0-9]+(\.[0-9]+)+$/.test(uid)) {
      throw new UsageError(`--propose takes all, little-endian, own or a list of transfer syntax UIDs, got ${JSON.stringify(uid)}`);
    }
    if (!isUncompressed(uid)) {
      throw new UsageError(`--propose: ${uid} is not an uncompressed transfer syntax (compressed data is sent in its own syntax only)`);
    }
  }
  return uids;
}

/** Everything the run reports to. */
interface Session {
  readonly results: Results;
  readonly progress: Progress;
  /** Errors that kept files from going, once each. */
  readonly errors: Set<string>;
  /** Associations opened so far (their numbers in the output). */
  opened: number;
}

/**
 * Sends the files with the library's pool (`storePool`): `--associations` at once, a new
 * association after one that ended early, up to `--retries` in a row without a file stored.
 * Each event becomes a result line, a note or a step of the progress bar.
 */
async function sendAll(session: Session, jobs: readonly Job[], options: StorePoolOptions): Promise<void> {
  const { results, progress } = session;
  /** Per lane: bytes of the file being sent, and when it started. */
  const lanes = new Map<number, { sent: number; started: number }>();
  const laneOf = (lane: number) => {
    let state = lanes.get(lane);
    if (!state) {
      state = { sent: 0, started: performance.now() };
      lanes.set(lane, state);
    }
    return state;
  };
  const settle = (lane: number | undefined) => {
    if (lane === undefined) return { sent: 0, seconds: 0 };
    const state = laneOf(lane);
    const done = { sent: state.sent, seconds: (performance.now() - state.started) / 1000 };
    state.sent = 0;
    state.started = performance.now();
    return done;
  };
  const inputs: PoolInput[] = jobs.map((job) => ({
    input: job.path,
    sopClassUid: job.sopClassUid,
    transferSyntaxUid: job.transferSyntaxUid,
    size: job.dataSetSize,
  }));
  const plural = (n: number) => `${n} file${n === 1 ? '' : 's'}`;
  await lastValueFrom(
    storePool(inputs, options).pipe(
      tap((event: StorePoolEvent) => {
        switch (event.type) {
          case 'opened':
            session.opened = Math.max(session.opened, event.association);
            laneOf(event.lane).started = performance.now();
            return;
          case 'progress':
            laneOf(event.lane).sent = event.bytesSent;
            progress.file(event.lane, event.bytesSent);
            return;
          case 'response': {
            const job = jobs[event.index]!;
            const { sent, seconds } = settle(event.lane);
            progress.done(event.lane, job.dataSetSize);
            results.answered(job, event, sent || job.dataSetSize, seconds, event.association);
            return;
          }
          case 'failed': {
            const { sent, seconds } = settle(event.lane);
            progress.done(event.lane, sent);
            results.failed(jobs[event.index]!.path, event.error, sent, seconds, event.association);
            return;
          }
          case 'notSent': {
            const reason =
              event.reason === 'retriesUsedUp'
                ? `association ${event.association} ended early (${describeError(event.error)}) and --retries ${options.retries} are used up`
                : describeError(event.error);
            session.errors.add(reason);
            progress.done(undefined, 0);
            results.notSent(jobs[event.index]!.path, reason, errorCode(event.error));
            return;
          }
          case 'handedOver':
            results.note(`an association was refused (${describeError(event.error)}): its ${plural(event.inputs)} go over the others`, {
              refused: describeError(event.error),
              code: errorCode(event.error),
              handedOver: event.inputs,
            });
            return;
          case 'openFailed':
            results.note(`could not open a new association (${describeError(event.error)}): retry ${event.retry} of ${event.retries}`, {
              retry: event.retry,
              error: describeError(event.error),
              code: errorCode(event.error),
            });
            return;
          case 'endedEarly': {
            const why = describeError(event.error);
            results.note(
              `association ${event.association} ended early (${why}); a new association for the ${plural(event.left)} left (retry ${event.retry} of ${event.retries})`,
              { association: event.association, endedEarly: why, code: errorCode(event.error), left: event.left, retry: event.retry },
            );
            return;
          }
        }
      }),
    ),
    { defaultValue: undefined },
  );
}

/** Reads the header of each file found: DICOM ones become jobs, the others get their line now. */
function inspect(paths: readonly string[], results: Results): Job[] {
  const jobs: Job[] = [];
  for (const path of paths) {
    if (basename(path).toUpperCase() === 'DICOMDIR') {
      results.skipped(path, 'a DICOMDIR (a media directory, not an object to store)', 'DICOMDIR');
      continue;
    }
    try {
      // Blocking reads: nothing else runs before the associations open.
      const header = readDicomFileHeaderSync(path);
      if (header.sopClassUid === MEDIA_STORAGE_DIRECTORY) {
        results.skipped(path, 'a DICOMDIR (a media directory, not an object to store)', 'DICOMDIR');
        continue;
      }
      jobs.push({
        path,
        sopClassUid: header.sopClassUid,
        sopInstanceUid: header.sopInstanceUid,
        transferSyntaxUid: header.transferSyntaxUid,
        fileSize: header.fileSize,
        dataSetSize: header.fileSize - header.dataSetOffset,
      });
    } catch (error) {
      if (error instanceof Part10Error) results.skipped(path, fileProblem(path, error), 'NOT_DICOM');
      else results.failed(path, error, 0, 0);
    }
  }
  return jobs;
}

/** `bar`: where the progress bar is drawn (a terminal); undefined for plain lines only. */
export async function storeCommand(args: readonly string[], out: Output, bar?: (text: string) => void): Promise<number> {
  const parsed = parseArgs(args, OPTIONS);
  const { positionals, options } = parsed;
  if (positionals.length < 3) throw new UsageError('store takes HOST, PORT and at least one PATH');
  const [host, portText, ...given] = positionals as [string, string, ...string[]];
  const settings = commonSettings(options);
  const target = { host, port: port(portText) };
  const lanes = intOption(options, 'associations', 1, 1, 64);
  const retries = intOption(options, 'retries', 2, 0, 1000);
  const propose = parsePropose(stringOption(options, 'propose'));
  // TLS files and the identity are read now: a usage error comes before any folder is scanned.
  const connection = associationOptions(parsed, settings, target);

  let progress: Progress | undefined;
  const results = new Results(out, settings.json, () => progress);
  const found = await scan(given, options.recursive === true);
  for (const { path, error } of found.unreadable) results.failed(path, error, 0, 0);
  if (found.notEntered.length > 0) {
    const text = `${found.notEntered.length} sub-folder${found.notEntered.length === 1 ? '' : 's'} not scanned (--recursive sends their files too): ${found.notEntered.join(', ')}`;
    if (settings.json) out.json({ command: 'store', notScanned: found.notEntered });
    else out.error(text);
  }
  const jobs = inspect(found.files, results);
  const totalBytes = jobs.reduce((n, job) => n + job.dataSetSize, 0);
  progress = new Progress(jobs.length, totalBytes, out, settings.json ? undefined : bar);
  const session: Session = { results, progress, errors: new Set(), opened: 0 };
  if (jobs.length === 0) session.errors.add('no DICOM file to send');
  else
    await sendAll(session, jobs, {
      associate: connection,
      associations: lanes,
      retries,
      propose,
      timeout: settings.dimseTimeoutMs,
    });
  progress.finish();
  results.summary(progress.elapsedSeconds(), session.opened, [...session.errors]);
  return results.allStored && jobs.length > 0 ? 0 : 1;
}
