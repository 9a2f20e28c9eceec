import { close, closeSync, fdatasync, fsync, open, openSync, writev, writevSync } from 'node:fs';

/**
 * A file open for writing, by its descriptor: written at once (`fd`) or through the thread pool,
 * closed exactly once, and never while one of its operations is still running.
 */
export class WriteFile {
  readonly fd: number;
  #running = 0;
  #idle: (() => void)[] = [];
  #closed = false;

  private constructor(fd: number) {
    this.fd = fd;
  }

  static open(path: string): Promise<WriteFile> {
    return new Promise((resolve, reject) => open(path, 'wx', (error, fd) => (error ? reject(error) : resolve(new WriteFile(fd)))));
  }

  static openSync(path: string): WriteFile {
    return new WriteFile(openSync(path, 'wx'));
  }

  /** Whether an operation of the thread pool is running on it. */
  get busy(): boolean {
    return this.#running > 0;
  }

  #run<T>(operation: (done: (error: Error | null, value?: T) => void) => void): Promise<T> {
    if (this.#closed) return Promise.reject(new Error('The file is closed'));
    this.#running++;
    return new Promise<T>((resolve, reject) =>
      operation((error, value) => {
        if (--this.#running === 0) for (const wake of this.#idle.splice(0)) wake();
        if (error) reject(error);
        else resolve(value as T);
      }),
    );
  }

  writev(buffers: Uint8Array[], position: number): Promise<{ bytesWritten: number }> {
    return this.#run<number>((done) => writev(this.fd, buffers, position, (error, n) => done(error, n))).then((bytesWritten) => ({
      bytesWritten,
    }));
  }

  sync(): Promise<void> {
    return this.#run<void>((done) => fsync(this.fd, (error) => done(error)));
  }

  datasync(): Promise<void> {
    return this.#run<void>((done) => fdatasync(this.fd, (error) => done(error)));
  }

  /** Closes once its running operations have ended; again is a no-op. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    while (this.#running > 0) await new Promise<void>((wake) => this.#idle.push(wake));
    await new Promise<void>((resolve, reject) => close(this.fd, (error) => (error ? reject(error) : resolve())));
  }

  /** Closes at once; only when nothing runs on it. */
  closeSync(): void {
    if (this.#closed) return;
    if (this.#running > 0) throw new Error('closeSync with an operation running');
    this.#closed = true;
    closeSync(this.fd);
  }
}

/** Buffers one writev takes at most (IOV_MAX is 1024 on Linux). */
const WRITEV_MAX = 512;

/**
 * Whether a file's open, writes, close and rename are done at once (synchronously) rather than
 * through the thread pool: at once they cost no round trip, which is most of a small file's time
 * before its answer, but they hold every association while they run. So only while they are
 * quick: one that takes longer than QUICK_WRITE_MS (the disk is behind, the page cache full)
 * sends everything to the thread pool for the next QUICK_PAUSE_MS. fsyncs always go there.
 */
const QUICK_WRITE_MS = 4;
const QUICK_PAUSE_MS = 5_000;
export class QuickWrites {
  #pausedUntil: number;
  /** `enabled` false: every write goes through the thread pool. */
  constructor(enabled = true) {
    this.#pausedUntil = enabled ? 0 : Number.POSITIVE_INFINITY;
  }
  allowed(): boolean {
    return performance.now() >= this.#pausedUntil;
  }
  took(ms: number): void {
    if (ms > QUICK_WRITE_MS && Number.isFinite(this.#pausedUntil)) this.#pausedUntil = performance.now() + QUICK_PAUSE_MS;
  }
}

/** The next batch of one writev (IOV_MAX is 1024 on Linux). */
const nextBatch = (rest: Uint8Array[]) => (rest.length > WRITEV_MAX ? rest.slice(0, WRITEV_MAX) : rest);

/** What is left to write after a writev of `batch` (the start of `rest`) wrote `bytesWritten`. */
function leftAfter(rest: Uint8Array[], batch: Uint8Array[], bytesWritten: number, at: number): Uint8Array[] {
  if (bytesWritten === 0) throw new Error(`Nothing written at byte ${at} of the file`);
  // Drop what was written whole; keep the unwritten end of a buffer cut short.
  let skip = bytesWritten;
  let i = 0;
  while (i < batch.length && skip >= batch[i]!.length) skip -= batch[i++]!.length;
  const left = batch.slice(i);
  if (skip > 0 && left.length > 0) left[0] = left[0]!.subarray(skip);
  return [...left, ...rest.slice(batch.length)];
}

/** writeAll at once: every byte of `buffers` at `position`, whatever partial writes the system makes. */
export function writeAllSync(fd: number, buffers: Uint8Array[], position: number): void {
  let rest = buffers;
  let at = position;
  while (rest.length > 0) {
    const batch = nextBatch(rest);
    const bytesWritten = writevSync(fd, batch, at);
    rest = leftAfter(rest, batch, bytesWritten, at);
    at += bytesWritten;
  }
}

/** Writes `buffers` at `position`, in order, whatever partial writes the system makes.  */
export async function writeAll(
  handle: { writev(buffers: Uint8Array[], position: number): Promise<{ bytesWritten: number }> },
  buffers: Uint8Array[],
  position: number,
): Promise<void> {
  let rest = buffers;
  let at = position;
  while (rest.length > 0) {
    const batch = nextBatch(rest);
    const { bytesWritten } = await handle.writev(batch, at);
    rest = leftAfter(rest, batch, bytesWritten, at);
    at += bytesWritten;
  }
}
