import type { Dirent } from 'node:fs';
import { readdir, realpath, stat } from 'node:fs/promises';
import { basename, join } from 'node:path';
import type { ConnectionOptions } from 'node:tls';
import {
  type AssociateOptions,
  type Association,
  AssociationRejectedError,
  NoPresentationContextAcceptedError,
} from '@dimse-rx/association';
import {
  associate,
  isUncompressed,
  Part10Error,
  readDicomFileHeaderSync,
  type StoreAllEvent,
  storageContexts,
  storeAll,
  type TransferSyntaxProposal,
} from '@dimse-rx/dimse';
import { lastValueFrom, tap, timeout } from 'rxjs';
import { describeOptions, intOption, type OptionSpec, parseArgs, port, stringOption, UsageError } from '../args.js';
import { COMMON_OPTIONS, type CommonSettings, commonSettings, describeError, letGo, type Output } from './common.js';
import { IDENTITY_OPTIONS, TLS_OPTIONS, tlsClientOptions, userIdentityOption } from './connection.js';
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

/** At most 128 presentation contexts fit one association (odd IDs 1..255). */
const MAX_CONTEXTS = 128;
/** Media Storage Directory Storage (PS3.4 F): a DICOMDIR, which indexes files rather than being one to store. */
const MEDIA_STORAGE_DIRECTORY = '1.2.840.10008.1.3.10';
/** Before a new association after one that stored nothing: a peer that refuses at once is not hammered. */
const RETRY_DELAY_MS = 500;

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

/** The files split into `lanes` runs of neighbouring files with about the same bytes each, none empty. */
function split(jobs: readonly Job[], lanes: number): Job[][] {
  const n = Math.min(lanes, jobs.length);
  const total = jobs.reduce((sum, job) => sum + job.dataSetSize, 0);
  const out: Job[][] = [];
  let current: Job[] = [];
  let bytes = 0;
  jobs.forEach((job, i) => {
    current.push(job);
    bytes += job.dataSetSize;
    const left = jobs.length - i - 1;
    const lanesLeft = n - out.length - 1;
    if (lanesLeft > 0 && (bytes >= (total * (out.length + 1)) / n || left === lanesLeft)) {
      out.push(current);
      current = [];
    }
  });
  if (current.length > 0) out.push(current);
  return out;
}

