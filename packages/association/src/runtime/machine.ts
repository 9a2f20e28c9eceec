import { AbortReason, encodePduParts, type Pdu, PduDecodeError, PduFramer } from '@dimse-rx/pdu';
import {
  AsyncSubject,
  asyncScheduler,
  BehaviorSubject,
  distinctUntilChanged,
  EMPTY,
  type MonoTypeOperatorFunction,
  map,
  merge,
  Observable,
  of,
  Subject,
  type Subscription,
  scan,
  switchMap,
  timer,
} from 'rxjs';
import {
  AssociationAbortedError,
  AssociationRejectedError,
  AssociationTimeoutError,
  ConnectionError,
  InvalidPrimitiveError,
} from '../errors.js';
import { initialUlState, ulReducer } from '../fsm/reducer.js';
import { type EventName, STATE_TABLE, type StateName } from '../fsm/table.js';
import type { UlEffect, UlEvent, UlNotice, UlResult, UlRole, UlState } from '../fsm/types.js';
import { log } from '../log.js';
import { maximumLengthProblem } from '../negotiation/outcome.js';
import type { Transport } from '../transport/transport.js';

/** Timer durations in milliseconds; 0 turns a timer off. */
export interface Timeouts {
  /** Opening the transport connection. */
  readonly connect: number;
  /** ARTIM, PS3.8 9.1.5: for A-ASSOCIATE-RQ after a connection, and for the close after release or abort. */
  readonly artim: number;
  /** Waiting for A-ASSOCIATE-AC/RJ and for A-RELEASE-RP. */
  readonly acse: number;
  /** An established association with no PDU in either direction is released after this long. */
  readonly idle: number;
}

/** Default timeouts, milliseconds: connect, ARTIM and ACSE 30 s; no idle timeout. */
export const DEFAULT_TIMEOUTS: Timeouts = { connect: 30_000, artim: 30_000, acse: 30_000, idle: 0 };

/** How a state machine runner is set up: its role, limits, timeouts, how it connects, its log label. */
export interface MachineOptions {
  readonly role: UlRole;
  /** Largest P-DATA-TF we accept, as our Maximum Length Sub-Item says (0: no limit). */
  readonly maxPduLength: number;
  readonly timeouts: Timeouts;
  /** Opens the transport for the requestor (AE-1). */
  /** Opens the transport (requestor). */
  readonly connect?: () => Observable<Transport>;
  /** For logs: who this machine talks to. */
  readonly label: string;
}

/** States in which the ACSE timer runs: an answer from the peer's ACSE is awaited. */
const ACSE_WAITS: ReadonlySet<StateName> = new Set(['Sta5', 'Sta7', 'Sta10', 'Sta11']);

const PDU_EVENTS = {
  AssociateRq: 'Evt6',
  AssociateAc: 'Evt3',
  AssociateRj: 'Evt4',
  PDataTf: 'Evt10',
  ReleaseRq: 'Evt12',
  ReleaseRp: 'Evt13',
  Abort: 'Evt16',
} as const;

const pduEvent = (pdu: Pdu): UlEvent => ({ type: PDU_EVENTS[pdu.type], pdu }) as UlEvent;

/**
 * Events raised while one is being handled (by its effects) wait until it is done, in order:
 * what observeOn(queueScheduler) gives, without a scheduled action per event (one per PDU).
 */
function trampoline<T>(): MonoTypeOperatorFunction<T> {
  return (source) =>
    new Observable<T>((subscriber) => {
      const queue: T[] = [];
      let draining = false;
      return source.subscribe({
        next: (value) => {
          queue.push(value);
          if (draining) return;
          draining = true;
          try {
            for (let i = 0; i < queue.length; i++) subscriber.next(queue[i]!);
          } finally {
            queue.length = 0;
            draining = false;
          }
        },
        error: (error: unknown) => subscriber.error(error),
        complete: () => subscriber.complete(),
      });
    });
}

