import type { FileHandle } from 'node:fs/promises';
import { pipeline, Readable } from 'node:stream';
import type { Association, NegotiatedContext, ProposedContext } from '@dimse-rx/association';
import {
  createTranscoder,
  describeUid,
  encodeDataset,
  inspectDicomBytes,
  isUncompressed,
  type NaturalizedDataset,
  openDicomFile,
  TransferSyntax,
  transferSyntaxProperties,
  UNCOMPRESSED_TRANSFER_SYNTAXES,
} from '@dimse-rx/dataset';
import { defer, map, Observable, Subject, type Subscription } from 'rxjs';
import type { DataSource, RecyclingDataSource } from '../channel.js';
import { Requests } from '../command/builders.js';
import { Priority } from '../command/fields.js';
import type { DimseStatus } from '../command/status.js';
import { invoke, NoPresentationContextError } from '../operation/invoke.js';
import { giveBack, takeBuffer } from './buffer-pool.js';

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

/**
 * Which transfer syntaxes `storageContexts` and `store` propose besides a data set's own (which
 * always goes in a presentation context of its own, used whenever the peer accepts it):
 * - `'all'` (default): a second context with every uncompressed syntax it converts to
 *   (explicit VR little endian, implicit VR little endian, deflated, explicit VR big endian);
 * - `'little-endian'`: the same without deflate and big endian;
 * - `'own'`: nothing else (a peer that refuses the data set's syntax gets nothing);
 * - a list of transfer syntax UIDs: those, in that order (compressed data never converts).
 */
export type TransferSyntaxProposal = 'all' | 'little-endian' | 'own' | readonly string[];

export interface StoreOptions {
  readonly priority?: number;
  readonly moveOriginatorAeTitle?: string;
  readonly moveOriginatorMessageId?: number;
  /** Bytes read from a file at a time; default a multiple of the PDV size near 1 MiB. */
  readonly readChunkSize?: number;
  /**
   * `storeAll()`: C-STOREs outstanding at once, at most the negotiated window (and 16 when it
   * says no limit); the window itself unless set.
   */
  readonly window?: number;
}

/** C-STOREs `storeAll()` keeps outstanding at most, whatever the window allows: each holds an open input. */
const MAX_STORES_AT_ONCE = 16;

/** What `store()` emits: progress as the data set goes, then the response. */
export type StoreEvent =
  | { readonly type: 'progress'; readonly bytesSent: number; readonly totalBytes: number }
  | {
      readonly type: 'response';
      readonly status: DimseStatus;
      readonly sopClassUid: string;
      readonly sopInstanceUid: string;
      /** The transfer syntax the data set was sent in. */
      readonly transferSyntaxUid: string;
      /** True when the data set was converted from its own transfer syntax on the way. */
      readonly converted: boolean;
      /**
       * What was noticed about the input: a meta header whose UIDs are not the data set's (the
       * data set's were sent), a file without a Part 10 header (its transfer syntax detected).
       */
      readonly warnings: readonly string[];
    };

interface Prepared {
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
  #destroyed = false;

  constructor(handle: FileHandle, first: Uint8Array, position: number, size: number, chunkSize: number, close: () => Promise<void>) {
    this.#handle = handle;
    this.#first = first;
    this.#position = position;
    this.#size = size;
    this.#chunkSize = chunkSize;
    this.#close = close;
  }

  recycle(chunk: Uint8Array): void {
    giveBack(chunk);
  }

  destroy(): void {
    this.#destroyed = true;
    // Nobody may be reading: the file is closed now (a read in progress closes it when it ends).
    void this.#close();
  }

