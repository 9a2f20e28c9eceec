import type { Association, Listening, ProposedContext, ServeOptions } from '@dimse-rx/association';
import {
  decodeDataset,
  describeUid,
  encodeDataset,
  type NaturalizedDataset,
  STORAGE_SOP_CLASSES,
  storageSopClass,
  UNCOMPRESSED_TRANSFER_SYNTAXES,
} from '@dimse-rx/dataset';
import { defer, from, Observable, type ObservableInput, of, type Subscription, switchMap, tap, throwError } from 'rxjs';
import { dimse, type Registration } from '../../channel.js';
import { Requests, type SubOperationCounts } from '../../command/builders.js';
import type { Command } from '../../command/codec.js';
import { CommandField } from '../../command/fields.js';
import { type DimseStatus, RetrieveStatus } from '../../command/status.js';
import { peekHead } from '../../message/peek.js';
import { invoke, NoPresentationContextError } from '../../operation/invoke.js';
import { type OperationTimeouts, withTimeouts } from '../../operation/timeouts.js';
import { scp } from '../scp.js';
import {
  acceptStorage,
  type StorageHandler,
  type StoreAnswer,
  type StoredObject,
  type StoreRequestInfo,
  storageRequestHandler,
} from '../store-scp.js';
import { type Query, QueryKeyError, QueryModel, queryIdentifier } from './find.js';
import { agreedRetrieveNegotiation } from './negotiation.js';

/** The sub-operation counts of a pending response of a C-GET or C-MOVE. */
export interface RetrieveProgress extends SubOperationCounts {
  readonly type: 'progress';
}

/** One instance received by a C-GET (or by the destination of `retrieve()`), with what the storage handler answered. */
export interface RetrieveStored {
  readonly type: 'stored';
  readonly sopClassUid: string;
  readonly sopInstanceUid: string;
  readonly transferSyntaxUid: string;
  /** The status the storage handler answered the sub-operation with. */
  readonly status: number;
  /** What the handler kept (the file sink: the file's path and size). */
  readonly stored?: StoredObject;
}

/** The end of a C-GET or C-MOVE that did not fail: success, or the warning 0xB000 (some sub-operations failed). */
export interface RetrieveResult extends SubOperationCounts {
  readonly type: 'result';
  readonly status: DimseStatus;
  /** Failed SOP Instance UID List (0008,0058) of the final response: the instances not retrieved. */
  readonly failedSopInstanceUids: readonly string[];
}

/** What a retrieval emits: progress with each pending response, each instance stored, then the result. */
export type RetrieveEvent = RetrieveProgress | RetrieveStored | RetrieveResult;

/** Why a C-GET or C-MOVE failed, by the status's meaning (PS3.4 C.4.2.1.5, C.4.3.1.4). */
export type RetrieveFailure =
  | 'move-destination-unknown'
  | 'out-of-resources'
  | 'identifier-does-not-match-sop-class'
  | 'unable-to-process'
  | 'cancelled'
  | 'other';

const failureOf = (code: number): RetrieveFailure => {
  if (code === RetrieveStatus.MoveDestinationUnknown) return 'move-destination-unknown';
  if (code === RetrieveStatus.OutOfResourcesNumberOfMatches || code === RetrieveStatus.OutOfResourcesSubOperations)
    return 'out-of-resources';
  if (code === RetrieveStatus.IdentifierDoesNotMatchSopClass) return 'identifier-does-not-match-sop-class';
  if ((code & 0xf000) === 0xc000) return 'unable-to-process';
  if (code === 0xfe00) return 'cancelled';
  return 'other';
};

/** A C-GET or C-MOVE that ended in a failure (or a cancel by the peer): the status, its meaning, the counts and the failed instances. */
export class RetrieveFailedError extends Error {
  override readonly name = 'RetrieveFailedError';
  readonly service: 'C-GET' | 'C-MOVE';
  readonly status: DimseStatus;
  readonly failure: RetrieveFailure;
  readonly counts: SubOperationCounts;
  readonly failedSopInstanceUids: readonly string[];
  constructor(service: 'C-GET' | 'C-MOVE', status: DimseStatus, counts: SubOperationCounts, failedSopInstanceUids: readonly string[]) {
    super(
      `${service} failed: ${status.meaning} (0x${status.code.toString(16).padStart(4, '0')})${status.errorComment ? `: ${status.errorComment}` : ''}`,
    );
    this.service = service;
    this.status = status;
    this.failure = failureOf(status.code);
    this.counts = counts;
    this.failedSopInstanceUids = failedSopInstanceUids;
  }
}

