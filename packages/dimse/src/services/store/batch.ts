import type { Association } from '@dimse-rx/association';
import { Observable, type Subscription } from 'rxjs';
import { dimse } from '../../channel.js';
import { chunkSizeFor, type Prepared, prepare, type StoreInput } from './input.js';
import { type StoreEvent, type StoreOptions, sendPrepared } from './store.js';

/** C-STOREs `storeAll()` keeps outstanding at most, whatever the window allows: each holds an open input. */
const MAX_STORES_AT_ONCE = 16;

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
    const pool = dimse(association).buffers;
    // The channel holds requests beyond the window anyway: more at once here would only keep more inputs open.
    const window = Math.max(1, Math.min(options.window ?? MAX_STORES_AT_ONCE, dimse(association).maxInvoked));
    const prepareAt = (i: number): Promise<Prepared> => {
      const preparing = prepare(inputs[i]!, chunkSize, pool);
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
