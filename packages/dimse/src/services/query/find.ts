import type { Association } from '@dimse-rx/association';
import { decodeDataset, describeUid, encodeDataset, type NaturalizedDataset } from '@dimse-rx/dataset';
import { concatMap, defer, EMPTY, type Observable, of, throwError } from 'rxjs';
import { dimse } from '../../channel.js';
import { Requests } from '../../command/builders.js';
import { type DimseStatus, FindStatus } from '../../command/status.js';
import { invoke, NoPresentationContextError } from '../../operation/invoke.js';
import { type OperationTimeouts, withTimeouts } from '../../operation/timeouts.js';
import { agreedQueryNegotiation } from './negotiation.js';

/** The query/retrieve information models of PS3.4 C.6 and the worklist of K.6, by name. */
export const QueryModel = {
  PatientRoot: {
    find: '1.2.840.10008.5.1.4.1.2.1.1',
    move: '1.2.840.10008.5.1.4.1.2.1.2',
    get: '1.2.840.10008.5.1.4.1.2.1.3',
    levels: ['PATIENT', 'STUDY', 'SERIES', 'IMAGE'],
  },
  StudyRoot: {
    find: '1.2.840.10008.5.1.4.1.2.2.1',
    move: '1.2.840.10008.5.1.4.1.2.2.2',
    get: '1.2.840.10008.5.1.4.1.2.2.3',
    levels: ['STUDY', 'SERIES', 'IMAGE'],
  },
  ModalityWorklist: { find: '1.2.840.10008.5.1.4.31', levels: [] },
} as const;

/** A query/retrieve model: its FIND (and MOVE, GET) SOP classes and levels, from the top. */
export type QueryModelName = keyof typeof QueryModel;

/** The unique key of each level (PS3.4 C.6.1.1 and C.6.2.1). */
const UNIQUE_KEY: Readonly<Record<string, string>> = {
  PATIENT: 'PatientID',
  STUDY: 'StudyInstanceUID',
  SERIES: 'SeriesInstanceUID',
  IMAGE: 'SOPInstanceUID',
};

/** A query that breaks the hierarchical rules of PS3.4 C.4.1.2.2 (a unique key missing above its level): nothing was sent. */
export class QueryKeyError extends Error {
  override readonly name = 'QueryKeyError';
}

/** A C-FIND that ended in a failure or was cancelled by the peer: the status, its meaning and the Error Comment. */
export class QueryFailedError extends Error {
  override readonly name = 'QueryFailedError';
  readonly status: DimseStatus;
  constructor(status: DimseStatus) {
    super(
      `C-FIND failed: ${status.meaning} (0x${status.code.toString(16).padStart(4, '0')})${status.errorComment ? `: ${status.errorComment}` : ''}`,
    );
    this.status = status;
  }
}

/** A query: the model, the level (none for the worklist), and the keys by keyword, naturalized as dcmjs writes them. */
export interface Query {
  readonly model: QueryModelName;
  readonly level?: string;
  /** Matching keys with their values, return keys as empty values ('' or []). */
  readonly keys: NaturalizedDataset;
  /**
   * Relational queries were negotiated: the unique keys above the level are not required. When
   * absent, it is what the association agreed in SOP Class Extended Negotiation: for `find()`,
   * relational queries of the model's FIND SOP class (PS3.4 C.5.1.1, byte 1); for `get()` and
   * `move()`, relational retrieval of their SOP class (C.5.2.1, C.5.3.1, byte 1).
   */
  readonly relational?: boolean;
}

/** One match of a C-FIND: its identifier, and whether the SCP said some optional keys are not supported (0xFF01). */
export interface FindMatch {
  readonly identifier: NaturalizedDataset;
  readonly optionalKeysNotSupported: boolean;
}

const isText = (value: unknown): value is string => typeof value === 'string';
const nonAscii = (value: unknown): boolean =>
  isText(value)
    ? [...value].some((c) => c.charCodeAt(0) > 0x7f)
    : Array.isArray(value)
      ? value.some(nonAscii)
      : typeof value === 'object' && value !== null && Object.values(value).some(nonAscii);

/**
 * The identifier of a query (PS3.4 C.4.1.1.3): the keys, Query/Retrieve Level set, Specific
 * Character Set ISO_IR 192 when a value needs more than ASCII and none was given. Throws
 * QueryKeyError when a unique key of a level above is missing (baseline hierarchical queries).
 */