/** Options of `get()` and `move()`. */
export interface RetrieveOptions {
  readonly timeouts?: OperationTimeouts;
  /** How long the peer gets to end the operation after a cancel before the association is aborted (see RequestOptions). */
  readonly cancelGrace?: number;
  /** Priority (0000,0700): 0 medium (default), 1 high, 2 low. */
  readonly priority?: number;
}

/** Options of `get()`: where the instances go. */
export interface GetOptions extends RetrieveOptions {
  /** Stores each instance of the C-GET's sub-operations (the file sink, or one's own). */
  readonly store: StorageHandler;
}

const countsOf = (command: Command): SubOperationCounts => ({
  ...(command.numberOfRemainingSuboperations === undefined ? {} : { remaining: command.numberOfRemainingSuboperations }),
  completed: command.numberOfCompletedSuboperations ?? 0,
  failed: command.numberOfFailedSuboperations ?? 0,
  warning: command.numberOfWarningSuboperations ?? 0,
});

const listOf = (value: unknown): string[] =>
  value === undefined || value === null || value === ''
    ? []
    : Array.isArray(value)
      ? value.flatMap(listOf)
      : String(value)
          .split('\\')
          .map((v) => v.trim())
          .filter((v) => v.length > 0);

/** The unique keys of each level, and the level's own needed in a retrieval (PS3.4 C.4.2.2.1). */
const LEVEL_KEY: Readonly<Record<string, string>> = {
  PATIENT: 'PatientID',
  STUDY: 'StudyInstanceUID',
  SERIES: 'SeriesInstanceUID',
  IMAGE: 'SOPInstanceUID',
};

/** The identifier of a C-GET or C-MOVE: a query's, with the unique key of its own level required too. */
export function retrieveIdentifier(query: Query): NaturalizedDataset {
  const identifier = queryIdentifier(query) as Record<string, unknown>;
  const level = identifier.QueryRetrieveLevel as string | undefined;
  const key = level === undefined ? undefined : LEVEL_KEY[level];
  if (key !== undefined && listOf(identifier[key]).length === 0)
    throw new QueryKeyError(`a ${level} retrieval needs the unique key ${key} (one value or a list)`);
  return identifier as NaturalizedDataset;
}

/** The C-GET or C-MOVE SOP class of a query's model. */
function retrieveSopClass(query: Query, service: 'get' | 'move'): string {
  const model = QueryModel[query.model];
  if (!(service in model)) throw new QueryKeyError(`${query.model} has no C-${service.toUpperCase()} SOP class`);
  return (model as { readonly get: string; readonly move: string })[service];
}

/** The query with relational retrieval as agreed for the C-GET or C-MOVE SOP class (PS3.4 C.5.2.1, C.5.3.1, byte 1), unless it says. */
const withAgreedRelational = (association: Association, query: Query, sopClass: string): Query => ({
  ...query,
  relational: query.relational ?? agreedRetrieveNegotiation(association, sopClass).relationalRetrieval,
});

/**
 * Runs a C-GET or C-MOVE request and turns its responses into events: progress with each
 * pending one, the result at the end (a failure is an error).
 */
function runRetrieve(
  association: Association,
  service: 'C-GET' | 'C-MOVE',
  request: ReturnType<typeof Requests.cGet>,
  identifier: NaturalizedDataset,
  options: RetrieveOptions,
  hooks: { readonly onMessageId?: (id: number) => void; readonly onSettled?: () => void },
): Observable<RetrieveProgress | RetrieveResult> {
  const context = dimse(association).context(request.affectedSopClassUid!);
  if (!context)
    return throwError(() => new NoPresentationContextError(`The peer did not accept ${describeUid(request.affectedSopClassUid!)}`));
  const transferSyntax = context.transferSyntax;
  return invoke(association, options.priority === undefined ? request : { ...request, priority: options.priority }, {
    presentationContextId: context.id,
    dataSet: encodeDataset(identifier, transferSyntax),
    dataSets: 'collect',
    ...(options.cancelGrace === undefined ? {} : { cancelGrace: options.cancelGrace }),
    ...hooks,
  }).pipe(
    switchMap(({ status, command, dataSet, final }): Observable<RetrieveProgress | RetrieveResult> => {
      const counts = countsOf(command);
      if (!final) return of({ type: 'progress', ...counts });
      let failed: string[] = [];
      if (dataSet) {
        try {
          failed = listOf(decodeDataset(dataSet, transferSyntax).FailedSOPInstanceUIDList);
        } catch {
          failed = [];
        }
      }
      if (status.kind === 'success' || status.kind === 'warning')
        return of({ type: 'result', status, ...counts, failedSopInstanceUids: failed });
      return throwError(() => new RetrieveFailedError(service, status, counts, failed));
    }),
  );
}

