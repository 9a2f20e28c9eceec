import {
  type AssociateOptions,
  type Association,
  AssociationRejectedError,
  NoPresentationContextAcceptedError,
} from '@dimse-rx/association';
import { lastValueFrom, Observable, TimeoutError, tap, timeout } from 'rxjs';
import { dimse } from '../../channel.js';
import { associate } from '../associate.js';
import { type StoreAllEvent, storeAll } from './batch.js';
import { storageContexts, type TransferSyntaxProposal } from './contexts.js';
import type { StoreInput } from './input.js';
import type { StoreEvent, StoreOptions } from './store.js';

/** One input of `storePool()`: what to send, and what its presentation context needs. */
export interface PoolInput {
  readonly input: StoreInput;
  readonly sopClassUid: string;
  readonly transferSyntaxUid: string;
  /** Bytes of its data set, to share the inputs among associations by size (count when missing). */
  readonly size?: number;
}

export interface StorePoolOptions extends StoreOptions {
  /** Where and how to associate; the presentation contexts are proposed for each batch of inputs. */
  readonly associate: Omit<AssociateOptions, 'presentationContexts'>;
  /** Associations at once (default 1): the inputs are shared among them by size, in order. */
  readonly associations?: number;
  /**
   * New associations after one that ended early (aborted, dropped, timed out), in a row without an
   * input stored, before the inputs left are given up (default 2).
   */
  readonly retries?: number;
  /** Which transfer syntaxes to propose besides each input's own (default 'all'). */
  readonly propose?: TransferSyntaxProposal;
  /** Longest wait, in ms, for any progress or response: past it the association is aborted (default none). */
  readonly timeout?: number;
  /** Pause before a new association after one that stored nothing, in ms (default 500): a peer that refuses at once is not hammered. */
  readonly retryDelay?: number;
}

/**
 * What `storePool()` emits: each input's events (with its index among all inputs, the lane that
 * sends it and the association's number), associations opened, and why inputs were retried,
 * handed over or not sent.
 */
export type StorePoolEvent =
  | { readonly type: 'opened'; readonly association: number; readonly lane: number; readonly inputs: number }
  | (StoreEvent & { readonly index: number; readonly lane: number; readonly association: number })
  | { readonly type: 'failed'; readonly index: number; readonly lane?: number; readonly association?: number; readonly error: unknown }
  /** The association ended before all of its inputs were answered; a new one takes those left. */
  | {
      readonly type: 'endedEarly';
      readonly association: number;
      readonly error: unknown;
      readonly left: number;
      readonly retry: number;
      readonly retries: number;
    }
  /** A new association could not be opened; it is tried again. */
  | { readonly type: 'openFailed'; readonly error: unknown; readonly retry: number; readonly retries: number }
  /** The first association of a lane was refused for now: its inputs go over the other lanes. */
  | { readonly type: 'handedOver'; readonly error: unknown; readonly inputs: number }
  /** An input given up without being sent: no association could be had, or the retries are used up. */
  | {
      readonly type: 'notSent';
      readonly index: number;
      readonly error: unknown;
      /** 'unreachable': no association could be opened; 'retriesUsedUp': associations kept ending early. */
      readonly reason: 'unreachable' | 'retriesUsedUp';
      readonly association?: number;
    };

/** Presentation contexts one association proposes at most (PS3.8 9.3.2: IDs 1 to 255, odd). */
const MAX_CONTEXTS = 128;
const RETRY_DELAY_MS = 500;

/** The inputs shared among `lanes` in order, each lane about the same number of bytes. */
function split(inputs: readonly number[], sizes: readonly number[], lanes: number): number[][] {
  const n = Math.min(lanes, inputs.length);
  const total = inputs.reduce((sum, i) => sum + sizes[i]!, 0);
  const out: number[][] = [];
  let current: number[] = [];
  let bytes = 0;
  inputs.forEach((input, k) => {
    current.push(input);
    bytes += sizes[input]!;
    const left = inputs.length - k - 1;
    const lanesLeft = n - out.length - 1;
    if (lanesLeft > 0 && (bytes >= (total * (out.length + 1)) / n || left === lanesLeft)) {
      out.push(current);
      current = [];
    }
  });
  if (current.length > 0) out.push(current);
  return out;
}

/**
 * C-STORE of many inputs over `associations` associations at once, each proposing the contexts
 * of its own inputs (at most 128 per association; more inputs need more associations, one after
 * the other). An association that ends early (the peer aborted, the connection dropped, the
 * timeout passed) is followed by a new one for the inputs not yet answered, up to `retries` times
 * in a row without an input stored; then those left are given up (`notSent`). A lane whose first
 * association the peer refuses for now (transient: its limit of associations, most often) while
 * another lane has one hands its inputs over to the others. Within each association `storeAll`
 * uses the negotiated window. Completes when every input has its outcome; unsubscribing aborts
 * the associations open.
 */