/** The first files of `queue` whose presentation contexts fit one association. */
function nextBatch(queue: readonly Job[], propose: TransferSyntaxProposal): Job[] {
  const keys = new Map<string, { sopClassUid: string; transferSyntaxUid: string }>();
  let count = 0;
  for (const job of queue) {
    const key = `${job.sopClassUid} ${job.transferSyntaxUid}`;
    if (!keys.has(key)) {
      keys.set(key, job);
      if (storageContexts([...keys.values()], { propose }).length > MAX_CONTEXTS) break;
    }
    count++;
  }
  return queue.slice(0, Math.max(count, 1));
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

/** Everything a lane needs to open associations. */
interface Session {
  readonly settings: CommonSettings;
  readonly target: { readonly host: string; readonly port: number };
  readonly tls: ConnectionOptions | undefined;
  readonly userIdentity: AssociateOptions['userIdentity'];
  readonly propose: TransferSyntaxProposal;
  readonly retries: number;
  readonly results: Results;
  readonly progress: Progress;
  /** Errors that kept files from going, once each. */
  readonly errors: Set<string>;
  /** Associations opened so far (their numbers in the output). */
  opened: number;
  /** Files of a lane whose first association the peer refused for now: the other lanes take them. */
  readonly handedOver: Job[];
  /** Lanes still at work. */
  running: number;
}

function open(session: Session, batch: readonly Job[]): Promise<Association> {
  const { settings, target, tls, userIdentity, propose } = session;
  return new Promise<Association>((resolve, reject) => {
    associate({
      ...target,
      callingAeTitle: settings.callingAeTitle,
      calledAeTitle: settings.calledAeTitle,
      maxPduLength: settings.maxPduLength,
      timeouts: settings.timeouts,
      ...(tls ? { tls } : {}),
      ...(userIdentity ? { userIdentity } : {}),
      presentationContexts: storageContexts(batch, { propose }),
    }).subscribe({ next: resolve, error: reject });
  });
}

/** How a batch on one association went. */
interface BatchOutcome {
  /** Files of the batch with a result line (the answered ones, the one that failed in flight). */
  readonly settled: number;
  /** Files stored (success or warning): a sign that the peer still takes files. */
  readonly stored: number;
  /** Why the association ended before the batch was done. */
  readonly error?: unknown;
}

/** Sends a batch on an established association: one result line per file, in order, until it ends. */
async function send(
  session: Session,
  association: Association,
  number: number,
  lane: number,
  batch: readonly Job[],
): Promise<BatchOutcome> {
  const { results, progress, settings } = session;
  let settled = 0;
  let stored = 0;
  let sent = 0;
  let started = performance.now();
  const seconds = () => (performance.now() - started) / 1000;
  const next = () => {
    settled++;
    sent = 0;
    started = performance.now();
  };
  const onEvent = (event: StoreAllEvent) => {
    const job = batch[event.index]!;
    if (event.type === 'progress') {
      sent = event.bytesSent;
      progress.file(lane, sent);
      return;
    }
    if (event.type === 'failed') {
      progress.done(lane, sent);
      results.failed(job.path, event.error, sent, seconds(), number);
      next();
      return;
    }
    progress.done(lane, job.dataSetSize);
    if (event.status.kind !== 'failure') stored++;
    results.answered(job, event, sent || job.dataSetSize, seconds(), number);
    next();
  };
  try {
    await lastValueFrom(
      storeAll(
        association,
        batch.map((job) => job.path),
      ).pipe(
        // No progress and no response for the timeout: the peer is stuck (PS3.7's DIMSE timeout).
        timeout({ each: settings.dimseTimeoutMs }),
        tap(onEvent),
      ),
      { defaultValue: undefined },
    );
  } catch (error) {
    await letGo(association, error);
    // The file in flight failed if any of it went; one not begun waits for the next association.
    const inFlight = batch[settled];
    if (inFlight && sent > 0) {
      progress.done(lane, sent);
      results.failed(inFlight.path, error, sent, seconds(), number);
      next();
    }
    return { settled, stored, error };
  }
  await letGo(association);
  return { settled, stored };
}

/**
 * Sends the files of one lane over associations one after the other: a batch per association
 * (as many files as its presentation contexts allow), and when one ends early (the peer aborted,
 * the connection dropped, a timeout), a new one for the files not yet sent, up to
 * `retries` times in a row without a file stored. Files it gives up on are reported as not sent.
 * A lane whose first association is refused for now (a transient rejection: the peer's limit of
 * associations, most often) while another lane has one hands its files over (`mayHandOver`),
 * and a lane done with its own files takes those handed over.
 */
async function runLane(session: Session, lane: number, files: readonly Job[], mayHandOver: boolean): Promise<void> {
  session.running++;
  try {
    await sendLane(session, lane, files, mayHandOver);
  } finally {
    session.running--;
  }
}

async function sendLane(session: Session, lane: number, files: readonly Job[], mayHandOver: boolean): Promise<void> {
  const { results, progress } = session;
  let queue = files.slice();
  let established = false;
  let inARow = 0;
  const giveUp = (reason: string, code: string) => {
    session.errors.add(reason);
    for (const job of queue) {
      progress.done(undefined, 0);
      results.notSent(job.path, reason, code);
    }
    queue = [];
  };
  for (;;) {
    if (queue.length === 0) {
      if (!established || session.handedOver.length === 0) return;
      queue = session.handedOver.splice(0);
    }
    const batch = nextBatch(queue, session.propose);
    let association: Association;
    try {
      association = await open(session, batch);
    } catch (error) {
      if (error instanceof NoPresentationContextAcceptedError) {
        // The peer takes none of these files as proposed: each is refused, not waiting for another try.
        for (const job of batch) {
          progress.done(undefined, 0);
          results.failed(job.path, error, 0, 0);
        }
        queue = queue.slice(batch.length);
        continue;
      }
      const transient = error instanceof AssociationRejectedError && error.result === 2;
      if (!established && transient && mayHandOver && session.running > 1) {
        results.note(
          `an association was refused (${describeError(error)}): its ${queue.length} file${queue.length === 1 ? '' : 's'} go over the others`,
          {
            refused: describeError(error),
            code: errorCode(error),
            handedOver: queue.length,
          },
        );
        session.handedOver.push(...queue);
        return;
      }
      const permanent = error instanceof AssociationRejectedError && error.result === 1;
      // The first association failing says the peer cannot be had: there is nothing to go on with.
      if (!established || permanent || ++inARow > session.retries) {
        giveUp(describeError(error), errorCode(error));
        return;
      }
      results.note(`could not open a new association (${describeError(error)}): retry ${inARow} of ${session.retries}`, {
        retry: inARow,
        error: describeError(error),
        code: errorCode(error),
      });
      await new Promise((resolve) => setTimeout(resolve, RETRY_DELAY_MS));
      continue;
    }
    established = true;
    const number = ++session.opened;
    const outcome = await send(session, association, number, lane, batch);
    queue = queue.slice(outcome.settled);
    if (outcome.error === undefined) {
      inARow = 0;
      continue;
    }
    if (outcome.stored > 0) inARow = 0;
    if (queue.length === 0) continue;
    const why = describeError(outcome.error);
    if (++inARow > session.retries) {
      giveUp(`association ${number} ended early (${why}) and --retries ${session.retries} are used up`, errorCode(outcome.error));
      return;
    }
    results.note(
      `association ${number} ended early (${why}); a new association for the ${queue.length} file${queue.length === 1 ? '' : 's'} left (retry ${inARow} of ${session.retries})`,
      { association: number, endedEarly: why, code: errorCode(outcome.error), left: queue.length, retry: inARow },
    );
    if (outcome.stored === 0) await new Promise((resolve) => setTimeout(resolve, RETRY_DELAY_MS));
  }
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
  const tls = tlsClientOptions(parsed);
  const userIdentity = userIdentityOption(options);

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
  const session: Session = {
    settings,
    target,
    tls,
    userIdentity,
    propose,
    retries,
    results,
    progress,
    errors: new Set(),
    opened: 0,
    handedOver: [],
    running: 0,
  };
  if (jobs.length === 0) session.errors.add('no DICOM file to send');
  await Promise.all(split(jobs, lanes).map((files, lane) => runLane(session, lane, files, lanes > 1)));
  // Handed over after every other lane was done: one more lane for them, which keeps them.
  if (session.handedOver.length > 0) await runLane(session, 0, session.handedOver.splice(0), false);
  progress.finish();
  results.summary(progress.elapsedSeconds(), session.opened, [...session.errors]);
  return results.allStored && jobs.length > 0 ? 0 : 1;
}
