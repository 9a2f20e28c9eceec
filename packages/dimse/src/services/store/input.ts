import type { FileHandle } from 'node:fs/promises';
import { Readable } from 'node:stream';
import type { Association } from '@dimse-rx/association';
import { encodeDataset, inspectDicomBytes, type NaturalizedDataset, openDicomFile, TransferSyntax } from '@dimse-rx/dataset';
import type { RecyclingDataSource } from '../../channel.js';
import type { BufferPool } from '../buffer-pool.js';
import type { StoreOptions } from './store.js';

/** What `store()` sends: a Part 10 file by path, Part 10 bytes, or a naturalized data set. */
export type StoreInput =
  | string
  | Uint8Array
  | {
      readonly dataset: NaturalizedDataset;
      /** Default: the data set's SOPClassUID. */
      readonly sopClassUid?: string;
      /** Default: the data set's SOPInstanceUID. */
      readonly sopInstanceUid?: string;
    };

export interface Prepared {
  readonly sopClassUid: string;
  readonly sopInstanceUid: string;
  readonly sourceSyntax: string;
  readonly totalBytes: number;
  readonly warnings: readonly string[];
  /** Opens the data set bytes in the source syntax. */
  readonly open: () => Readable;
  /** The same bytes as chunks whose buffers are reused once sent, where the input allows. */
  readonly openRecycling?: () => RecyclingDataSource & { destroy(): void };
  /** Lets go of what `prepare` opened when the data set is never read. */
  readonly close?: () => Promise<void>;
}

/** Chunks read ahead of the one being sent. */
const READ_AHEAD = 2;

/**
 * The data set of an open file: the bytes already read, then chunks from `position` to `size`,
 * the next read started while the current chunk is being sent. The buffers come from a pool and
 * go back to it when the channel has written them (`recycle`), so sending a file allocates
 * nothing per chunk. Closes the file at the end, on error and when destroyed; a destroyed source
 * fails its reader, so a data set cut short is never taken for a whole one.
 */
class FileChunks implements RecyclingDataSource {
  readonly #handle: FileHandle;
  readonly #first: Uint8Array;
  readonly #position: number;
  readonly #size: number;
  readonly #chunkSize: number;
  readonly #close: () => Promise<void>;
  readonly #pool: BufferPool;
  #destroyed = false;

  constructor(
    handle: FileHandle,
    first: Uint8Array,
    position: number,
    size: number,
    chunkSize: number,
    close: () => Promise<void>,
    pool: BufferPool,
  ) {
    this.#pool = pool;
    this.#handle = handle;
    this.#first = first;
    this.#position = position;
    this.#size = size;
    this.#chunkSize = chunkSize;
    this.#close = close;
  }

  recycle(chunk: Uint8Array): void {
    this.#pool.giveBack(chunk);
  }

  destroy(): void {
    this.#destroyed = true;
    // Nobody may be reading: the file is closed now (a read in progress closes it when it ends).
    void this.#close();
  }