export function storePool(inputs: readonly PoolInput[], options: StorePoolOptions): Observable<StorePoolEvent> {
  return new Observable<StorePoolEvent>((subscriber) => {
    const retries = options.retries ?? 2;
    const propose = options.propose ?? 'all';
    const delay = options.retryDelay ?? RETRY_DELAY_MS;
    const open = new Set<Association>();
    let stopped = false;
    let opened = 0;
    let running = 0;
    const handedOver: number[] = [];
    const emit = (event: StorePoolEvent) => {
      if (!stopped) subscriber.next(event);
    };
    const wait = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

    /** As many inputs from the start of `queue` as one association's contexts can carry. */
    const nextBatch = (queue: readonly number[]): number[] => {
      const keys = new Map<string, { sopClassUid: string; transferSyntaxUid: string }>();
      let count = 0;
      for (const i of queue) {
        const input = inputs[i]!;
        const key = `${input.sopClassUid} ${input.transferSyntaxUid}`;
        if (!keys.has(key)) {
          keys.set(key, input);
          if (storageContexts([...keys.values()], { propose }).length > MAX_CONTEXTS) break;
        }
        count++;
      }
      return queue.slice(0, Math.max(count, 1));
    };

    const associateFor = (batch: readonly number[]) =>
      new Promise<Association>((resolve, reject) => {
        associate({
          ...options.associate,
          presentationContexts: storageContexts(
            batch.map((i) => inputs[i]!),
            { propose },
          ),
        }).subscribe({
          next: resolve,
          error: reject,
        });
      });

    /** Releases, or aborts after a timeout (a peer that does not answer is not asked to release). */
    const letGo = async (association: Association, error?: unknown) => {
      open.delete(association);
      if (association.state === 'Sta6' && !(error instanceof TimeoutError))
        await lastValueFrom(dimse(association).release(), { defaultValue: undefined }).catch(() => undefined);
      else association.abort();
    };

    /** Sends a batch on an association; how many of it were answered, how many stored, and why it ended early. */
    const send = async (association: Association, number: number, lane: number, batch: readonly number[]) => {
      let settled = 0;
      let stored = 0;
      let sent = 0;
      const onEvent = (event: StoreAllEvent) => {
        const index = batch[event.index]!;
        if (event.type === 'progress') {
          sent = event.bytesSent;
          emit({ ...event, index, lane, association: number });
          return;
        }
        settled++;
        sent = 0;
        if (event.type === 'failed') {
          emit({ type: 'failed', index, lane, association: number, error: event.error });
          return;
        }
        if (event.status.kind !== 'failure') stored++;
        emit({ ...event, index, lane, association: number });
      };
      try {
        await lastValueFrom(
          storeAll(
            association,
            batch.map((i) => inputs[i]!.input),
            options,
          ).pipe(options.timeout === undefined ? tap() : timeout({ each: options.timeout }), tap(onEvent)),
          { defaultValue: undefined },
        );
      } catch (error) {
        await letGo(association, error);
        // The input in flight failed if any of it went; one not begun waits for the next association.
        const inFlight = batch[settled];
        if (inFlight !== undefined && sent > 0) {
          settled++;
          emit({ type: 'failed', index: inFlight, lane, association: number, error });
        }
        return { settled, stored, error };
      }
      await letGo(association);
      return { settled, stored, error: undefined };
    };

    const lane = async (number: number, own: readonly number[], mayHandOver: boolean): Promise<void> => {
      let queue = own.slice();
      let established = false;
      let inARow = 0;
      const giveUp = (error: unknown, reason: 'unreachable' | 'retriesUsedUp', association?: number) => {
        for (const index of queue) emit({ type: 'notSent', index, error, reason, ...(association === undefined ? {} : { association }) });
        queue = [];
      };
      while (!stopped) {
        if (queue.length === 0) {
          if (!established || handedOver.length === 0) return;
          queue = handedOver.splice(0);
        }
        const batch = nextBatch(queue);
        let association: Association;
        try {
          association = await associateFor(batch);
        } catch (error) {
          if (error instanceof NoPresentationContextAcceptedError) {
            // The peer takes none of these inputs as proposed: each fails, not waiting for another try.
            for (const index of batch) emit({ type: 'failed', index, error });
            queue = queue.slice(batch.length);
            continue;
          }
          const transient = error instanceof AssociationRejectedError && error.result === 2;
          if (!established && transient && mayHandOver && running > 1) {
            emit({ type: 'handedOver', error, inputs: queue.length });
            handedOver.push(...queue);
            return;
          }
          const permanent = error instanceof AssociationRejectedError && error.result === 1;
          // The first association failing says the peer cannot be had: there is nothing to go on with.
          if (!established || permanent || ++inARow > retries) {
            giveUp(error, 'unreachable');
            return;
          }
          emit({ type: 'openFailed', error, retry: inARow, retries });
          await wait(delay);
          continue;
        }
        if (stopped) {
          association.abort();
          return;
        }
        open.add(association);
        established = true;
        const id = ++opened;
        emit({ type: 'opened', association: id, lane: number, inputs: batch.length });
        const outcome = await send(association, id, number, batch);
        queue = queue.slice(outcome.settled);
        if (outcome.error === undefined) {
          inARow = 0;
          continue;
        }
        if (outcome.stored > 0) inARow = 0;
        if (queue.length === 0) continue;
        if (++inARow > retries) {
          giveUp(outcome.error, 'retriesUsedUp', id);
          return;
        }
        emit({ type: 'endedEarly', association: id, error: outcome.error, left: queue.length, retry: inARow, retries });
        if (outcome.stored === 0) await wait(delay);
      }
    };
    const runLane = async (number: number, own: readonly number[], mayHandOver: boolean) => {
      running++;
      try {
        await lane(number, own, mayHandOver);
      } finally {
        running--;
      }
    };

    const lanes = Math.max(1, options.associations ?? 1);
    const all = inputs.map((_, i) => i);
    const sizes = inputs.map((input) => input.size ?? 1);
    void (async () => {
      await Promise.all(split(all, sizes, lanes).map((own, k) => runLane(k, own, lanes > 1)));
      // Handed over after every other lane was done: one more lane for them, which keeps them.
      if (handedOver.length > 0) await runLane(0, handedOver.splice(0), false);
      if (!stopped) subscriber.complete();
    })().catch((error: unknown) => subscriber.error(error));
    return () => {
      stopped = true;
      for (const association of open) association.abort();
    };
  });
}