/** A C-GET in progress on an association, as the router of its C-STOREs sees it. */
interface ActiveGet {
  messageId?: number;
  readonly keys: ReadonlyMap<string, ReadonlySet<string>>;
  readonly store: StorageHandler;
  readonly told: (event: RetrieveStored) => void;
}

const HIERARCHY = ['PatientID', 'StudyInstanceUID', 'SeriesInstanceUID'] as const;

/**
 * Routes the C-STOREs of C-GETs on one association to the get they belong to: by Move
 * Originator Message ID when the SCP sets it, to the only get when there is one, else by the
 * instance's own UIDs (the command's SOP Instance UID, the head of its data set) against each
 * get's unique keys; what none claims goes to the oldest get.
 */
class GetRouter {
  readonly #gets: ActiveGet[] = [];
  #registration: Registration | undefined;
  constructor(readonly association: Association) {}

  add(get: ActiveGet): void {
    this.#gets.push(get);
    // storageRequestHandler's checks and answer, with the routing as its handler.
    this.#registration ??= dimse(this.association).handle(
      CommandField.CStoreRq,
      '*',
      storageRequestHandler((info, data) => this.#route(info, data)),
    );
  }

  remove(get: ActiveGet): void {
    const i = this.#gets.indexOf(get);
    if (i >= 0) this.#gets.splice(i, 1);
    if (this.#gets.length === 0) {
      this.#registration?.remove();
      this.#registration = undefined;
      routers.delete(this.association);
    }
  }

  #route(info: StoreRequestInfo, data: Parameters<StorageHandler>[1]): ObservableInput<StoreAnswer> {
    const gets = this.#gets;
    const byId = info.moveOriginatorMessageId === undefined ? undefined : gets.find((g) => g.messageId === info.moveOriginatorMessageId);
    if (byId) return deliver(byId, info, data);
    if (gets.length === 1) return deliver(gets[0]!, info, data);
    const bySop = gets.filter((g) => g.keys.get('SOPInstanceUID')?.has(info.sopInstanceUid));
    if (bySop.length === 1) return deliver(bySop[0]!, info, data);
    const peeked = peekHead(data, info.transferSyntaxUid, HIERARCHY as unknown as string[]);
    return from(peeked.head).pipe(
      switchMap((head) => {
        const claims = (g: ActiveGet) =>
          HIERARCHY.every((key) => {
            const wanted = g.keys.get(key);
            const value = head.string(key);
            return wanted === undefined || (value !== undefined && wanted.has(value));
          });
        const chosen = gets.find(claims) ?? gets[0];
        if (!chosen) return of<StoreAnswer>({ status: 0xa700, errorComment: 'No C-GET is waiting for this instance' });
        return deliver(chosen, info, peeked.data);
      }),
    );
  }
}

const routers = new WeakMap<Association, GetRouter>();

/** Hands an instance to a retrieval's storage handler and tells the retrieval what it answered. */
function deliver(
  target: Pick<ActiveGet, 'store' | 'told'>,
  info: StoreRequestInfo,
  data: Parameters<StorageHandler>[1],
): Observable<StoreAnswer> {
  return defer(() => from(target.store(info, data))).pipe(
    tap((answer) => {
      const status = typeof answer === 'number' ? answer : answer.status;
      const stored = typeof answer === 'number' ? undefined : answer.stored;
      target.told({
        type: 'stored',
        sopClassUid: info.sopClassUid,
        sopInstanceUid: info.sopInstanceUid,
        transferSyntaxUid: info.transferSyntaxUid,
        status,
        ...(stored ? { stored } : {}),
      });
    }),
  );
}

const keysOf = (identifier: NaturalizedDataset): Map<string, Set<string>> => {
  const keys = new Map<string, Set<string>>();
  for (const key of [...HIERARCHY, 'SOPInstanceUID']) {
    const values = listOf((identifier as Record<string, unknown>)[key]);
    if (values.length > 0) keys.set(key, new Set(values));
  }
  return keys;
};

