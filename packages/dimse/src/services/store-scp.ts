import type { Association } from '@dimse-rx/association';
import { isStorageSopClass, TransferSyntax, UNCOMPRESSED_TRANSFER_SYNTAXES } from '@dimse-rx/dataset';
import { catchError, concat, defer, EMPTY, from, last, map, Observable, type ObservableInput, of } from 'rxjs';
import { type IncomingRequest, type RequestHandler, type ResponseSpec, VERIFICATION_SOP_CLASS } from '../channel.js';
import { Status, StoreStatus } from '../command/status.js';
import type { DataSetStream } from '../message/data-set-stream.js';

/** What a storage SCP knows of a C-STORE request when its data set starts to arrive. */
export interface StoreRequestInfo {
  readonly sopClassUid: string;
  readonly sopInstanceUid: string;
  /** The transfer syntax of the data set: the one accepted for its presentation context. */
  readonly transferSyntaxUid: string;
  readonly callingAeTitle: string;
  readonly calledAeTitle: string;
  readonly presentationContextId: number;
  readonly messageId: number;
  readonly priority: number;
  readonly moveOriginatorAeTitle?: string;
  readonly moveOriginatorMessageId?: number;
  readonly association: Association;
}

/** What a storage handler kept of a data set (the file sink: a Part 10 file). */
export interface StoredObject {
  /** Where it is (a file's path), for the operator and for an index; never sent to the peer. */
  readonly path: string;
  /** Bytes kept (the whole file, meta information included). */
  readonly size: number;
  readonly sopClassUid: string;
  readonly sopInstanceUid: string;
  readonly transferSyntaxUid: string;
}

/**
 * The answer of a storage handler: a status code, or one with an error comment (sent to the
 * peer: no server paths in it), a detail for the operator's log (never sent), and what was
 * stored when it was.
 */
export type StoreAnswer =
  | number
  | { readonly status: number; readonly errorComment?: string; readonly detail?: string; readonly stored?: StoredObject };

/**
 * A UID as PS3.5 9.1 has it: components of digits separated by dots, at most 64 characters.
 * Components with a leading zero break the rule too, but are met in real archives and still
 * name an object unambiguously, so they pass.
 */
export const isValidUid = (uid: string): boolean => uid.length > 0 && uid.length <= 64 && /^[0-9]+(\.[0-9]+)*$/.test(uid);

/**
 * Handles one C-STORE: reads `data` (chunks as they arrive; `data.hold()` when it falls behind)
 * and emits the status once the data set is safely stored. Erroring answers 0xA700 (out of
 * resources) with the error's message as the comment.
 */
export type StorageHandler = (info: StoreRequestInfo, data: DataSetStream) => ObservableInput<StoreAnswer>;

/**
 * The acceptance policy of a storage SCP (`abstractSyntaxes` of `serve()`): exactly the storage
 * SOP classes of PS3.4 Annex B and GG and Verification; anything else (query/retrieve, worklist,
 * private classes) is refused with result 3, abstract syntax not supported. Uncompressed
 * syntaxes preferred (explicit VR little endian first), compressed ones as proposed.
 */
export function acceptStorage(abstractSyntax: string, proposed: readonly string[]): readonly string[] | undefined {
  if (abstractSyntax === VERIFICATION_SOP_CLASS) return [TransferSyntax.ExplicitVrLittleEndian, TransferSyntax.ImplicitVrLittleEndian];
  if (!isStorageSopClass(abstractSyntax)) return undefined;
  return [...UNCOMPRESSED_TRANSFER_SYNTAXES, ...proposed];
}

/** Adapts a storage handler to the channel: metadata in, one final C-STORE-RSP out. */
export function storageRequestHandler(handler: StorageHandler): RequestHandler {
  return ({ message, association, presentationContext }: IncomingRequest): Observable<ResponseSpec> => {
    const { command } = message;
    const data = message.dataSet!;
    const n = association.negotiation;
    const info: StoreRequestInfo = {
      sopClassUid: command.affectedSopClassUid!,
      sopInstanceUid: command.affectedSopInstanceUid!,
      transferSyntaxUid: presentationContext.transferSyntax,
      callingAeTitle: n.callingAeTitle,
      calledAeTitle: n.calledAeTitle,
      presentationContextId: presentationContext.id,
      messageId: command.messageId!,
      priority: command.priority ?? 0,
      ...(command.moveOriginatorApplicationEntityTitle === undefined
        ? {}
        : { moveOriginatorAeTitle: command.moveOriginatorApplicationEntityTitle }),
      ...(command.moveOriginatorMessageId === undefined ? {} : { moveOriginatorMessageId: command.moveOriginatorMessageId }),
      association,
    };
    const fields = { affectedSopClassUid: info.sopClassUid, affectedSopInstanceUid: info.sopInstanceUid };
    // A SOP Instance UID that is not a UID cannot name a stored object: 0x0117, not 0xA700 (which
    // invites the sender to try again), and the handler never sees it (PS3.4 B.2.3).
    const handled: () => ObservableInput<StoreAnswer> = isValidUid(info.sopInstanceUid)
      ? () => handler(info, data)
      : () => of<StoreAnswer>({ status: Status.InvalidObjectInstance, errorComment: 'Affected SOP Instance UID is not a valid UID' });
    const answer = defer(() => from(handled())).pipe(
      last(),
      catchError((error: Error) => of<StoreAnswer>({ status: StoreStatus.OutOfResources, errorComment: error.message })),
      map((a): ResponseSpec => {
        const status = typeof a === 'number' ? a : a.status;
        const errorComment = typeof a === 'number' ? undefined : a.errorComment?.slice(0, 64);
        return { status, fields: errorComment === undefined ? fields : { ...fields, errorComment } };
      }),
    );
    // The response goes once the whole data set has arrived, read by the handler or not.
    return concat(
      answer,
      defer(() => drain(data)),
    ).pipe(last());
  };
}

/** Waits for the end of a data set, discarding what nobody reads. */
function drain(data: DataSetStream): Observable<never> {
  if (data.ended && data.consumed) return EMPTY;
  if (data.consumed) return data.whenEnded();
  return new Observable<never>((subscriber) =>
    data.chunks.subscribe({ complete: () => subscriber.complete(), error: (e) => subscriber.error(e) }),
  );
}

/** A sink that reads and discards every data set: success for all (for tests and benchmarks). */
export const discardSink: StorageHandler = (_info, data) =>
  new Observable<StoreAnswer>((subscriber) =>
    data.chunks.subscribe({
      complete: () => {
        subscriber.next(Status.Success);
        subscriber.complete();
      },
      error: (e) => subscriber.error(e),
    }),
  );

export const succeed = (): Observable<StoreAnswer> => of(Status.Success);
