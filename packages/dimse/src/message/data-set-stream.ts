import { map, Observable, reduce } from 'rxjs';

/** Bytes buffered for a consumer that has not subscribed yet before reading from the peer pauses. */
export const DEFAULT_HIGH_WATER_MARK = 1 << 20;

/**
 * The data set of a message as it arrives: chunks that are views of the received PDUs. One
 * consumer reads `chunks`; until it subscribes, chunks are kept, and past the high-water mark
 * the association stops reading from the peer, so memory stays bounded. A consumer that
 * falls behind (a file being written) calls `hold()` and the release function it returns.
 */
export class DataSetStream {
  readonly #hold: () => () => void;
  readonly #highWaterMark: number;
  #queue: Uint8Array[] = [];
  #queued = 0;
  #received = 0;
  #ended = false;
  #error: Error | undefined;
  #release: (() => void) | undefined;
  #subscriber: { next: (chunk: Uint8Array) => void; complete: () => void; error: (e: Error) => void } | undefined;
  #taken = false;
  #waiters: { complete: () => void; error: (e: Error) => void }[] = [];

  /** `hold` pauses the source of the chunks and returns the function that resumes it. */
  constructor(hold: () => () => void, highWaterMark = DEFAULT_HIGH_WATER_MARK) {
    this.#hold = hold;
    this.#highWaterMark = highWaterMark;
  }

  /** Bytes received so far. */
  get received(): number {
    return this.#received;
  }

  /** True once the last fragment arrived. */
  get ended(): boolean {
    return this.#ended;
  }

  /** True once `chunks` has been subscribed to. */
  get consumed(): boolean {
    return this.#taken;
  }

  /** Completes when the last fragment has arrived, errors if the association ends first. */
  whenEnded(): Observable<never> {
    return new Observable<never>((subscriber) => {
      if (this.#error) subscriber.error(this.#error);
      else if (this.#ended) subscriber.complete();
      else this.#waiters.push({ complete: () => subscriber.complete(), error: (e) => subscriber.error(e) });
    });
  }

  /**
   * The chunks, in order; completes after the last fragment, errors if the association ends
   * first. One subscription only: a second one errors.
   */
  readonly chunks: Observable<Uint8Array> = new Observable<Uint8Array>((subscriber) => {
    if (this.#taken) {
      subscriber.error(new Error('The data set stream has already been read'));
      return undefined;
    }
    this.#taken = true;
    for (const chunk of this.#queue) subscriber.next(chunk);
    this.#queue = [];
    this.#queued = 0;
    this.#release?.();
    this.#release = undefined;
    if (this.#error) {
      subscriber.error(this.#error);
      return undefined;
    }
    if (this.#ended) {
      subscriber.complete();
      return undefined;
    }
    this.#subscriber = { next: (c) => subscriber.next(c), complete: () => subscriber.complete(), error: (e) => subscriber.error(e) };
    return () => {
      this.#subscriber = undefined;
    };
  });

  /** Reads the data set to its end and drops it: one nobody wants must not hold the association. */
  discard(): void {
    if (!this.#taken) this.chunks.subscribe({ error: () => undefined });
  }

  /** The whole data set in one buffer: for the small ones (queries, N-services), on request. */
  collect(): Observable<Buffer> {
    return this.chunks.pipe(
      reduce((parts: Uint8Array[], chunk) => {
        parts.push(chunk);
        return parts;
      }, []),
      map((parts) => Buffer.concat(parts)),
    );
  }

  /** Pauses reading from the peer until the returned function is called. */
  hold(): () => void {
    return this.#hold();
  }

  /** @internal the assembler's side */
  push(chunk: Uint8Array): void {
    this.#received += chunk.length;
    if (this.#subscriber) {
      this.#subscriber.next(chunk);
      return;
    }
    if (this.#taken) return; // the consumer left: what follows is dropped
    this.#queue.push(chunk);
    this.#queued += chunk.length;
    if (this.#queued > this.#highWaterMark && !this.#release) this.#release = this.#hold();
  }

  /** @internal */
  end(): void {
    this.#ended = true;
    this.#subscriber?.complete();
    for (const w of this.#waiters.splice(0)) w.complete();
  }

  /** @internal */
  fail(error: Error): void {
    if (this.#ended) return;
    this.#error = error;
    this.#release?.();
    this.#release = undefined;
    this.#subscriber?.error(error);
    for (const w of this.#waiters.splice(0)) w.error(error);
  }
}