/**
 * C-GET (PS3.4 C.4.3): the instances a query names, sent back by the SCP as C-STORE
 * sub-operations on this association and given to `store` (registered for exactly the
 * lifetime of the get, and until the SCP has ended it after a cancel). Emits progress with
 * each pending response, a stored event for each instance, then the result (success, or the
 * warning 0xB000 when some failed), and completes; errors with RetrieveFailedError on a failure
 * status, QueryKeyError before sending an identifier without its unique keys (those above its
 * level may be left out once relational retrieval is agreed, or `query.relational` is set), and
 * NoPresentationContextError when the peer did not accept the model's C-GET. The association
 * must have proposed the storage SOP classes with the SCP role (see `retrieveContexts`).
 * Unsubscribing cancels (C-CANCEL-RQ). Several gets may run at once within the window.
 */
export function get(association: Association, query: Query, options: GetOptions): Observable<RetrieveEvent> {
  const observable = defer(() => {
    const sopClass = retrieveSopClass(query, 'get');
    const identifier = retrieveIdentifier(withAgreedRelational(association, query, sopClass));
    return new Observable<RetrieveEvent>((subscriber) => {
      const router = routers.get(association) ?? new GetRouter(association);
      routers.set(association, router);
      let live = true;
      const active: ActiveGet = {
        keys: keysOf(identifier),
        store: options.store,
        told: (event) => {
          if (live) subscriber.next(event);
        },
      };
      router.add(active);
      const subscription: Subscription = runRetrieve(
        association,
        'C-GET',
        Requests.cGet({ affectedSopClassUid: sopClass }),
        identifier,
        options,
        {
          onMessageId: (id) => {
            active.messageId = id;
          },
          onSettled: () => router.remove(active),
        },
      ).subscribe(subscriber);
      return () => {
        live = false;
        subscription.unsubscribe();
      };
    });
  });
  return withTimeouts(observable, options.timeouts, 'C-GET');
}

/** Options of `move()`. */
export interface MoveOptions extends RetrieveOptions {
  /** The AE title the SCP sends the instances to (Move Destination). */
  readonly destination: string;
  /**
   * A destination in this process that the SCP knows by `destination`: the C-STOREs it
   * receives for this move (by Move Originator AE Title and Message ID) come out as stored events.
   */
  readonly receiver?: MoveReceiver;
}

/**
 * C-MOVE (PS3.4 C.4.2): the SCP sends the instances a query names to the destination AE on an
 * association of its own. Emits progress with each pending response (and stored events when a
 * `receiver` of this process is the destination), then the result, and completes; errors with
 * RetrieveFailedError (failure 'move-destination-unknown' for 0xA801, 'out-of-resources' for
 * 0xA701/0xA702, 'identifier-does-not-match-sop-class' for 0xA900, 'unable-to-process' for
 * 0xCxxx), and QueryKeyError as `get()` does. Unsubscribing cancels (C-CANCEL-RQ).
 */
export function move(association: Association, query: Query, options: MoveOptions): Observable<RetrieveEvent> {
  const observable = defer(() => {
    const sopClass = retrieveSopClass(query, 'move');
    const identifier = retrieveIdentifier(withAgreedRelational(association, query, sopClass));
    return new Observable<RetrieveEvent>((subscriber) => {
      let live = true;
      const expected: ExpectedMove = {
        originator: association.negotiation.callingAeTitle,
        told: (event) => {
          if (live) subscriber.next(event);
        },
      };
      // Sub-operations can overtake the first pending response: the move is expected as soon as its ID is known.
      const subscription = runRetrieve(
        association,
        'C-MOVE',
        Requests.cMove({ affectedSopClassUid: sopClass, moveDestination: options.destination }),
        identifier,
        options,
        {
          onMessageId: (id) => {
            expected.messageId = id;
            options.receiver?.expect(expected);
          },
          onSettled: () => options.receiver?.forget(expected),
        },
      ).subscribe(subscriber);
      return () => {
        live = false;
        subscription.unsubscribe();
      };
    });
  });
  return withTimeouts(observable, options.timeouts, 'C-MOVE');
}

/** A C-MOVE a receiver waits for: who asked for it, with which Message ID, and whom to tell. */
export interface ExpectedMove {
  /** The Move Originator AE Title the sub-operations carry: the AE title that asked for the move. */
  readonly originator: string;
  /** The C-MOVE-RQ's Message ID, once it was sent (the sub-operations carry it as Move Originator Message ID). */
  messageId?: number;
  /** Called with each instance stored for this move. */
  readonly told: (event: RetrieveStored) => void;
}

