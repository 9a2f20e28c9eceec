import type { PDataTf } from '@dimse-rx/pdu';
import { defer, distinctUntilChanged, filter, map, Observable, Subject, takeWhile } from 'rxjs';
import { ConnectionError } from './errors.js';
import type { StateName } from './fsm/table.js';
import type { UlNotice } from './fsm/types.js';
import type { NegotiatedContext, Negotiation } from './negotiation/outcome.js';
import type { UlMachine } from './runtime/machine.js';

/** P-DATA values kept for a first subscriber of `pData` before reading pauses. */
const EARLY_LIMIT = 1 << 20;

/** Bytes a PDV item adds to its value in the P-DATA-TF length: item length (4), context ID (1), control header (1). */
const PDV_OVERHEAD = 6;

/**
 * An established association. It exposes what negotiation settled, the P-DATA received, a way
 * to send P-DATA, release and abort. The DIMSE layer builds on `pData` and `send`.
 */
export class Association {
  readonly #machine: UlMachine;
  readonly negotiation: Negotiation;
  /**
   * State the layers above keep for this association (the DIMSE channel), by a key of theirs:
   * it lives and goes with the association, and two copies of a layer loaded in one process
   * find the same entry under a `Symbol.for` key.
   */
  readonly layers = new Map<string | symbol, unknown>();
  /**
   * P-DATA-TF PDUs received, as they arrive (values are views of the received bytes). Completes
   * at the end. What arrives before anybody subscribes is kept for the first subscriber (a peer
   * may send before the DIMSE layer is set up); past 1 MiB of it, reading pauses until then.
   */
  readonly pData: Observable<PDataTf>;
  /**
   * P-DATA received while nobody read `pData`, kept for its first subscriber; 'live' once one
   * came; 'dropped' after a release without one (what still comes is nobody's).
   */
  #early: PDataTf[] | 'live' | 'dropped' = [];
  #earlyBytes = 0;
  #earlyHold: (() => void) | undefined;
  readonly #live = new Subject<PDataTf>();
  /** Emits once when the association is over: undefined after a release, else the error that ended it. */
  readonly finished: Observable<Error | undefined>;

  constructor(machine: UlMachine, negotiation: Negotiation) {
    this.#machine = machine;
    this.negotiation = negotiation;
    machine.notices
      .pipe(
        filter((n): n is Extract<UlNotice, { type: 'PDataIndication' }> => n.type === 'PDataIndication'),
        map((n) => n.pdu),
      )
      .subscribe({
        next: (pdu) => {
          if (this.#early === 'live') {
            this.#live.next(pdu);
            return;
          }
          if (this.#early === 'dropped') return;
          this.#early.push(pdu);
          for (const pdv of pdu.pdvs) this.#earlyBytes += pdv.value.length;
          if (this.#earlyBytes > EARLY_LIMIT) this.#earlyHold ??= machine.hold();
        },
        error: (error: unknown) => this.#live.error(error),
        complete: () => this.#live.complete(),
      });
    this.pData = new Observable<PDataTf>((subscriber) => {
      const early = this.#early;
      this.#early = 'live';
      if (Array.isArray(early)) for (const pdu of early) subscriber.next(pdu);
      const live = this.#live.subscribe(subscriber);
      this.#releaseEarly();
      return live;
    });
    this.finished = machine.finished;
    // The peer's release request is always answered with A-RELEASE-RP (PS3.8 7.2): at once,
    // or in a collision as the standard orders it (Sta9 answers first, Sta12 after the RP).
    machine.notices.subscribe((notice) => {
      const state = machine.state.name;
      if (
        (notice.type === 'ReleaseIndication' && (state === 'Sta8' || state === 'Sta9')) ||
        (notice.type === 'ReleaseConfirmation' && state === 'Sta12')
      ) {
        machine.primitive({ type: 'Evt14' });
      }
    });
  }

  /** The Upper Layer state now and at every change (PS3.8 9.2.1); completes when the association is over. */
  get states(): Observable<StateName> {
    return this.#machine.states.pipe(
      map((s) => s.name),
      distinctUntilChanged(),
      takeWhile((name) => name !== 'Sta1', true),
    );
  }

  /** The Upper Layer state (PS3.8 9.2.1), 'Sta6' while established. */
  get state(): StateName {
    return this.#machine.state.name;
  }

  /** The presentation contexts the peer accepted. */
  get acceptedContexts(): readonly (NegotiatedContext & { readonly transferSyntax: string })[] {
    // Fixed once negotiated: computed once, not per request.
    this.#accepted ??= Object.freeze(
      this.negotiation.presentationContexts.filter((pc): pc is NegotiatedContext & { transferSyntax: string } => pc.accepted),
    );
    return this.#accepted;
  }
  #accepted: readonly (NegotiatedContext & { readonly transferSyntax: string })[] | undefined;