/** One line per PDU for `dimse-rx:pdu`. */
function summarize(pdu: Pdu): string {
  switch (pdu.type) {
    case 'AssociateRq':
    case 'AssociateAc':
      return `${pdu.type} ${pdu.callingAeTitle} -> ${pdu.calledAeTitle}, ${pdu.presentationContexts.length} presentation contexts`;
    case 'AssociateRj':
      return `AssociateRj result ${pdu.result} source ${pdu.source} reason ${pdu.reason}`;
    case 'PDataTf':
      return `PDataTf ${pdu.pdvs.map((v) => `[pc ${v.presentationContextId} ${v.command ? 'cmd' : 'data'}${v.last ? ' last' : ''} ${v.value.length} B]`).join(' ')}`;
    case 'Abort':
      return `Abort source ${pdu.source} reason ${pdu.reason}`;
    case 'ReleaseRq':
    case 'ReleaseRp':
      return pdu.type;
  }
}

/**
 * The runner of one association: it merges PDUs from the framer, user primitives, transport
 * events and timer expiries into one event stream, folds it with `scan(ulReducer)` and
 * performs the effects. Events raised while effects run are queued (a trampoline), so every
 * event sees the effects of the one before it completed.
 */
export class UlMachine {
  readonly #options: MachineOptions;
  readonly #primitives = new Subject<UlEvent>();
  readonly #wire = new Subject<UlEvent>();
  readonly #artim = new Subject<boolean>();
  /** Whether the idle timer runs (a timeout set): only then is P-DATA activity noted. */
  readonly #idleTimer: boolean;
  /** When a P-DATA-TF was last sent or received (the idle timer's start), scheduler time. */
  #lastActivity = 0;
  /** Whether the last PDV received, and the last sent, left a message unfinished (not its last fragment). */
  readonly #midMessage = { received: false, sent: false };
  readonly #state: BehaviorSubject<UlState>;
  readonly #notices = new Subject<UlNotice>();
  readonly #subscriptions: Subscription[] = [];
  /** What to call once a PDU given to `primitive()` has been written (see `whenWritten`). */
  readonly #onWritten = new WeakMap<object, (error?: Error) => void>();
  #transport: Transport | undefined;
  #reading: Subscription | undefined;
  /** An error that explains the end better than the state machine can (timeouts, connection errors). */
  #cause: Error | undefined;
  /** How the association ended, as the state machine saw it. */
  #outcome: Error | 'released' | undefined;
  readonly #finished = new AsyncSubject<Error | undefined>();
  #ended = false;
  #closed = false;
  #reported = false;

  constructor(options: MachineOptions) {
    this.#options = options;
    this.#state = new BehaviorSubject(initialUlState(options.role));
    const { artim, acse, idle } = options.timeouts;
    this.#idleTimer = idle > 0;

    const artimExpiry = this.#artim.pipe(
      distinctUntilChanged(),
      switchMap((running) => (running && artim > 0 ? timer(artim).pipe(map((): UlEvent => ({ type: 'Evt18' }))) : EMPTY)),
    );
    const results = merge(this.#primitives, this.#wire, artimExpiry).pipe(
      trampoline(),
      scan(
        (previous: UlResult & { event?: UlEvent }, event: UlEvent) => {
          const { state, action, effects } = ulReducer(previous.state, event);
          return action === undefined ? { state, effects, event } : { state, action, effects, event };
        },
        {
          state: this.#state.value,
          effects: [],
        },
      ),
    );
    this.#subscriptions.push(results.subscribe((result) => this.#perform(result)));

