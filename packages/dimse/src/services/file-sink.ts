import { close, fsync, open } from 'node:fs';
import { type FileHandle, open as fsOpen, mkdir, rename, unlink } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { IMPLEMENTATION_CLASS_UID, IMPLEMENTATION_VERSION_NAME } from '@dimse-rx/association';
import { Observable } from 'rxjs';
import { Status } from '../command/status.js';
import { encodeFileMetaInformation } from '../dataset/part10.js';
import { giveBack, takeBuffer } from './buffer-pool.js';
import type { StorageHandler, StoreAnswer, StoreRequestInfo } from './store-scp.js';

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
}

let counter = 0;

const fsyncPath = (path: string, flags: string) =>
  new Promise<void>((resolve, reject) =>
    open(path, flags, (error, fd) => {
      if (error) return reject(error);
      fsync(fd, (syncError) => close(fd, () => (syncError ? reject(syncError) : resolve())));
    }),
  );

/**
 * After `mkdir -p` created `first` and the folders below it down to `last`: each new folder's
 * entry is made durable by an fsync of its parent, so a file stored in it survives a crash.
 */
async function syncNewFolders(first: string, last: string): Promise<void> {
  const chain: string[] = [];
  for (let folder = resolve(last); ; folder = dirname(folder)) {
    chain.unshift(folder);
    if (folder === resolve(first) || dirname(folder) === folder) break;
  }
  for (const folder of chain) await fsyncPath(dirname(folder), 'r');
}

/** UIDs are digits and dots; anything else is kept out of file names. */
const safeName = (uid: string) => uid.replace(/[^0-9A-Za-z._-]/g, '_') || 'unnamed';

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
  /** Folders made (and made durable) already: one mkdir per folder, not one per file. */
  const folders = new Map<string, Promise<void>>();
  const prepareFolder = (folder: string): Promise<void> => {
    let ready = folders.get(folder);
    if (!ready) {
      ready = mkdir(folder, { recursive: true }).then((created) =>
        durable && created !== undefined ? syncNewFolders(created, folder) : undefined,
      );
      // A folder that could not be made is tried again by the next file.
      ready.catch(() => folders.delete(folder));
      folders.set(folder, ready);
    }
    return ready;
  };
  return (info, data) =>
    new Observable<StoreAnswer>((subscriber) => {
      const target = join(options.directory, options.fileName ? options.fileName(info) : `${safeName(info.sopInstanceUid)}.dcm`);
      const folder = dirname(target);
      const temporary = join(folder, `.${safeName(info.sopInstanceUid)}.${process.pid}.${++counter}.part`);
      let handle: FileHandle | undefined;
      let failed: Error | undefined;
      let finished = false;
      let ended = false;
      let finishing = false;
      // What arrives is copied into blocks of our own, written whole as they fill: the socket's
      // buffers are let go at once, and memory is the few blocks in flight, whatever the GC does.
      let current = takeBuffer(BLOCK);
      let fill = 0;
      /** Full blocks waiting for the disk, in order. */
      let queue: Uint8Array[] = [];
      /** Blocks being written (one writev at a time). */
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
            queue.push(current);
            current = takeBuffer(BLOCK);
            fill = 0;
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
        for (const block of queue) giveBack(block);
        queue = [];
        // fill < 0: `current` went to the queue as the last block and comes back with its write.
        if (fill >= 0) giveBack(current);
        fill = -1;
      };

      const discard = async () => {
        const opened = handle;
        handle = undefined;
        // close() waits for a write still running.
        await opened?.close().catch(() => undefined);
        await unlink(temporary).catch(() => undefined);
      };
      const answerFailure = () => {
        if (finished) return;
        finished = true;
        subscriber.next({ status: Status.RefusedOutOfResources, errorComment: `Cannot store: ${failed!.message}` });
        subscriber.complete();
      };
      const fail = (error: Error) => {
        if (failed) return;
        failed = error;
        release?.();
        release = undefined;
        // Blocks being written come back when their write ends; the others now.
        recycleAll();
        void discard();
        // Answer once the rest of the data set has been read (and dropped).
        if (ended) answerFailure();
      };
      const finish = async () => {
        finishing = true;
        const opened = handle!;
        let renamed = false;
        try {
          if (durable) await opened.sync();
          handle = undefined;
          await opened.close();
          await rename(temporary, target);
          renamed = true;
          if (durable) await fsyncPath(folder, 'r');
          finished = true;
          subscriber.next(Status.Success);
          subscriber.complete();
        } catch (error) {
          // A file whose name may not survive a crash is not answered as stored, nor kept.
          if (renamed) await unlink(target).catch(() => undefined);
          else await opened.close().catch(() => undefined);
          fail(error as Error);
        }
      };
      const flush = () => {
        if (inFlight > 0 || failed || finishing || !handle) return;
        if (queue.length === 0 && ended && fill > 0) {
          // The last, partly filled block.
          queue.push(current.subarray(0, fill));
          fill = -1; // `current` is in the queue now: not to be given back twice
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
        const bytes = batch.reduce((n, b) => n + b.length, 0);
        writeAll(handle, batch, position).then(
          () => {
            inFlight = 0;
            position += bytes;
            for (const block of batch) giveBack(block);
            if (release && queue.length < MAX_BLOCKS / 2) {
              release();
              release = undefined;
            }
            flush();
          },
          (error: Error) => {
            for (const block of batch) giveBack(block);
            fail(error);
          },
        );
      };

      const reading = data.chunks.subscribe({
        next: (chunk) => {
          // After a failure the rest of the data set is read and dropped, not kept.
          if (failed) return;
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

      prepareFolder(folder)
        .then(() => fsOpen(temporary, 'wx'))
        .then((opened) => {
          if (failed) {
            void opened.close().catch(() => undefined);
            void unlink(temporary).catch(() => undefined);
            return;
          }
          handle = opened;
          flush();
        })
        .catch(fail);

      return () => {
        reading.unsubscribe();
        if (!finished) void discard();
      };
    });
}

/** The blocks a data set is copied into and written in. */
const BLOCK = 1 << 20;
/** Blocks full or being written past which reading from the peer pauses (4 MiB behind). */
const MAX_BLOCKS = 4;
/** Buffers one writev takes at most (IOV_MAX is 1024 on Linux). */
const WRITEV_MAX = 512;

/** Writes `buffers` at `position`, in order, whatever partial writes the system makes. (Exported for its tests, not by the package.) */
export async function writeAll(handle: FileHandle, buffers: Uint8Array[], position: number): Promise<void> {
  let rest = buffers;
  let at = position;
  while (rest.length > 0) {
    const batch = rest.length > WRITEV_MAX ? rest.slice(0, WRITEV_MAX) : rest;
    const { bytesWritten } = await handle.writev(batch, at);
    if (bytesWritten === 0) throw new Error(`Nothing written at byte ${at} of the file`);
    at += bytesWritten;
    // Drop what was written whole; keep the unwritten end of a buffer cut short.
    let skip = bytesWritten;
    let i = 0;
    while (i < batch.length && skip >= batch[i]!.length) skip -= batch[i++]!.length;
    const left = batch.slice(i);
    if (skip > 0 && left.length > 0) left[0] = left[0]!.subarray(skip);
    rest = [...left, ...rest.slice(batch.length)];
  }
}