export function queryIdentifier(query: Query): NaturalizedDataset {
  const model = QueryModel[query.model];
  const identifier: Record<string, unknown> = { ...query.keys };
  if (model.levels.length > 0) {
    const level = query.level ?? model.levels[0];
    const at = (model.levels as readonly string[]).indexOf(level!);
    if (at < 0) throw new QueryKeyError(`${query.model} has no level ${level}: ${model.levels.join(', ')}`);
    identifier.QueryRetrieveLevel = level;
    if (!query.relational) {
      for (const above of model.levels.slice(0, at)) {
        const key = UNIQUE_KEY[above]!;
        const value = identifier[key];
        if (value === undefined || value === '' || (Array.isArray(value) && value.length === 0))
          throw new QueryKeyError(`a ${level} query of ${query.model} needs the ${above} unique key ${key} (hierarchical query)`);
      }
    }
  }
  if (identifier.SpecificCharacterSet === undefined && nonAscii(identifier)) identifier.SpecificCharacterSet = 'ISO_IR 192';
  return identifier as NaturalizedDataset;
}

/**
 * C-FIND (PS3.4 C.4.1): the matches as they arrive, decoded, one per pending response; completes
 * at the final success, errors with QueryFailedError on a failure or cancel status and with
 * QueryKeyError before sending a query that breaks the hierarchical rules (unless relational
 * queries were agreed or `query.relational` says so). `take(n)`, `first()`,
 * `timeout()` or any unsubscription before the end sends C-CANCEL-RQ at once; what still comes
 * is dropped and the association stays usable. Each match is decoded only when it is taken.
 */
export function find(association: Association, query: Query, options: FindOptions = {}): Observable<FindMatch> {
  const matches = defer(() => {
    const model = QueryModel[query.model];
    const relational = query.relational ?? (model.levels.length > 0 && agreedQueryNegotiation(association, model.find).relationalQueries);
    const identifier = queryIdentifier({ ...query, relational });
    const context = dimse(association).context(model.find);
    if (!context) return throwError(() => new NoPresentationContextError(`The peer did not accept ${describeUid(model.find)}`));
    const transferSyntax = context.transferSyntax;
    return invoke(association, Requests.cFind({ affectedSopClassUid: model.find }), {
      presentationContextId: context.id,
      ...(options.cancelGrace === undefined ? {} : { cancelGrace: options.cancelGrace }),
      dataSet: encodeDataset(identifier, transferSyntax),
      dataSets: 'collect',
    }).pipe(
      concatMap(({ status, dataSet }) => {
        if (status.kind === 'pending') {
          if (!dataSet) return EMPTY;
          return of({
            identifier: decodeDataset(dataSet, transferSyntax),
            optionalKeysNotSupported: status.code === FindStatus.MatchingOptionalKeysNotSupported,
          });
        }
        if (status.kind === 'success' || status.kind === 'warning') return EMPTY;
        return throwError(() => new QueryFailedError(status));
      }),
    );
  });
  return withTimeouts(matches, options.timeouts, 'C-FIND');
}

/** Options of `find()`. */
export interface FindOptions {
  readonly timeouts?: OperationTimeouts;
  /** How long the peer gets to end the query after a cancel before the association is aborted (see RequestOptions). */
  readonly cancelGrace?: number;
}

/** Options of `findMatches()`. */
export interface FindMatchesOptions extends FindOptions {
  /** Matches kept waiting for the reader before the association's socket is held: 16 unless set. */
  readonly highWaterMark?: number;
}

/**
 * `find()` as an async iterable, for `for await`: one match at a time, as the reader takes it.
 * Past `highWaterMark` matches not yet taken the association's socket is held, so that the
 * rest wait in the peer and the network, not in memory; leaving the loop early (`break`,
 * `return`, a throw) cancels the query (C-CANCEL-RQ) as unsubscribing does.
 */
export function findMatches(association: Association, query: Query, options: FindMatchesOptions = {}): AsyncIterable<FindMatch> {
  const highWaterMark = options.highWaterMark ?? 16;
  return {
    [Symbol.asyncIterator](): AsyncIterator<FindMatch> {
      const queue: FindMatch[] = [];
      let done = false;
      let failure: { error: unknown } | undefined;
      let wake: (() => void) | undefined;
      let release: (() => void) | undefined;
      const notify = () => {
        wake?.();
        wake = undefined;
      };
      const subscription = find(association, query, options).subscribe({
        next: (match) => {
          queue.push(match);
          if (queue.length >= highWaterMark && !release) release = association.hold();
          notify();
        },
        error: (error) => {
          failure = { error };
          notify();
        },
        complete: () => {
          done = true;
          notify();
        },
      });
      const stop = () => {
        release?.();
        release = undefined;
        subscription.unsubscribe();
      };
      return {
        next: async (): Promise<IteratorResult<FindMatch>> => {
          for (;;) {
            const match = queue.shift();
            if (match) {
              if (release && queue.length < highWaterMark / 2) {
                release();
                release = undefined;
              }
              return { value: match, done: false };
            }
            if (failure) {
              stop();
              throw failure.error;
            }
            if (done) {
              stop();
              return { value: undefined, done: true };
            }
            await new Promise<void>((resolve) => {
              wake = resolve;
            });
          }
        },
        return: async (): Promise<IteratorResult<FindMatch>> => {
          stop();
          queue.length = 0;
          return { value: undefined, done: true };
        },
      };
    },
  };
}