  /** `length` bytes from `at`, into a pooled buffer. */
  async #read(at: number, length: number): Promise<Uint8Array> {
    const buffer = takeBuffer(this.#chunkSize).subarray(0, length);
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

/** The transfer syntaxes to propose for a data set in `transferSyntaxUid`: its own first, then the uncompressed ones it converts to. */
export function proposedTransferSyntaxes(transferSyntaxUid: string, propose: TransferSyntaxProposal = 'all'): string[] {
  return [transferSyntaxUid, ...alternativesFor(transferSyntaxUid, propose).filter((ts) => ts !== transferSyntaxUid)];
}

/** The syntaxes a data set in `transferSyntaxUid` may be converted to, as `propose` says. */
function alternativesFor(transferSyntaxUid: string, propose: TransferSyntaxProposal): readonly string[] {
  if (transferSyntaxProperties(transferSyntaxUid).encapsulated || propose === 'own') return [];
  if (propose === 'all') return UNCOMPRESSED_TRANSFER_SYNTAXES;
  if (propose === 'little-endian') return [TransferSyntax.ExplicitVrLittleEndian, TransferSyntax.ImplicitVrLittleEndian];
  return propose.filter(isUncompressed);
}

/**
 * Presentation contexts for storing data sets of these SOP classes and transfer syntaxes, as
 * storescu proposes them: for each (SOP class, transfer syntax) a context of that syntax alone,
 * so that a peer accepting it gets the data set as it is, whatever it prefers; and for each SOP
 * class with uncompressed data a second context listing the syntaxes it may be converted to
 * (see `TransferSyntaxProposal`), used only when the peer refuses the data set's own.
 */
export function storageContexts(
  items: readonly { readonly sopClassUid: string; readonly transferSyntaxUid: string }[],
  options: { readonly propose?: TransferSyntaxProposal } = {},
): ProposedContext[] {
  const propose = options.propose ?? 'all';
  const own = new Set<string>();
  const alternatives = new Map<string, string[]>();
  const contexts: ProposedContext[] = [];
  for (const { sopClassUid, transferSyntaxUid } of items) {
    const key = `${sopClassUid} ${transferSyntaxUid}`;
    if (!own.has(key)) {
      own.add(key);
      contexts.push({ abstractSyntax: sopClassUid, transferSyntaxes: [transferSyntaxUid] });
    }
    const list = alternatives.get(sopClassUid) ?? [];
    for (const ts of alternativesFor(transferSyntaxUid, propose)) if (!list.includes(ts)) list.push(ts);
    alternatives.set(sopClassUid, list);
  }
  for (const [sopClassUid, transferSyntaxes] of alternatives) {
    // Only what the own contexts do not already propose alone is worth a context more.
    const ownSyntaxes = contexts.filter((pc) => pc.abstractSyntax === sopClassUid).map((pc) => pc.transferSyntaxes[0]);
    if (transferSyntaxes.some((ts) => !ownSyntaxes.includes(ts))) contexts.push({ abstractSyntax: sopClassUid, transferSyntaxes });
  }
  return contexts;
}

/** The accepted context for a data set: its own syntax, else an uncompressed one it can be converted to. */
function chooseContext(
  association: Association,
  sopClassUid: string,
  sourceSyntax: string,
): NegotiatedContext & { transferSyntax: string } {
  const candidates = association.acceptedContexts.filter((pc) => pc.abstractSyntax === sopClassUid);
  const own = candidates.find((pc) => pc.transferSyntax === sourceSyntax);
  if (own) return own;
  if (!transferSyntaxProperties(sourceSyntax).encapsulated) {
    for (const ts of UNCOMPRESSED_TRANSFER_SYNTAXES) {
      const found = candidates.find((pc) => pc.transferSyntax === ts);
      if (found) return found;
    }
  }
  const accepted = [...new Set(candidates.map((pc) => pc.transferSyntax))];
  throw new NoPresentationContextError(
    accepted.length === 0
      ? `The peer accepted no presentation context for SOP class ${describeUid(sopClassUid)}`
      : `No accepted presentation context can carry SOP class ${describeUid(sopClassUid)} in ${describeUid(sourceSyntax)}${
          transferSyntaxProperties(sourceSyntax).encapsulated ? ' (compressed data is sent only in its own transfer syntax)' : ''
        }; the peer accepted it in ${accepted.map(describeUid).join(', ')}`,
  );
}

async function prepare(input: StoreInput, chunkSize: number): Promise<Prepared> {
  if (typeof input === 'string') {
    // One open and one read give the header and the first chunk; the rest is read on demand.
    const { header, handle, start } = await openDicomFile(input, chunkSize, takeBuffer);
    let closing: Promise<void> | undefined;
    const close = () => (closing ??= handle.close().catch(() => undefined));
    const chunks = () => new FileChunks(handle, start.subarray(header.dataSetOffset), start.length, header.fileSize, chunkSize, close);
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

/**
 * C-STORE (PS3.7 9.1.1, PS3.4 B): sends a Part 10 file (streamed from disk, the data set bytes
 * as they are, never decoded), Part 10 bytes, or a naturalized data set. The presentation
 * context is chosen by SOP class and transfer syntax; when the peer accepted only another
 * uncompressed syntax the data set is converted on the fly, still in bounded memory. Emits
 * progress, then the response with its status as a typed value (warnings and failures too).
 * Errors with NoPresentationContextError when no accepted context fits, naming what the peer accepted.
 */
export function store(association: Association, input: StoreInput, options: StoreOptions = {}): Observable<StoreEvent> {
  return defer(() => sendPrepared(association, prepare(input, chunkSizeFor(association, options)), options));
}

/** Bytes read at a time when the options do not say: 1 MiB, a few reads and writes per image (256 KiB gave two thirds of the rate). */
const READ_CHUNK = 1 << 20;

/** Bytes read from a file at a time: a multiple of the PDV value size near READ_CHUNK. */
function chunkSizeFor(association: Association, options: StoreOptions): number {
  const given = options.readChunkSize;
  if (given !== undefined && (!Number.isInteger(given) || given < 1)) {
    throw new RangeError(`readChunkSize: ${given} is not a whole number of bytes, 1 or more`);
  }
  const pdv = association.maxPdvValueLength;
  return given ?? (Number.isFinite(pdv) && pdv < READ_CHUNK ? Math.floor(READ_CHUNK / pdv) * pdv : READ_CHUNK);
}

/**
 * The C-STORE of an input being prepared (its file opening). Unsubscribed before it is ready,
 * it closes what the preparation opened once that is done: no file handle is left behind.
 */
function sendPrepared(association: Association, preparing: Promise<Prepared>, options: StoreOptions): Observable<StoreEvent> {
  return new Observable<StoreEvent>((subscriber) => {
    let closed = false;
    let inner: Subscription | undefined;
    preparing.then(
      (prepared) => {
        if (closed) {
          void prepared.close?.();
          return;
        }
        try {
          inner = transfer(association, prepared, options).subscribe(subscriber);
        } catch (error) {
          subscriber.error(error); // no context fits: transfer() closed the file
        }
      },
      (error: unknown) => {
        if (!closed) subscriber.error(error);
      },
    );
    return () => {
      closed = true;
      inner?.unsubscribe();
    };
  });
}

/** Sends a prepared data set: chooses the context, converts if need be, emits progress and the response. */
function transfer(association: Association, prepared: Prepared, options: StoreOptions): Observable<StoreEvent> {
  let context: ReturnType<typeof chooseContext>;
  try {
    context = chooseContext(association, prepared.sopClassUid, prepared.sourceSyntax);
  } catch (error) {
    void prepared.close?.();
    throw error;
  }
  const converted = context.transferSyntax !== prepared.sourceSyntax;
  const progress = new Subject<StoreEvent>();
  const direct = converted ? undefined : prepared.openRecycling?.();
  const source = direct ? undefined : prepared.open();
  // Progress counts the source's bytes, as totalBytes does: converted data has another length.
  let read = 0;
  if (converted) source!.on('data', (chunk: Uint8Array) => (read += chunk.length));
  // pipeline(), not pipe(): a read error must reach the transcoder, and so the sender, as an error.
  const dataSet: DataSource =
    direct ?? (converted ? pipeline(source!, createTranscoder(prepared.sourceSyntax, context.transferSyntax), () => {}) : source!);
  let reported = 0;
  const request = invoke(
    association,
    Requests.cStore({
      affectedSopClassUid: prepared.sopClassUid,
      affectedSopInstanceUid: prepared.sopInstanceUid,
      priority: options.priority ?? Priority.Medium,
      ...(options.moveOriginatorAeTitle === undefined ? {} : { moveOriginatorApplicationEntityTitle: options.moveOriginatorAeTitle }),
      ...(options.moveOriginatorMessageId === undefined ? {} : { moveOriginatorMessageId: options.moveOriginatorMessageId }),
    }),
    {
      presentationContextId: context.id,
      dataSet,
      onProgress: ({ bytes }) => {
        const bytesSent = converted ? read : bytes;
        if (bytesSent === reported) return;
        reported = bytesSent;
        progress.next({ type: 'progress', bytesSent, totalBytes: prepared.totalBytes });
      },
    },
  ).pipe(
    map(
      ({ status }): StoreEvent => ({
        type: 'response',
        status,
        sopClassUid: prepared.sopClassUid,
        sopInstanceUid: prepared.sopInstanceUid,
        transferSyntaxUid: context.transferSyntax,
        converted,
        warnings: prepared.warnings,
      }),
    ),
  );
  return new Observable<StoreEvent>((subscriber) => {
    const p = progress.subscribe(subscriber);
    const r = request.subscribe({
      next: (e) => subscriber.next(e),
      error: (e) => subscriber.error(e),
      complete: () => subscriber.complete(),
    });
    return () => {
      p.unsubscribe();
      r.unsubscribe();
      direct?.destroy();
      source?.destroy();
      void prepared.close?.();
    };
  });
}

/** What `storeAll()` emits: each input's events with its index, or why that input was not stored. */
export type StoreAllEvent =
  | (StoreEvent & { readonly index: number })
  | { readonly type: 'failed'; readonly index: number; readonly error: Error };

/**
 * C-STORE of several inputs on one association, in order. Within the negotiated asynchronous
 * operations window (`maxOperationsInvoked`, 1 unless negotiated) several C-STOREs are
 * outstanding at once: the next data set is sent while the responses to the ones before are
 * awaited (messages still go whole, one after the other). The input after those being sent is
 * already being opened (its header and first chunk read), so the disk's latency does not add to
 * each transfer; at most window + 1 inputs are open at a time. An input that cannot be stored
 * (unreadable file, no presentation context for it, a failure while it was sent that left the
 * association established) gives a `failed` event and the next one goes on; the Observable errors
 * only when the association ends. Unsubscribing stops after closing what was opened.
 */
export function storeAll(association: Association, inputs: readonly StoreInput[], options: StoreOptions = {}): Observable<StoreAllEvent> {
  return new Observable<StoreAllEvent>((subscriber) => {
    const chunkSize = chunkSizeFor(association, options);
    const negotiated = association.negotiation.asynchronousOperationsWindow.maxOperationsInvoked;
    const window = Math.max(1, Math.min(options.window ?? MAX_STORES_AT_ONCE, negotiated === 0 ? MAX_STORES_AT_ONCE : negotiated));
    const prepareAt = (i: number): Promise<Prepared> => {
      const preparing = prepare(inputs[i]!, chunkSize);
      preparing.catch(() => undefined); // read by sendPrepared, or dropped with the next one
      return preparing;
    };
    let next = inputs.length > 0 ? prepareAt(0) : undefined;
    let index = 0;
    let active = 0;
    const current = new Set<Subscription>();
    let stopped = false;
    const run = (): void => {
      while (!stopped && active < window && index < inputs.length) start();
      if (!stopped && active === 0 && index >= inputs.length) subscriber.complete();
    };
    const start = (): void => {
      const i = index++;
      const preparing = next!;
      next = index < inputs.length ? prepareAt(index) : undefined;
      active++;
      let sending: Subscription | undefined;
      const done = () => {
        active--;
        if (sending) current.delete(sending);
        run();
      };
      sending = sendPrepared(association, preparing, options).subscribe({
        next: (event) => subscriber.next({ ...event, index: i }),
        error: (error: unknown) => {
          // A message that failed halfway has aborted the association (PS3.7 Annex E) before
          // its request is failed: the state says whether the next input can go.
          if (association.state !== 'Sta6') {
            stopped = true;
            subscriber.error(error);
            return;
          }
          subscriber.next({ type: 'failed', index: i, error: error instanceof Error ? error : new Error(String(error)) });
          done();
        },
        complete: done,
      });
      if (!sending.closed) current.add(sending);
    };
    run();
    return () => {
      stopped = true;
      for (const sending of current) sending.unsubscribe();
      void next?.then(
        (prepared) => prepared.close?.(),
        () => undefined,
      );
    };
  });
}
