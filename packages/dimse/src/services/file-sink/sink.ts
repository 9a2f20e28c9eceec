import { randomBytes } from 'node:crypto';
import { renameSync } from 'node:fs';
import { rename, unlink } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { IMPLEMENTATION_CLASS_UID, IMPLEMENTATION_VERSION_NAME } from '@dimse-rx/association';
import { type DataSetHead, DataSetHeadReader, encodeFileMetaInformation } from '@dimse-rx/dataset';
import { Observable } from 'rxjs';
import { Status, StoreStatus } from '../../command/status.js';
import { BufferPool } from '../buffer-pool.js';
import type { StorageHandler, StoreAnswer, StoreRequestInfo } from '../store-scp.js';
import { Folders, removeStaleTemporaries } from './folders.js';
import { QuickWrites, WriteFile, writeAll, writeAllSync } from './write-file.js';

/** Where and how the file sink writes. */
export interface FileSinkOptions {
  /** The folder the files go to (created when missing). */
  readonly directory: string;
  /** The file's path inside `directory`; default `<SOP Instance UID>.dcm`. */
  readonly fileName?: (info: StoreRequestInfo) => string;
  /**
   * fsync the file and its folder before answering success (default true): a success answer
   * then means the data is on disk. Turning it off is for measuring what it costs.
   */
  readonly fsync?: boolean;
  /**
   * Check, as the bytes stream to disk, that the data set parses as the negotiated transfer
   * syntax up to its SOP Class and Instance UIDs and that they are the command's (default true).
   * Otherwise nothing is kept and the answer is 0xA900 (another SOP class or instance) or 0xC000
   * (not a data set in that syntax).
   */
  readonly validate?: boolean;
  /**
   * Open, write, close and rename a small file at once while the file system answers quickly
   * (default true); false sends every operation through Node's thread pool (a network file system).
   */
  readonly quickWrites?: boolean;
}

const SOP_CLASS_UID = 0x00080016;
const SOP_INSTANCE_UID = 0x00080018;

/** Why a data set is not what its command says, as the answer to give; undefined when it is. */
function judge(head: DataSetHead, info: StoreRequestInfo): Exclude<StoreAnswer, number> | undefined {
  if (head.error) {
    return {
      status: StoreStatus.CannotUnderstand,
      errorComment: 'Data set does not parse as its transfer syntax',
      detail: `${info.sopInstanceUid}: not a data set in ${info.transferSyntaxUid}: ${head.error.message}`,
    };
  }
  if (!head.complete) return undefined; // a deflated head too long to look at: not judged
  const sopClass = head.string(SOP_CLASS_UID);
  const sopInstance = head.string(SOP_INSTANCE_UID);
  if (sopClass !== info.sopClassUid) {
    return {
      status: StoreStatus.DataSetDoesNotMatchSopClass,
      errorComment: sopClass ? 'SOP Class UID of data set differs from command' : 'No SOP Class UID in the data set',
      detail: `${info.sopInstanceUid}: the command says SOP class ${info.sopClassUid}, the data set ${sopClass ?? 'none'}`,
    };
  }
  if (sopInstance !== info.sopInstanceUid) {
    return {
      status: StoreStatus.DataSetDoesNotMatchSopClass,
      errorComment: sopInstance ? 'SOP Instance UID of data set differs from command' : 'No SOP Instance UID in the data set',
      detail: `the command says SOP instance ${info.sopInstanceUid}, the data set ${sopInstance ?? 'none'}`,
    };
  }
  return undefined;
}

/** UIDs are digits and dots; anything else is kept out of file names. */
const safeName = (uid: string) => uid.replace(/[^0-9A-Za-z._-]/g, '_') || 'unnamed';

