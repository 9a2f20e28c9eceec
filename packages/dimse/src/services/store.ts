import type { FileHandle } from 'node:fs/promises';
import { pipeline, Readable } from 'node:stream';
import type { Association, NegotiatedContext, ProposedContext } from '@dimse-rx/association';
import { defer, from, map, Observable, Subject, switchMap } from 'rxjs';
import { type DataSource, dimse } from '../channel.js';
import { CommandField, Priority } from '../command/fields.js';
import { type DimseStatus, dimseStatus } from '../command/status.js';
import { encodeDataset, type NaturalizedDataset } from '../dataset/codec.js';
import { openPart10File, parsePart10Header } from '../dataset/part10.js';
import { createTranscoder } from '../dataset/transcode/index.js';
import { TransferSyntax, transferSyntaxProperties, UNCOMPRESSED_TRANSFER_SYNTAXES } from '../dataset/transfer-syntax.js';
import { NoPresentationContextError } from './echo.js';

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

export interface StoreOptions {
  readonly priority?: number;
  readonly moveOriginatorAeTitle?: string;
  readonly moveOriginatorMessageId?: number;
  /** Bytes read from a file at a time; default a multiple of the PDV size near 256 KiB. */
  readonly readChunkSize?: number;
}

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
    };

interface Prepared {
  readonly sopClassUid: string;
  readonly sopInstanceUid: string;
  readonly sourceSyntax: string;
  readonly totalBytes: number;
  /** Opens the data set bytes in the source syntax. */
  readonly open: () => Readable;
  /** Lets go of what `prepare` opened when the data set is never read. */
  readonly close?: () => Promise<void>;
}

/**
 * The data set of an open file: the bytes already read, then chunks from `position` to `size`,
 * the next read started while the current chunk is being sent (two chunks at most in memory).
 * Closes the file at the end, on error and when the consumer stops early.
 */
async function* fileChunks(
  handle: FileHandle,
  first: Uint8Array,
  position: number,
  size: number,
  chunkSize: number,
  close: () => Promise<void>,
): AsyncGenerator<Uint8Array> {
  const readAt = async (at: number): Promise<Uint8Array> => {
    const buffer = Buffer.allocUnsafe(Math.min(chunkSize, size - at));
    let filled = 0;
    while (filled < buffer.length) {
      const { bytesRead } = await handle.read(buffer, filled, buffer.length - filled, at + filled);
      if (bytesRead === 0) throw new Error(`The file shrank while being sent (${at + filled} of ${size} bytes)`);
      filled += bytesRead;
    }
    return buffer;
  };
  let next: Promise<Uint8Array> | undefined;
  try {
    next = position < size ? readAt(position) : undefined;
    if (first.length > 0) yield first;
    while (next) {
      const chunk = await next;
      position += chunk.length;
      next = position < size ? readAt(position) : undefined;
      yield chunk;
    }
  } finally {
    // A read still running when the consumer left must end before the file is closed.
    await next?.catch(() => undefined);
    await close();
  }
}

/** The transfer syntaxes to propose for a data set in `transferSyntaxUid`: its own first, then the uncompressed ones it converts to. */
export function proposedTransferSyntaxes(transferSyntaxUid: string): string[] {
  if (transferSyntaxProperties(transferSyntaxUid).encapsulated) return [transferSyntaxUid];
  return [transferSyntaxUid, ...UNCOMPRESSED_TRANSFER_SYNTAXES.filter((ts) => ts !== transferSyntaxUid)];
}

/**
 * Presentation contexts for storing data sets of these SOP classes and transfer syntaxes: one
 * per (SOP class, transfer syntax), proposing the data set's own syntax first and, for
 * uncompressed and deflated ones, the other uncompressed syntaxes.
 */
