import { close, fsync, open } from 'node:fs';
import { mkdir, readdir, unlink } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { WriteFile } from './write-file.js';

/** Temporary files are `.<name>.<pid>.<sink><n>.part` (hex): the pid says whether their writer still runs. */
const TEMPORARY = /^\..*\.([0-9]+)\.[0-9a-f]+\.part$/;

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
};

/** Removes the temporary files that a killed process left in `directory`: they were never answered as stored. */
export async function removeStaleTemporaries(directory: string): Promise<void> {
  const names = await readdir(directory).catch(() => [] as string[]);
  await Promise.all(
    names.map((name) => {
      const pid = TEMPORARY.exec(name)?.[1];
      if (pid === undefined || Number(pid) === process.pid || alive(Number(pid))) return undefined;
      return unlink(join(directory, name)).catch(() => undefined);
    }),
  );
}

/** Folder descriptors kept open for their fsyncs: one open per folder, not one per file. */
const FOLDERS_KEPT_OPEN = 8;

/**
 * The folders of one file sink: made once each (and made durable), their fsyncs through
 * descriptors kept open, a folder removed behind the sink's back made again.
 */
export class Folders {
  readonly #durable: boolean;
  readonly #descriptors = new Map<string, Promise<number>>();
  /**
   * Folders made (and made durable) already: one mkdir per folder, not one per file; `made` once
   * it is there, so that a file in it can be opened at once while that is quick.
   */
  readonly #made = new Map<string, { readonly ready: Promise<void>; made: boolean }>();

  constructor(durable: boolean) {
    this.#durable = durable;
  }

  /** Whether the folder is known to be there (a file in it may be opened at once). */
  isMade(folder: string): boolean {
    return this.#made.get(folder)?.made === true;
  }

  /** Forgets a folder found missing: the next file makes it again. */
  forget(folder: string): void {
    this.#made.delete(folder);
  }

  prepare(folder: string): Promise<void> {
    let known = this.#made.get(folder);
    if (!known) {
      const entry: { ready: Promise<void>; made: boolean } = {
        ready: mkdir(folder, { recursive: true }).then((created) =>
          this.#durable && created !== undefined ? this.#syncNew(created, folder) : undefined,
        ),
        made: false,
      };
      entry.ready.then(
        () => (entry.made = true),
        // A folder that could not be made is tried again by the next file.
        () => this.#made.get(folder) === entry && this.#made.delete(folder),
      );
      this.#made.set(folder, entry);
      known = entry;
    }
    return known.ready;
  }

  /** Opens a new file in its folder, making the folder (again) when it is not there. */
  async openFile(path: string, folder: string): Promise<WriteFile> {
    await this.prepare(folder);
    try {
      return await WriteFile.open(path);
    } catch (error) {
      // The folder was removed since it was made: made again, not failed until a restart.
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
      this.#made.delete(folder);
      await this.prepare(folder);
      return WriteFile.open(path);
    }
  }

  /** fsync of a folder (its entries: a file renamed into it), through a descriptor kept open. */
  fsync(folder: string): Promise<void> {
    const descriptors = this.#descriptors;
    let fd = descriptors.get(folder);
    if (!fd) {
      fd = new Promise<number>((resolve, reject) => open(folder, 'r', (error, n) => (error ? reject(error) : resolve(n))));
      descriptors.set(folder, fd);
      fd.catch(() => descriptors.delete(folder));
      if (descriptors.size > FOLDERS_KEPT_OPEN) {
        const [oldest, descriptor] = descriptors.entries().next().value as [string, Promise<number>];
        descriptors.delete(oldest);
        // Closed once the fsyncs already started on it are done.
        void descriptor.then(
          (n) => setTimeout(() => close(n, () => undefined), 1_000).unref(),
          () => undefined,
        );
      }
    }
    const opened = fd;
    return opened.then(
      (n) =>
        new Promise<void>((resolve, reject) =>
          fsync(n, (error) => {
            if (!error) return resolve();
            // A folder removed and made again has another descriptor: the next fsync opens it anew.
            if (descriptors.get(folder) === opened) descriptors.delete(folder);
            reject(error);
          }),
        ),
    );
  }

  /**
   * After `mkdir -p` created `first` and the folders below it down to `last`: each new folder's
   * entry is made durable by an fsync of its parent, so a file stored in it survives a crash.
   */
  async #syncNew(first: string, last: string): Promise<void> {
    const chain: string[] = [];
    for (let folder = resolve(last); ; folder = dirname(folder)) {
      chain.unshift(folder);
      if (folder === resolve(first) || dirname(folder) === folder) break;
    }
    for (const folder of chain) await this.fsync(dirname(folder));
  }
}