    const names = this.#state.pipe(
      map((s) => s.name),
      distinctUntilChanged(),
    );
    this.#subscriptions.push(
      names.pipe(switchMap((name) => (ACSE_WAITS.has(name) && acse > 0 ? timer(acse).pipe(map(() => name)) : EMPTY))).subscribe((name) => {
        const what = name === 'Sta5' ? 'no A-ASSOCIATE-AC or -RJ received' : 'no A-RELEASE-RP received';
        this.#fail(new AssociationTimeoutError('acse', acse, what));
        this.#dispatch({ type: 'Evt15' });
      }),
    );
    if (idle > 0) {
      // One timer per idle period, not one per PDU: activity only notes its time, and the timer,
      // when it expires, waits again for what is left of the period since the last activity.
      const now = () => asyncScheduler.now();
      const untilIdle = (): Observable<void> => {
        const left = this.#lastActivity + idle - now();
        return left <= 0 ? of(undefined) : timer(left).pipe(switchMap(untilIdle));
      };
      this.#subscriptions.push(
        names
          .pipe(
            switchMap((name) => {
              if (name !== 'Sta6') return EMPTY;
              this.#lastActivity = now();
              return untilIdle();
            }),
          )
          .subscribe(() => {
            // Between messages the association is released; in the middle of one (a data set half
            // received or half sent) a release cannot be answered in order: it is aborted.
            const midMessage = this.#midMessage.received || this.#midMessage.sent;
            this.#fail(
              new AssociationTimeoutError(
                'idle',
                idle,
                midMessage ? 'no PDU sent or received in the middle of a message' : 'no PDU sent or received',
              ),
            );
            this.#dispatch({ type: midMessage ? 'Evt15' : 'Evt11' });
          }),
      );
    }
  }

  /** Indications and confirmations for the user; completes when the machine is back in Sta1. */
  get notices(): Observable<UlNotice> {
    return this.#notices.asObservable();
  }

  /** The current state, then every change. */
  get states(): Observable<UlState> {
    return this.#state.asObservable();
  }

  get state(): UlState {
    return this.#state.value;
  }

  /** The error that ended the association when it was not the peer's doing (a timer, the network). */
  get cause(): Error | undefined {
    return this.#cause;
  }

  /**
   * Emits once, when the association no longer exists (Sta13, or Sta1 when the transport closed
   * first): undefined after a release, otherwise the error that ended it (rejection, abort,
   * timeout, connection failure). The transport may still be closing.
   */
  get finished(): Observable<Error | undefined> {
    return this.#finished.asObservable();
  }

  get transport(): Transport | undefined {
    return this.#transport;
  }

  /** Requestor: A-ASSOCIATE request (Evt1); AE-1 connects, AE-2 sends the request. */
  requestAssociation(request: Extract<UlEvent, { type: 'Evt1' }>['request']): void {
    this.#primitive({ type: 'Evt1', request });
  }

  /** Acceptor: a transport connection arrived (Evt5). */
  acceptTransport(transport: Transport): void {
    this.#attach(transport);
    this.#wire.next({ type: 'Evt5' });
  }

  /** A local primitive (Evt7, Evt8, Evt9, Evt11, Evt14, Evt15); throws InvalidPrimitiveError outside the table. */
  primitive(event: Extract<UlEvent, { type: 'Evt7' | 'Evt8' | 'Evt9' | 'Evt11' | 'Evt14' | 'Evt15' }>): void {
    this.#primitive(event);
  }

  /**
   * Asks to be told when `pdu`, about to be given to `primitive()`, has been written to the
   * transport (its buffers free again), or with an error that it will not be.
   */
  whenWritten(pdu: object, callback: (error?: Error) => void): void {
    this.#onWritten.set(pdu, callback);
  }

  /** Whether the table has a cell for this event in the current state. */
  allows(event: EventName): boolean {
    return STATE_TABLE[this.#state.value.name][event] !== undefined;
  }

  /** Pauses reading the transport until the returned function is called (flow control). */
  hold(): () => void {
    const transport = this.#transport;
    if (!transport) return () => {};
    transport.pause();
    let released = false;
    return () => {
      if (!released) {
        released = true;
        transport.resume();
      }
    };
  }

  #primitive(event: UlEvent): void {
    if (!this.allows(event.type)) {
      log.fsm('%s: %s refused in %s', this.#options.label, event.type, this.#state.value.name);
      throw new InvalidPrimitiveError(event.type, this.#state.value.name);
    }
    this.#dispatch(event);
  }

  #dispatch(event: UlEvent): void {
    this.#primitives.next(event);
  }

  /** The first error recorded wins: it is what the user is told. */
  #fail(error: Error): void {
    this.#cause ??= error;
  }

  #perform(result: UlResult & { event?: UlEvent }): void {
    const from = this.#state.value.name;
    if (result.action && log.fsm.enabled) {
      log.fsm('%s: %s --%s/%s--> %s', this.#options.label, from, result.event?.type, result.action, result.state.name);
    }
    // The same state object is the same state (data in Sta6): nobody needs telling.
    if (result.state !== this.#state.value) this.#state.next(result.state);
    if (result.action === 'AR-3' || result.action === 'AR-4') this.#outcome ??= 'released';
    for (const effect of result.effects) {
      try {
        this.#effect(effect);
      } catch (error) {
        // An effect that cannot be performed (a PDU the encoder refuses: a value the wire cannot
        // carry) must not reach the process: the association is aborted and told why.
        const cause = error instanceof Error ? error : new Error(String(error));
        log.fsm('%s: %s failed: %s', this.#options.label, effect.type, cause.message);
        this.#fail(new AssociationAbortedError(0, 0, `${effect.type} failed: ${cause.message}`));
        if (this.allows('Evt15')) this.#dispatch({ type: 'Evt15' });
        else this.destroy();
        break;
      }
    }
    // What the idle timer needs, kept only when there is one (every P-DATA passes here).
    if (this.#idleTimer && (result.event?.type === 'Evt10' || result.event?.type === 'Evt9')) {
      this.#lastActivity = asyncScheduler.now();
      const pdvs = result.event.pdu.pdvs;
      if (pdvs.length > 0) this.#midMessage[result.event.type === 'Evt10' ? 'received' : 'sent'] = !pdvs[pdvs.length - 1]!.last;
    }
    // Sta13: the association no longer exists, only the transport is left to close.
    if (result.state.name === 'Sta13') this.#finish();
    if (result.state.name === 'Sta1' && from !== 'Sta1') this.#end();
  }

  #effect(effect: UlEffect): void {
    switch (effect.type) {
      case 'Connect':
        this.#connect();
        break;
      case 'Send': {
        if (log.pdu.enabled) log.pdu('%s: sent %s', this.#options.label, summarize(effect.pdu));
        const onWritten = this.#onWritten.get(effect.pdu);
        if (onWritten) this.#onWritten.delete(effect.pdu);
        if (this.#transport) this.#transport.write(encodePduParts(effect.pdu), onWritten);
        else onWritten?.(new ConnectionError('No transport to send on', undefined));
        break;
      }
      case 'Close':
        this.#close();
        break;
      case 'StartArtim':
        // Restart: a start while running begins a new period (AA-1).
        this.#artim.next(false);
        this.#artim.next(true);
        break;
      case 'StopArtim':
        this.#artim.next(false);
        break;
      case 'Notify':
        this.#note(effect.notice);
        this.#notices.next(effect.notice);
        break;
      case 'NoTransition':
        log.fsm('%s: no transition for %s in %s, ignored', this.#options.label, effect.event, effect.state);
        break;
    }
  }

  /** Tells how the association ended, once: on entering Sta13 or Sta1, whichever comes first. */
  #finish(): void {
    if (this.#reported) return;
    this.#reported = true;
    const outcome = this.#cause ?? this.#outcome ?? new AssociationAbortedError(0, 0, 'aborted locally');
    log.fsm('%s: ended, %s', this.#options.label, outcome === 'released' ? 'released' : outcome.message);
    this.#finished.next(outcome === 'released' ? undefined : outcome);
    this.#finished.complete();
  }

  #close(): void {
    this.#reading?.unsubscribe();
    if (this.#closed) return;
    this.#closed = true;
    this.#transport?.close();
  }

  #note(notice: UlNotice): void {
    switch (notice.type) {
      case 'AssociateRejected':
        this.#outcome ??= new AssociationRejectedError(notice.response.result, notice.response.source, notice.response.reason);
        break;
      case 'AbortIndication':
        this.#outcome ??= new AssociationAbortedError(notice.source, notice.reason, 'the peer aborted');
        break;
      case 'ProviderAbortIndication':
        this.#outcome ??= new AssociationAbortedError(notice.source, notice.reason, notice.problem);
        break;
      default:
    }
  }

  #connect(): void {
    const { connect, timeouts } = this.#options;
    if (!connect) {
      this.#fail(new ConnectionError('No transport to connect with', undefined));
      this.#wire.next({ type: 'Evt17' });
      return;
    }
    const connecting = timeouts.connect > 0 ? merge(connect(), timer(timeouts.connect).pipe(map(() => undefined))) : connect();
    let done = false;
    const settle = (): boolean => {
      if (done) return false;
      done = true;
      subscription?.unsubscribe();
      return true;
    };
    let subscription: Subscription | undefined;
    subscription = connecting.subscribe({
      next: (transport) => {
        if (!settle()) return;
        if (transport === undefined) {
          this.#fail(new AssociationTimeoutError('connect', timeouts.connect, 'no transport connection'));
          this.#wire.next({ type: 'Evt17' });
          return;
        }
        this.#attach(transport);
        this.#wire.next({ type: 'Evt2' });
      },
      error: (error: unknown) => {
        if (!settle()) return;
        this.#fail(error instanceof Error ? error : new ConnectionError(String(error), undefined));
        this.#wire.next({ type: 'Evt17' });
      },
    });
    // A connector that answered synchronously is settled already: let go of it now.
    if (done) subscription.unsubscribe();
    else this.#subscriptions.push(subscription);
  }

  #attach(transport: Transport): void {
    this.#transport = transport;
    const framer = new PduFramer({ maxPduLength: this.#options.maxPduLength });
    let broken = false;
    this.#reading = transport.chunks.subscribe({
      next: (chunk) => {
        if (broken) return;
        let pdus: Pdu[];
        try {
          pdus = framer.push(chunk);
        } catch (error) {
          broken = true;
          const problem = error instanceof PduDecodeError ? error.message : String(error);
          log.pdu('%s: bad input: %s', this.#options.label, problem);
          this.#wire.next({ type: 'Evt19', reason: error instanceof PduDecodeError ? error.abortReason : 0, problem });
          return;
        }
        for (const pdu of pdus) {
          if (log.pdu.enabled) log.pdu('%s: received %s', this.#options.label, summarize(pdu));
          // An accept whose Maximum Length no fragment fits is an invalid PDU (AA-8, reason 6).
          const problem = pdu.type === 'AssociateAc' && this.#state.value.name === 'Sta5' ? maximumLengthProblem(pdu) : undefined;
          if (problem !== undefined) {
            broken = true;
            this.#wire.next({ type: 'Evt19', reason: AbortReason.InvalidPduParameterValue, problem });
            return;
          }
          this.#wire.next(pduEvent(pdu));
        }
      },
      error: (error: unknown) => {
        this.#fail(error instanceof Error ? error : new ConnectionError(String(error), undefined));
        this.#wire.next({ type: 'Evt17' });
      },
      complete: () => this.#wire.next({ type: 'Evt17' }),
    });
  }

  #end(): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#close();
    this.#artim.next(false);
    this.#finish();
    this.#notices.complete();
    for (const s of this.#subscriptions) s.unsubscribe();
  }

  /** Forces the end: sends nothing more, closes the transport. For a process that stops. */
  destroy(): void {
    if (this.#ended) return;
    this.#fail(new ConnectionError('The association was destroyed locally', undefined));
    this.#end();
  }
}
