import { pipeline } from 'node:stream';
import type { Association } from '@dimse-rx/association';
import { createTranscoder } from '@dimse-rx/dataset';
import { defer, map, Observable, Subject, type Subscription } from 'rxjs';
import { type DataSource, dimse } from '../../channel.js';
import { Requests } from '../../command/builders.js';
import { Priority } from '../../command/fields.js';
import type { DimseStatus } from '../../command/status.js';
import { invoke } from '../../operation/invoke.js';
import { chooseContext } from './contexts.js';
import { chunkSizeFor, type Prepared, prepare, type StoreInput } from './input.js';

/** Options of `store()` and `storeAll()`. */
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

/**
 * C-STORE (PS3.7 9.1.1, PS3.4 B): sends a Part 10 file (streamed from disk, the data set bytes
 * as they are, never decoded), Part 10 bytes, or a naturalized data set. The presentation
 * context is chosen by SOP class and transfer syntax; when the peer accepted only another
 * uncompressed syntax the data set is converted on the fly, still in bounded memory. Emits
 * progress, then the response with its status as a typed value (warnings and failures too).
 * Errors with NoPresentationContextError when no accepted context fits, naming what the peer accepted.
 */
export function store(association: Association, input: StoreInput, options: StoreOptions = {}): Observable<StoreEvent> {
  return defer(() => sendPrepared(association, prepare(input, chunkSizeFor(association, options), dimse(association).buffers), options));
}

/**
 * The C-STORE of an input being prepared (its file opening). Unsubscribed before it is ready,
 * it closes what the preparation opened once that is done: no file handle is left behind.
 */
export function sendPrepared(association: Association, preparing: Promise<Prepared>, options: StoreOptions): Observable<StoreEvent> {
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