/** Options of a move destination in this process. */
export interface MoveReceiverOptions extends Partial<Omit<ServeOptions, 'port' | 'host'>> {
  /** The AE title the destination answers to; any when absent. */
  readonly aeTitle?: string;
  /** 0 (default) picks a free port. */
  readonly port?: number;
  /** Default 127.0.0.1. */
  readonly host?: string;
  /** Stores what arrives (the file sink, or one's own). */
  readonly store: StorageHandler;
}

/** A storage SCP in this process that C-MOVEs can send to, telling each move what it received. */
export interface MoveReceiver {
  /** Where it listens. */
  readonly listening: Listening;
  readonly aeTitle: string | undefined;
  /** Makes a move's C-STOREs come out as its stored events (`move()` calls it). */
  expect(move: ExpectedMove): void;
  /** Stops telling a move (`move()` calls it once the move is over). */
  forget(move: ExpectedMove): void;
  /** Stops listening and releases the associations open on it. */
  close(): Promise<void>;
}

/**
 * Starts a storage SCP in this process to be the destination of C-MOVEs: it accepts every
 * storage SOP class, stores with `store`, and tells each move expecting it of the instances
 * whose Move Originator AE Title and Message ID name that move (when only one move is
 * expected, also those that carry no originator). Resolves once it listens.
 */
export function moveReceiver(options: MoveReceiverOptions): Promise<MoveReceiver> {
  const expected = new Set<ExpectedMove>();
  const claim = (info: StoreRequestInfo): ExpectedMove | undefined => {
    for (const move of expected)
      if (move.messageId === info.moveOriginatorMessageId && move.originator === info.moveOriginatorAeTitle) return move;
    if (info.moveOriginatorMessageId === undefined && expected.size === 1) return [...expected][0];
    return undefined;
  };
  const store: StorageHandler = (info, data) => {
    const move = claim(info);
    return move ? deliver({ store: options.store, told: move.told }, info, data) : options.store(info, data);
  };
  const { aeTitle, store: _store, ...serve } = options;
  return new Promise<MoveReceiver>((resolve, reject) => {
    let subscription: Subscription | undefined;
    subscription = scp({
      abstractSyntaxes: acceptStorage,
      ...serve,
      ...(aeTitle === undefined ? {} : { aeTitles: [aeTitle] }),
      host: options.host ?? '127.0.0.1',
      port: options.port ?? 0,
      store,
      onListening: (listening) =>
        resolve({
          listening,
          aeTitle,
          expect: (move) => void expected.add(move),
          forget: (move) => void expected.delete(move),
          close: () =>
            new Promise<void>((done) => {
              subscription?.unsubscribe();
              subscription = undefined;
              setImmediate(done);
            }),
        }),
    }).subscribe({ error: reject });
  });
}

/** Options of `retrieve()`: a move to a destination this call starts. */
export interface RetrieveToSelfOptions extends RetrieveOptions, Pick<MoveReceiverOptions, 'store' | 'port' | 'host'> {
  /** The AE title the SCP knows this destination by (its move destination). */
  readonly destination: string;
  /** The rest of the receiver's server options (TLS, limits, timeouts of its associations). */
  readonly serve?: Omit<MoveReceiverOptions, 'store' | 'port' | 'host' | 'aeTitle'>;
}

/**
 * "Move to myself" in one call: starts a move receiver (the SCP must know `destination` as
 * this host and port), sends the C-MOVE, emits the stored events of the instances it receives
 * with the progress and the result, and stops the receiver when the move is over.
 */
export function retrieve(association: Association, query: Query, options: RetrieveToSelfOptions): Observable<RetrieveEvent> {
  const { destination, timeouts, cancelGrace, priority, store, port, host, serve } = options;
  return new Observable<RetrieveEvent>((subscriber) => {
    let over = false;
    let receiver: MoveReceiver | undefined;
    let moving: Subscription | undefined;
    moveReceiver({
      ...serve,
      aeTitle: destination,
      store,
      ...(port === undefined ? {} : { port }),
      ...(host === undefined ? {} : { host }),
    }).then(
      (started) => {
        receiver = started;
        if (over) {
          void started.close();
          return;
        }
        moving = move(association, query, {
          destination,
          receiver: started,
          ...(timeouts ? { timeouts } : {}),
          ...(cancelGrace === undefined ? {} : { cancelGrace }),
          ...(priority === undefined ? {} : { priority }),
        }).subscribe(subscriber);
      },
      (error: Error) => subscriber.error(error),
    );
    return () => {
      over = true;
      moving?.unsubscribe();
      void receiver?.close();
    };
  });
}

