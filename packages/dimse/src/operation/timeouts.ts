import { Observable } from 'rxjs';

/**
 * Time limits of one operation, in milliseconds; none is set unless given. Passing one
 * unsubscribes (so a cancelable operation sends C-CANCEL-RQ) and errors with
 * OperationTimeoutError.
 */
export interface OperationTimeouts {
  /** From the request to its first response (a match, a pending response, a sub-operation). */
  readonly firstResponse?: number;
  /** The longest silence between two responses once the first has come. */
  readonly betweenResponses?: number;
  /** The whole operation, from the request to its final response. */
  readonly total?: number;
  /**
   * Whether a pending response (and, for a C-GET, a sub-operation) restarts the timers: true
   * unless set. False suits a peer known to send pending responses without making progress:
   * then `betweenResponses` runs from the first response to the final one.
   */
  readonly pendingRestartsTimer?: boolean;
}

/** Which limit of OperationTimeouts passed. */
export type TimeoutLimit = 'firstResponse' | 'betweenResponses' | 'total';

/** An operation went past one of its time limits: it was given up (cancelled where it can be). */
export class OperationTimeoutError extends Error {
  override readonly name = 'OperationTimeoutError';
  readonly limit: TimeoutLimit;
  /** The limit, in milliseconds. */
  readonly ms: number;
  constructor(what: string, limit: TimeoutLimit, ms: number) {
    const words = { firstResponse: 'no response', betweenResponses: 'no further response', total: 'not finished' }[limit];
    super(`${what}: ${words} within ${ms} ms (${limit} limit)`);
    this.limit = limit;
    this.ms = ms;
  }
}

const hasLimits = (t: OperationTimeouts | undefined): t is OperationTimeouts =>
  t !== undefined && (t.firstResponse !== undefined || t.betweenResponses !== undefined || t.total !== undefined);

/**
 * Applies the time limits to the values of an operation (its responses, as the service emits
 * them): each value counts as a response. Without limits the source is returned as it is.
 */
export function withTimeouts<T>(source: Observable<T>, timeouts: OperationTimeouts | undefined, what: string): Observable<T> {
  if (!hasLimits(timeouts)) return source;
  const restarts = timeouts.pendingRestartsTimer ?? true;
  return new Observable<T>((subscriber) => {
    let silence: ReturnType<typeof setTimeout> | undefined;
    let whole: ReturnType<typeof setTimeout> | undefined;
    let responses = 0;
    const expire = (limit: TimeoutLimit, ms: number) => {
      clearTimeout(silence);
      clearTimeout(whole);
      subscription.unsubscribe();
      subscriber.error(new OperationTimeoutError(what, limit, ms));
    };
    const arm = () => {
      clearTimeout(silence);
      const [limit, ms] =
        responses === 0 ? (['firstResponse', timeouts.firstResponse] as const) : (['betweenResponses', timeouts.betweenResponses] as const);
      silence = ms === undefined ? undefined : setTimeout(() => expire(limit, ms), ms);
    };
    const subscription = source.subscribe({
      next: (value) => {
        responses++;
        if (responses === 1 || restarts) arm();
        subscriber.next(value);
      },
      error: (error) => {
        clearTimeout(silence);
        clearTimeout(whole);
        subscriber.error(error);
      },
      complete: () => {
        clearTimeout(silence);
        clearTimeout(whole);
        subscriber.complete();
      },
    });
    if (!subscription.closed) {
      arm();
      if (timeouts.total !== undefined) {
        const ms = timeouts.total;
        whole = setTimeout(() => expire('total', ms), ms);
      }
    }
    return () => {
      clearTimeout(silence);
      clearTimeout(whole);
      subscription.unsubscribe();
    };
  });
}