/** The blocks a data set is copied into and written in. */
const BLOCK = 1 << 20;
/** The least written of a block before it is full (the rest of a data set is written at its end). */
const EARLY_WRITE = 128 << 10;
/** Bytes written between two intermediate fdatasyncs of a large file. */
const SYNC_EVERY = 16 << 20;
/** Blocks full or being written past which reading from the peer pauses (4 MiB behind). */
const MAX_BLOCKS = 4;

/**
 * A storage handler that writes each data set as a Part 10 file: preamble and meta information
 * built from the association (SOP class and instance, transfer syntax, our implementation
 * class UID and version name, the calling AE title as source), then the received bytes as they
 * are. It writes to a temporary file in the same folder, fsyncs it, renames it into place and
 * fsyncs the folder; success comes only after that. On abort or error the temporary file is
 * removed; a disk error answers 0xA700 and the rest of the data set is read and dropped so the
 * association goes on.
 */
export function fileSink(options: FileSinkOptions): StorageHandler {
  const durable = options.fsync ?? true;
  const validate = options.validate ?? true;
  void removeStaleTemporaries(options.directory);
  const folders = new Folders(durable);
  const quickWrites = new QuickWrites(options.quickWrites ?? true);
  const pool = new BufferPool();
  // Temporary names unique to this sink (two sinks may share a folder) and to this process.
  const sinkId = randomBytes(3).toString('hex');
  let counter = 0;
  return (info, data) =>
    new Observable<StoreAnswer>((subscriber) => {
      const target = join(options.directory, options.fileName ? options.fileName(info) : `${safeName(info.sopInstanceUid)}.dcm`);
      const folder = dirname(target);
      const temporary = join(folder, `.${safeName(info.sopInstanceUid)}.${process.pid}.${sinkId}${++counter}.part`);
      let file: WriteFile | undefined;
      let failed: Error | undefined;
      let abandoned = false;
      /** The answer for a data set that is not stored: a failure's, or the check's. */
      let refusal: Exclude<StoreAnswer, number> | undefined;
      const checker = validate ? new DataSetHeadReader(info.transferSyntaxUid, [SOP_CLASS_UID, SOP_INSTANCE_UID]) : undefined;
      /** Data written since the last intermediate fdatasync, and that sync: the final fsync has less left to do. */
      let unsynced = 0;
      let syncing: Promise<void> = Promise.resolve();
      let finished = false;
      let ended = false;
      let finishing = false;
      // What arrives is copied into blocks of our own and written as it comes, a range of a block
      // at a time: the socket's buffers are let go at once, memory is the few blocks in flight
      // whatever the GC does, and when the last byte arrives little is left to write.
      let current = pool.take(BLOCK);
      let fill = 0;
      /** Bytes of `current` handed to a write already. */
      let flushed = 0;
      /** Ranges waiting for the disk, in order; `last` marks a block's final range, after whose write the block is given back. */
      let queue: { block: Buffer; start: number; end: number; last: boolean }[] = [];
      /** Ranges being written (one write at a time). */
      let inFlight = 0;
      let position = 0;
      // Taken while the disk is behind by MAX_BLOCKS blocks: the socket waits, not memory.
      let release: (() => void) | undefined;
      const append = (bytes: Uint8Array) => {
        let offset = 0;
        while (offset < bytes.length) {
          const n = Math.min(BLOCK - fill, bytes.length - offset);
          current.set(bytes.subarray(offset, offset + n), fill);
          fill += n;
          offset += n;
          if (fill === BLOCK) {
            queue.push({ block: current, start: flushed, end: BLOCK, last: true });
            current = pool.take(BLOCK);
            fill = 0;
            flushed = 0;
          }
        }
      };
      append(
        encodeFileMetaInformation({
          mediaStorageSopClassUid: info.sopClassUid,
          mediaStorageSopInstanceUid: info.sopInstanceUid,
          transferSyntaxUid: info.transferSyntaxUid,
          implementationClassUid: IMPLEMENTATION_CLASS_UID,
          implementationVersionName: IMPLEMENTATION_VERSION_NAME,
          sourceApplicationEntityTitle: info.callingAeTitle,
        }),
      );
      const recycleAll = () => {
        for (const range of queue) if (range.last) pool.giveBack(range.block);
        queue = [];
        // fill < 0: `current` went to the queue as the last range and comes back with its write.
        if (fill >= 0) pool.giveBack(current);
        fill = -1;
      };

      const discard = async () => {
        const opened = file;
        file = undefined;
        if (!opened) return;
        // close() waits for a write still running.
        await opened.close().catch(() => undefined);
        await unlink(temporary).catch(() => undefined);
      };
      /** The temporary file's open, then its removal after a failure: a failure is answered once nothing is left. */
      let cleared: Promise<unknown> = Promise.resolve();
      const answerFailure = () => {
        if (finished) return;
        finished = true;
        void cleared.then(() => {
          subscriber.next(refusal!);
          subscriber.complete();
        });
      };
      const fail = (error: Error, answer?: Exclude<StoreAnswer, number>) => {
        if (failed) return;
        failed = error;
        // The peer hears what kind of failure it was, never a path of ours; the log has the whole cause.
        const code = (error as NodeJS.ErrnoException).code;
        refusal = answer ?? {
          status: StoreStatus.OutOfResources,
          errorComment: `Cannot store the data set (${code ?? 'write error'})`,
          detail: `${info.sopInstanceUid}: ${error.message}`,
        };
        release?.();
        release = undefined;
        // Blocks being written come back when their write ends; the others now.
        recycleAll();
        cleared = cleared.then(discard);
        // Answer once the rest of the data set has been read (and dropped).
        if (ended) answerFailure();
      };
      const succeed = () => {
        finished = true;
        subscriber.next({
          status: Status.Success,
          stored: {
            path: target,
            size: position,
            sopClassUid: info.sopClassUid,
            sopInstanceUid: info.sopInstanceUid,
            transferSyntaxUid: info.transferSyntaxUid,
          },
        });
        subscriber.complete();
      };
      const finish = async () => {
        finishing = true;
        const opened = file!;
        let renamed = false;
        try {
          if (checker) {
            const refused = judge(checker.done ? checker.head : checker.end(), info);
            if (refused) {
              finishing = false;
              fail(new Error(refused.detail), refused);
              return;
            }
          }
          if (!durable && quickWrites.allowed()) {
            // Nothing to wait for on disk: closed and renamed at once, no round trip.
            file = undefined;
            const started = performance.now();
            try {
              opened.closeSync();
              renameSync(temporary, target);
              quickWrites.took(performance.now() - started);
            } catch (error) {
              await unlink(temporary).catch(() => undefined);
              fail(error as Error);
              return;
            }
            succeed();
            return;
          }
          if (durable) {
            await syncing;
            await opened.sync();
          }
          file = undefined;
          // Closed and renamed at once (POSIX renames an open file): one round trip to the file
          // system before the answer, not two. Where an open file cannot be renamed (Windows),
          // the rename waits for the close.
          const closing = opened.close();
          closing.catch(() => undefined); // awaited below; a rename failing first must not leave it unhandled
          try {
            await rename(temporary, target);
          } catch (error) {
            const code = (error as NodeJS.ErrnoException).code;
            if (code !== 'EPERM' && code !== 'EBUSY' && code !== 'EACCES') throw error;
            await closing;
            await rename(temporary, target);
          }
          renamed = true;
          await closing;
          if (durable) await folders.fsync(folder);
          succeed();
        } catch (error) {
          // A file whose name may not survive a crash is not answered as stored, nor kept.
          if (renamed) await unlink(target).catch(() => undefined);
          else await unlink(temporary).catch(() => undefined);
          await opened.close().catch(() => undefined);
          fail(error as Error);
        }
      };
      const flush = () => {
        if (inFlight > 0 || failed || finishing || !file) return;
        const quick = quickWrites.allowed();
        // What has arrived of the current block, from EARLY_WRITE bytes on (a write a PDU would
        // cost a system call for each 16 KiB: 0.6 ms a 512 KiB image where 4 writes take 0.35);
        // at the end, the rest.
        if (queue.length === 0 && fill > flushed && (ended || fill - flushed >= EARLY_WRITE)) {
          queue.push({ block: current, start: flushed, end: fill, last: ended });
          flushed = fill;
          if (ended) fill = -1; // `current` is in the queue now: not to be given back twice
        }
        if (queue.length === 0) {
          if (ended) {
            recycleAll();
            void finish();
          }
          return;
        }
        const batch = queue;
        queue = [];
        inFlight = batch.length;
        const bytes = batch.reduce((n, r) => n + r.end - r.start, 0);
        const buffers = batch.map((r) => r.block.subarray(r.start, r.end));
        const recycle = () => {
          for (const range of batch) if (range.last) pool.giveBack(range.block);
        };
        const written = () => {
          inFlight = 0;
          position += bytes;
          recycle();
          unsynced += bytes;
          if (durable && unsynced >= SYNC_EVERY && file) {
            // Flushed as it arrives: the fsync before the answer has only the last blocks to write.
            unsynced = 0;
            const f = file;
            syncing = syncing.then(() => f.datasync()).catch(() => undefined);
          }
          if (release && queue.length < MAX_BLOCKS / 2) {
            release();
            release = undefined;
          }
          flush();
        };
        const notWritten = (error: Error) => {
          recycle();
          fail(error);
        };
        if (quick && !file.busy) {
          // Into the page cache at once, while that is quick: no round trip to the thread pool.
          const started = performance.now();
          try {
            writeAllSync(file.fd, buffers, position);
          } catch (error) {
            notWritten(error as Error);
            return;
          }
          quickWrites.took(performance.now() - started);
          written();
        } else {
          writeAll(file, buffers, position).then(written, notWritten);
        }
      };

      /** The file is open: written to, or (failed or given up meanwhile) closed and removed, which the answer waits for. */
      const opened = async (f: WriteFile): Promise<void> => {
        if (failed || abandoned) {
          await f
            .close()
            .then(() => unlink(temporary))
            .catch(() => undefined);
          return;
        }
        file = f;
        flush();
      };
      let quickFile: WriteFile | undefined;
      if (folders.isMade(folder) && quickWrites.allowed()) {
        // The folder is there: the file is opened now, and written from the first bytes on.
        const started = performance.now();
        try {
          quickFile = WriteFile.openSync(temporary);
          quickWrites.took(performance.now() - started);
        } catch {
          folders.forget(folder); // removed since, say: the slow way finds out and makes it again
        }
      }
      if (quickFile) void opened(quickFile);
      else cleared = folders.openFile(temporary, folder).then(opened).catch(fail);

      // Read only now that the file's open has started: a data set already here (and refused at
      // its first chunk) fails and is answered after the file opened for it is closed and removed.
      const reading = data.chunks.subscribe({
        next: (chunk) => {
          // After a failure the rest of the data set is read and dropped, not kept.
          if (failed) return;
          if (checker && !checker.done && checker.push(chunk)) {
            const refused = judge(checker.head, info);
            if (refused) {
              fail(new Error(refused.detail), refused);
              return;
            }
          }
          append(chunk);
          if (queue.length + inFlight >= MAX_BLOCKS && !release) release = data.hold();
          flush();
        },
        complete: () => {
          ended = true;
          // Every byte has arrived: a hold must not outlive the data set.
          release?.();
          release = undefined;
          if (failed) answerFailure();
          else flush();
        },
        error: (error: Error) => {
          // The association ended in the middle: nothing may be left behind.
          failed = error;
          release = undefined;
          recycleAll();
          void discard();
          if (!finished) subscriber.error(error);
        },
      });

      return () => {
        abandoned = true;
        reading.unsubscribe();
        if (!finished) void discard();
      };
    });
}