/** The presentation contexts and roles a C-GET association proposes. */
export interface RetrieveContexts {
  readonly contexts: ProposedContext[];
  /** SCP/SCU role selection: the SCP role for each storage SOP class proposed (PS3.7 D.3.3.4). */
  readonly roles: { readonly sopClassUid: string; readonly scuRole: boolean; readonly scpRole: boolean }[];
  /** The storage SOP classes asked for that did not fit within 128 contexts. */
  readonly omitted: string[];
}

/** The storage SOP classes a C-GET proposes unless told others: the common image and document kinds. */
export const COMMON_STORAGE_SOP_CLASSES: readonly string[] = [
  'ComputedRadiographyImageStorage',
  'DigitalXRayImageStorageForPresentation',
  'DigitalXRayImageStorageForProcessing',
  'DigitalMammographyXRayImageStorageForPresentation',
  'CTImageStorage',
  'EnhancedCTImageStorage',
  'UltrasoundMultiFrameImageStorage',
  'MRImageStorage',
  'EnhancedMRImageStorage',
  'UltrasoundImageStorage',
  'SecondaryCaptureImageStorage',
  'MultiFrameGrayscaleByteSecondaryCaptureImageStorage',
  'MultiFrameGrayscaleWordSecondaryCaptureImageStorage',
  'MultiFrameTrueColorSecondaryCaptureImageStorage',
  'XRayAngiographicImageStorage',
  'XRayRadiofluoroscopicImageStorage',
  'NuclearMedicineImageStorage',
  'PositronEmissionTomographyImageStorage',
  'EnhancedPETImageStorage',
  'RTImageStorage',
  'RTDoseStorage',
  'RTStructureSetStorage',
  'RTPlanStorage',
  'BasicTextSRStorage',
  'EnhancedSRStorage',
  'ComprehensiveSRStorage',
  'KeyObjectSelectionDocumentStorage',
  'GrayscaleSoftcopyPresentationStateStorage',
  'EncapsulatedPDFStorage',
  'VLPhotographicImageStorage',
  'SegmentationStorage',
  'RawDataStorage',
].flatMap((keyword) => {
  const found = storageSopClass(keyword);
  return found ? [found.uid] : [];
});

/** The most presentation contexts an association may propose (PS3.8 9.3.2.2: odd IDs 1 to 255). */
const MAX_CONTEXTS = 128;

/**
 * Contexts for C-GET: the model's C-GET SOP class, then one context per storage SOP class (the
 * common ones unless `sopClasses` says, '*' for every storage SOP class) with the given transfer
 * syntaxes (the uncompressed ones unless set), each with the SCP role proposed, within the
 * limit of 128 contexts; the SOP classes left out are named in `omitted`. Pass `contexts` and
 * `roles` to `associate()`.
 */
export function retrieveContexts(
  options: {
    readonly model?: 'PatientRoot' | 'StudyRoot';
    readonly sopClasses?: readonly string[] | '*';
    readonly transferSyntaxes?: readonly string[];
    /** Contexts proposed besides (Verification, C-FIND): they count toward the 128. */
    readonly others?: readonly ProposedContext[];
  } = {},
): RetrieveContexts {
  const model = QueryModel[options.model ?? 'StudyRoot'];
  const transferSyntaxes = options.transferSyntaxes ?? UNCOMPRESSED_TRANSFER_SYNTAXES;
  const wanted =
    options.sopClasses === '*'
      ? STORAGE_SOP_CLASSES.filter((c) => !c.retired).map((c) => c.uid)
      : (options.sopClasses ?? COMMON_STORAGE_SOP_CLASSES).map((s) => storageSopClass(s)?.uid ?? s);
  const contexts: ProposedContext[] = [
    ...(options.others ?? []),
    { abstractSyntax: model.get, transferSyntaxes: [...UNCOMPRESSED_TRANSFER_SYNTAXES] },
  ];
  const unique = [...new Set(wanted)];
  const room = Math.max(0, MAX_CONTEXTS - contexts.length);
  const taken = unique.slice(0, room);
  for (const sopClassUid of taken) contexts.push({ abstractSyntax: sopClassUid, transferSyntaxes: [...transferSyntaxes] });
  return {
    contexts,
    roles: taken.map((sopClassUid) => ({ sopClassUid, scuRole: false, scpRole: true })),
    omitted: unique.slice(room),
  };
}