  /**
   * The largest PDV value that fits one P-DATA-TF the peer accepts: its maximum length less the
   * PDV item header (4-byte length, context ID, control header). Infinity when it set no limit.
   */
  get maxPdvValueLength(): number {
    const peer = this.negotiation.peerMaxPduLength;
    return peer === 0 ? Number.POSITIVE_INFINITY : peer - PDV_OVERHEAD;
  }

  /**
   * Sends P-DATA-TF PDUs, one or several in order (each DT-1, or AR-7 while the peer's release
   * waits). Completes once their bytes have been handed to the operating system: a sender that
   * waits for it stays in bounded memory, and may reuse the buffers the values were views of.
   * Several PDUs given at once go out in one vectored write. Errors with a RangeError when a PDU
   * is malformed or longer than the peer accepts, with InvalidPrimitiveError when the association
   * is not in a state to send, and with the association's end when it ends before.
   */
  send(pdus: PDataTf | readonly PDataTf[]): Observable<void> {
    return new Observable<void>((subscriber) => {
      let done = false;
      this.transmit(Array.isArray(pdus) ? pdus : [pdus as PDataTf], (error) => {
        done = true;
        if (error) subscriber.error(error);
        else subscriber.complete();
      });
      // Written at once (or failed)? Done. Else the end of the association must not leave it waiting.
      if (done) return undefined;
      return this.finished.subscribe((error) =>
        subscriber.error(error ?? new ConnectionError('The association ended before the P-DATA was written', undefined)),
      );
    });
  }

  /**
   * `send()` without an Observable, for a layer that sends many small messages: `done` is called
   * once, with an error when the PDUs cannot be sent or written. The caller answers for the end of
   * the association while a write is pending (the DIMSE channel fails its pending writes then).
   */
  transmit(pdus: readonly PDataTf[], done: (error?: Error) => void): void {
    const problem = this.#check(pdus);
    if (problem) {
      done(problem);
      return;
    }
    if (pdus.length === 0) {
      done();
      return;
    }
    this.#machine.whenWritten(pdus[pdus.length - 1]!, done);
    try {
      for (const pdu of pdus) this.#machine.primitive({ type: 'Evt9', pdu });
    } catch (error) {
      done(error as Error);
    }
  }

  /** What makes these PDUs unsendable, if anything. */
  #check(list: readonly PDataTf[]): Error | undefined {
    const peer = this.negotiation.peerMaxPduLength;
    for (const pdu of list) {
      if (pdu.pdvs.length === 0) return new RangeError('A P-DATA-TF needs at least one PDV');
      let length = 0;
      for (const pdv of pdu.pdvs) {
        const id = pdv.presentationContextId;
        // Odd, 1 to 255 (PS3.8 9.3.2.2): what the wire can carry. Whether the context was
        // accepted is the DIMSE layer's to check (and a peer's to abort on).
        if (!Number.isInteger(id) || id < 1 || id > 255 || id % 2 === 0) {
          return new RangeError(`Presentation context ID ${id} is not an odd number from 1 to 255`);
        }
        length += PDV_OVERHEAD + pdv.value.length;
      }
      if (peer !== 0 && length > peer) return new RangeError(`P-DATA-TF of ${length} bytes exceeds the peer's maximum length of ${peer}`);
    }
    return undefined;
  }

  /** Drops what waited for a subscriber that did not come, and reads again. */
  #releaseEarly(): void {
    this.#earlyBytes = 0;
    this.#earlyHold?.();
    this.#earlyHold = undefined;
  }

  /** Requests release (A-RELEASE); emits nothing and completes once released, errors if it ends otherwise. */
  release(): Observable<void> {
    return defer(() => {
      // Whoever releases without reading P-DATA needs the peer's A-RELEASE-RP read.
      if (Array.isArray(this.#early)) {
        this.#early = 'dropped';
        this.#releaseEarly();
      }
      if (this.#machine.allows('Evt11')) this.#machine.primitive({ type: 'Evt11' });
      return this.finished.pipe(
        map((error) => {
          if (error) throw error;
        }),
        filter(() => false),
      );
    });
  }

  /** Aborts (A-ABORT, service-user source) unless the association is already over. */
  abort(): void {
    this.#releaseEarly();
    if (this.#machine.allows('Evt15')) this.#machine.primitive({ type: 'Evt15' });
  }

  /** Pauses reading from the peer until the returned function is called: flow control for slow consumers. */
  hold(): () => void {
    return this.#machine.hold();
  }
}