export function storageContexts(items: readonly { readonly sopClassUid: string; readonly transferSyntaxUid: string }[]): ProposedContext[] {
  const seen = new Set<string>();
  const contexts: ProposedContext[] = [];
  for (const { sopClassUid, transferSyntaxUid } of items) {
    const key = `${sopClassUid} ${transferSyntaxUid}`;
    if (seen.has(key)) continue;
    seen.add(key);
    contexts.push({ abstractSyntax: sopClassUid, transferSyntaxes: proposedTransferSyntaxes(transferSyntaxUid) });
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
  const accepted = candidates.map((pc) => pc.transferSyntax);
  throw new NoPresentationContextError(
    accepted.length === 0
      ? `The peer accepted no presentation context for SOP class ${sopClassUid}`
      : `No accepted presentation context can carry SOP class ${sopClassUid} in ${sourceSyntax}${
          transferSyntaxProperties(sourceSyntax).encapsulated ? ' (compressed data is sent only in its own transfer syntax)' : ''
        }; the peer accepted it in ${accepted.join(', ')}`,
  );
}

async function prepare(input: StoreInput, chunkSize: number): Promise<Prepared> {
  if (typeof input === 'string') {
    // One open and one read give the header and the first chunk; the rest is read on demand.
    const { header, handle, start } = await openPart10File(input, chunkSize);
    let closing: Promise<void> | undefined;
    let reading = false;
    const close = () => (closing ??= handle.close().catch(() => undefined));
    return {
      sopClassUid: header.meta.mediaStorageSopClassUid,
      sopInstanceUid: header.meta.mediaStorageSopInstanceUid,
      sourceSyntax: header.meta.transferSyntaxUid,
      totalBytes: header.fileSize - header.dataSetOffset,
      open: () => {
        reading = true;
        const first = start.subarray(header.dataSetOffset);
        return Readable.from(fileChunks(handle, first, start.length, header.fileSize, chunkSize, close), { objectMode: false });
      },
      // A generator that never started has no finally to run: the file is closed here.
      close: () => (reading ? Promise.resolve() : close()),
    };
  }
  if (input instanceof Uint8Array) {
    const header = parsePart10Header(input);
    const bytes = input.subarray(header.dataSetOffset);
    return {
      sopClassUid: header.meta.mediaStorageSopClassUid,
      sopInstanceUid: header.meta.mediaStorageSopInstanceUid,
      sourceSyntax: header.meta.transferSyntaxUid,
      totalBytes: bytes.length,
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
  return defer(() => {
    const pdv = association.maxPdvValueLength;
    const chunkSize = options.readChunkSize ?? (Number.isFinite(pdv) ? Math.max(1, Math.floor((256 * 1024) / pdv)) * pdv : 256 * 1024);
    return from(prepare(input, chunkSize)).pipe(
      switchMap((prepared) => {
        let context: ReturnType<typeof chooseContext>;
        try {
          context = chooseContext(association, prepared.sopClassUid, prepared.sourceSyntax);
        } catch (error) {
          void prepared.close?.();
          throw error;
        }
        const converted = context.transferSyntax !== prepared.sourceSyntax;
        const progress = new Subject<StoreEvent>();
        const source = prepared.open();
        // Progress counts the source's bytes, as totalBytes does: converted data has another length.
        let read = 0;
        if (converted) source.on('data', (chunk: Uint8Array) => (read += chunk.length));
        // pipeline(), not pipe(): a read error must reach the transcoder, and so the sender, as an error.
        const dataSet: DataSource = converted
          ? pipeline(source, createTranscoder(prepared.sourceSyntax, context.transferSyntax), () => {})
          : source;
        let reported = 0;
        const request = dimse(association)
          .request(
            context.id,
            {
              commandField: CommandField.CStoreRq,
              affectedSopClassUid: prepared.sopClassUid,
              affectedSopInstanceUid: prepared.sopInstanceUid,
              priority: options.priority ?? Priority.Medium,
              ...(options.moveOriginatorAeTitle === undefined
                ? {}
                : { moveOriginatorApplicationEntityTitle: options.moveOriginatorAeTitle }),
              ...(options.moveOriginatorMessageId === undefined ? {} : { moveOriginatorMessageId: options.moveOriginatorMessageId }),
            },
            {
              dataSet,
              onProgress: ({ bytes }) => {
                const bytesSent = converted ? read : bytes;
                if (bytesSent === reported) return;
                reported = bytesSent;
                progress.next({ type: 'progress', bytesSent, totalBytes: prepared.totalBytes });
              },
            },
          )
          .pipe(
            map(({ command, dataSet }): StoreEvent => {
              // A C-STORE-RSP carries no data set; one sent anyway is read and dropped.
              dataSet?.chunks.subscribe({ error: () => undefined });
              return {
                type: 'response',
                status: dimseStatus(command.status ?? 0, {
                  errorComment: command.errorComment,
                  offendingElement: command.offendingElement,
                  errorId: command.errorId,
                }),
                sopClassUid: prepared.sopClassUid,
                sopInstanceUid: prepared.sopInstanceUid,
                transferSyntaxUid: context.transferSyntax,
                converted,
              };
            }),
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
            source.destroy();
            void prepared.close?.();
          };
        });
      }),
    );
  });
}
