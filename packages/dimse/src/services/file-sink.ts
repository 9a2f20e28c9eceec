import { once } from 'node:events';
import { close, fsync, open, type WriteStream } from 'node:fs';
import { type FileHandle, open as fsOpen, mkdir, rename, unlink } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { IMPLEMENTATION_CLASS_UID, IMPLEMENTATION_VERSION_NAME } from '@dimse-rx/association';
import { Observable } from 'rxjs';
import { Status } from '../command/status.js';
import { encodeFileMetaInformation } from '../dataset/part10.js';
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
  return (info, data) =>
    new Observable<StoreAnswer>((subscriber) => {
      const target = join(options.directory, options.fileName ? options.fileName(info) : `${safeName(info.sopInstanceUid)}.dcm`);
      const folder = dirname(target);
      const temporary = join(folder, `.${safeName(info.sopInstanceUid)}.${process.pid}.${++counter}.part`);
      let handle: FileHandle | undefined;
      let stream: WriteStream | undefined;
      let failed: Error | undefined;
      let finished = false;
      const pending: Uint8Array[] = [];
      let ended = false;
      // Held until the file is open: what arrives before waits in the socket, not here.
      let release: (() => void) | undefined = data.hold();

      const discard = async () => {
        if (stream && !stream.destroyed) {
          stream.destroy();
          await once(stream, 'close').catch(() => undefined);
        }
        await handle?.close().catch(() => undefined);
        handle = undefined;
        await unlink(temporary).catch(() => undefined);
      };
      const fail = (error: Error) => {
        if (failed) return;
        failed = error;
        release?.();
        release = undefined;
        pending.length = 0;
        void discard();
        // Answer once the rest of the data set has been read (and dropped).
        if (ended) answerFailure();
      };
      const answerFailure = () => {
        if (finished) return;
        finished = true;
        subscriber.next({ status: Status.RefusedOutOfResources, errorComment: `Cannot store: ${failed!.message}` });
        subscriber.complete();
      };
      const write = (chunk: Uint8Array) => {
        if (failed || !stream) return;
        if (!stream.write(chunk) && !release) {
          release = data.hold();
          stream.once('drain', () => {
            release?.();
            release = undefined;
          });
        }
      };
      const complete = () => {
        if (failed) return answerFailure();
        // Every byte has arrived: a hold taken for 'drain' must not outlive it ('drain' does not come once ending).
        release?.();
        release = undefined;
        const s = stream!;
        s.end(async (error?: Error | null) => {
          // A write that failed late has been reported through 'error' (fail): nothing to finish.
          if (error || failed) {
            if (error) fail(error);
            return;
          }
          let renamed = false;
          try {
            if (durable) await handle!.sync();
            // The stream holds the handle until it is closed itself (autoClose is off so the sync comes first).
            s.destroy();
            await once(s, 'close');
            await handle!.close();
            handle = undefined;
            await rename(temporary, target);
            renamed = true;
            if (durable) await fsyncPath(folder, 'r');
            finished = true;
            subscriber.next(Status.Success);
            subscriber.complete();
          } catch (error) {
            // A file whose name may not survive a crash is not answered as stored, nor kept.
            if (renamed) await unlink(target).catch(() => undefined);
            fail(error as Error);
          }
        });
      };

      const reading = data.chunks.subscribe({
        next: (chunk) => {
          // After a failure the rest of the data set is read and dropped, not kept.
          if (failed) return;
          if (stream) write(chunk);
          else pending.push(chunk);
        },
        complete: () => {
          ended = true;
          if (stream || failed) complete();
        },
        error: (error: Error) => {
          // The association ended in the middle: nothing may be left behind.
          failed = error;
          void discard();
          if (!finished) subscriber.error(error);
        },
      });

      mkdir(folder, { recursive: true })
        .then((created) => (durable && created !== undefined ? syncNewFolders(created, folder) : undefined))
        .then(() => fsOpen(temporary, 'wx'))
        .then((opened) => {
          handle = opened;
          if (failed) return discard();
          stream = opened.createWriteStream({ autoClose: false });
          stream.on('error', fail);
          release?.();
          release = undefined;
          stream.write(
            encodeFileMetaInformation({
              mediaStorageSopClassUid: info.sopClassUid,
              mediaStorageSopInstanceUid: info.sopInstanceUid,
              transferSyntaxUid: info.transferSyntaxUid,
              implementationClassUid: IMPLEMENTATION_CLASS_UID,
              implementationVersionName: IMPLEMENTATION_VERSION_NAME,
              sourceApplicationEntityTitle: info.callingAeTitle,
            }),
          );
          for (const chunk of pending.splice(0)) write(chunk);
          if (ended) complete();
          return undefined;
        })
        .catch(fail);

      return () => {
        reading.unsubscribe();
        if (!finished) void discard();
      };
    });
}