  /** `length` bytes from `at`, into a pooled buffer. */
  async #read(at: number, length: number): Promise<Uint8Array> {
    const buffer = this.#pool.take(this.#chunkSize).subarray(0, length);
    let filled = 0;
    while (filled < length) {
      const { bytesRead } = await this.#handle.read(buffer, filled, length - filled, at + filled);
      if (bytesRead === 0) throw new Error(`The file shrank while being sent (${at + filled} of ${this.#size} bytes)`);
      filled += bytesRead;
    }
    return buffer;
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<Uint8Array> {
    const size = this.#size;
    const readAt = (at: number): Promise<Uint8Array> => {
      const reading = this.#read(at, Math.min(this.#chunkSize, size - at));
      // Awaited below, or dropped when the reader stops: never an unhandled rejection.
      reading.catch(() => undefined);
      return reading;
    };
    const check = () => {
      if (this.#destroyed) throw new Error('The data set source was closed before its end');
    };
    // Reads run READ_AHEAD chunks ahead of the one being sent, so the disk is never waited for.
    let position = this.#position;
    const ahead: Promise<Uint8Array>[] = [];
    const fill = () => {
      while (ahead.length < READ_AHEAD && position < size) {
        ahead.push(readAt(position));
        position += Math.min(this.#chunkSize, size - position);
      }
    };
    try {
      fill();
      if (this.#first.length > 0) yield this.#first;
      while (ahead.length > 0) {
        const chunk = await ahead.shift()!;
        check();
        fill();
        yield chunk;
        check();
      }
    } finally {
      // Reads still running when the consumer left must end before the file is closed.
      await Promise.all(ahead.map((reading) => reading.catch(() => undefined)));
      await this.#close();
    }
  }
}

export async function prepare(input: StoreInput, chunkSize: number, pool: BufferPool): Promise<Prepared> {
  if (typeof input === 'string') {
    // One open and one read give the header and the first chunk; the rest is read on demand.
    const { header, handle, start } = await openDicomFile(input, chunkSize, (size) => pool.take(size));
    let closing: Promise<void> | undefined;
    const close = () => (closing ??= handle.close().catch(() => undefined));
    const chunks = () =>
      new FileChunks(handle, start.subarray(header.dataSetOffset), start.length, header.fileSize, chunkSize, close, pool);
    return {
      sopClassUid: header.sopClassUid,
      sopInstanceUid: header.sopInstanceUid,
      sourceSyntax: header.transferSyntaxUid,
      totalBytes: header.fileSize - header.dataSetOffset,
      warnings: header.warnings,
      // Converted data goes through a transcoder, which may pass views of its input on: no recycling there.
      open: () => Readable.from(chunks(), { objectMode: false }),
      openRecycling: chunks,
      // Once, whoever asks first: a source destroyed before it started (a Readable not yet read)
      // has no finally to run, and FileHandle.close waits for any read still running.
      close,
    };
  }
  if (input instanceof Uint8Array) {
    const header = inspectDicomBytes(input);
    const bytes = input.subarray(header.dataSetOffset);
    return {
      sopClassUid: header.sopClassUid,
      sopInstanceUid: header.sopInstanceUid,
      sourceSyntax: header.transferSyntaxUid,
      totalBytes: bytes.length,
      warnings: header.warnings,
      open: () => Readable.from([bytes], { objectMode: false }),
    };
  }
  const sopClassUid = input.sopClassUid ?? (input.dataset.SOPClassUID as string | undefined);
  const sopInstanceUid = input.sopInstanceUid ?? (input.dataset.SOPInstanceUID as string | undefined);
  if (!sopClassUid || !sopInstanceUid) throw new TypeError('store(): the data set needs SOPClassUID and SOPInstanceUID, or give them');
  const bytes = encodeDataset(input.dataset, TransferSyntax.ExplicitVrLittleEndian);
  return {
    sopClassUid,
    sopInstanceUid,
    sourceSyntax: TransferSyntax.ExplicitVrLittleEndian,
    totalBytes: bytes.length,
    warnings: [],
    open: () => Readable.from([bytes], { objectMode: false }),
  };
}

/** Bytes read at a time when the options do not say: 1 MiB, a few reads and writes per image (256 KiB gave two thirds of the rate). */
const READ_CHUNK = 1 << 20;

/** Bytes read from a file at a time: a multiple of the PDV value size near READ_CHUNK. */
export function chunkSizeFor(association: Association, options: StoreOptions): number {
  const given = options.readChunkSize;
  if (given !== undefined && (!Number.isInteger(given) || given < 1)) {
    throw new RangeError(`readChunkSize: ${given} is not a whole number of bytes, 1 or more`);
  }
  const pdv = association.maxPdvValueLength;
  return given ?? (Number.isFinite(pdv) && pdv < READ_CHUNK ? Math.floor(READ_CHUNK / pdv) * pdv : READ_CHUNK);
}
