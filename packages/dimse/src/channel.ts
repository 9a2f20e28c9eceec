import { setImmediate } from 'node:timers';
import type { Association, NegotiatedContext } from '@dimse-rx/association';
import type { PDataTf } from '@dimse-rx/pdu';
import createDebug from 'debug';
import { defer, from, Observable, of, type Subscriber, Subscription, switchMap, throwError } from 'rxjs';
import { type Command, encodeCommand } from './command/codec.js';
import { CommandField, DATA_SET_PRESENT, isResponse, NO_DATA_SET } from './command/fields.js';
import { Status, statusKind } from './command/status.js';
import { commandName, commandSpec, sopClassOf } from './command/table.js';
import { MessageAssembler } from './message/assemble.js';
import { Fragmenter } from './message/fragment.js';
import type { DimseMessage } from './message/message.js';
import { initialOperationState, isTerminal, type OperationEvent, type OperationState, operationReducer } from './operation/reducer.js';
import { BufferPool } from './services/buffer-pool.js';

const log = createDebug('dimse-rx:dimse');

/** The Verification SOP class, PS3.4 A. */
export const VERIFICATION_SOP_CLASS = '1.2.840.10008.1.1';

/** Bytes of a data set to send: all at once, or chunks read as the sending goes (bounded memory). */
export type DataSource = Uint8Array | AsyncIterable<Uint8Array>;

/**
 * A data source that reuses its chunks' memory (a pool of file read buffers): the channel calls
 * `recycle(chunk)` once every byte of the chunk has been handed to the operating system and no
 * PDU still points into it.
 */
export interface RecyclingDataSource extends AsyncIterable<Uint8Array> {
  recycle(chunk: Uint8Array): void;
}

const recyclerOf = (source: DataSource | undefined): ((chunk: Uint8Array) => void) | undefined =>
  source !== undefined && 'recycle' in source && typeof source.recycle === 'function'
    ? (chunk) => (source as RecyclingDataSource).recycle(chunk)
    : undefined;

/** A response a request handler gives; the channel fills in Message ID Being Responded To and the data set type. */
export interface ResponseSpec {
  readonly status: number;
  /** Other fields of the response command (Affected SOP Class UID, sub-operation counts...). */
  readonly fields?: Partial<Omit<Command, 'commandField' | 'status' | 'messageIdBeingRespondedTo' | 'commandDataSetType'>>;
  readonly dataSet?: DataSource;
}

/** A request received from the peer, as handlers see it. */
export interface IncomingRequest {
  readonly message: DimseMessage;
  readonly association: Association;
  readonly presentationContext: NegotiatedContext & { readonly transferSyntax: string };
  /** The SOP class the request names (its Affected or Requested SOP Class UID, as the command table says). */
  readonly sopClassUid: string | undefined;
  /** True once the peer cancelled the request (C-CANCEL-RQ). */
  readonly cancelled: boolean;
  /**
   * What to answer when the peer cancels: the handler's own final response (0xFE00 with its
   * sub-operation counts). Without it a cancel is answered 0xFE00 alone. The handler is
   * unsubscribed (or its iterator returned) either way.
   */
  onCancel(final: () => ResponseSpec): void;
}

/**
 * Handles one kind of request: returns the responses to send, pending ones first, the final
 * one last. An Observable is unsubscribed when the peer cancels (C-CANCEL) or the association
 * ends. An async iterable is pulled: its next response is taken only once the one before has
 * been written to the socket, so a handler with a million pending responses holds a few at a
 * time; a cancel or the association's end calls its `return()` (a generator's `finally` runs).
 * One that ends without a final response is answered Success.
 */
export type RequestHandler = (request: IncomingRequest) => Observable<ResponseSpec> | AsyncIterable<ResponseSpec>;

/** Which SOP classes a registration serves: one, every one of a list, or any ('*'). */
export type SopClassSelector = string | readonly string[] | '*';

/** Options of a registration. */
export interface HandleOptions {
  /**
   * Longest time from a request's start to its final response, in milliseconds: past it the
   * handler is stopped and the request answered with the command's failure status.
   */
  readonly timeLimit?: number;
}

/** A handler's registration: `remove()` takes it out (requests already being performed go on). */
export interface Registration {
  /** Takes the registration out: requests that arrive from now on no longer reach its handler. */
  remove(): void;
}

/** A request as its handler gets it. */
class Incoming implements IncomingRequest {
  cancelled = false;
  ownFinal: (() => ResponseSpec) | undefined = undefined;
  constructor(
    readonly message: DimseMessage,
    readonly association: Association,
    readonly presentationContext: NegotiatedContext & { readonly transferSyntax: string },
    readonly sopClassUid: string | undefined,
  ) {}
  onCancel(final: () => ResponseSpec): void {
    this.ownFinal = final;
  }
}

/** How a request being performed is stopped: a cancel (with the handler's own final, if any) or its time limit. */
interface Performance {
  readonly cancelled: () => void;
  readonly cancelResponse: () => ResponseSpec;
  timedOut?: Error;
}

interface Registered {
  readonly sopClasses: ReadonlySet<string> | '*';
  readonly handler: RequestHandler;
  readonly options: HandleOptions;
}

/** The operation's role was not negotiated for its SOP class (PS3.7 D.3.3.4): nothing was sent. */
export class RoleNotNegotiatedError extends Error {
  override readonly name = 'RoleNotNegotiatedError';
}

/** The peer did not end an operation within the grace time after it was cancelled: the association was aborted. */
export class CancelGraceExpiredError extends Error {
  override readonly name = 'CancelGraceExpiredError';
}

/** Options of a request this side invokes. */
export interface RequestOptions {
  readonly dataSet?: DataSource;
  /** Told the bytes of the data set sent so far, as they go. */
  readonly onProgress?: (progress: SendProgress) => void;
  /**
   * How long, in milliseconds, a peer may take to send the final response of an operation
   * given up (unsubscribed) before the association is aborted. 30 s unless set.
   */
  readonly cancelGrace?: number;
  /**
   * Told the request's Message ID as it is assigned, before any of it is written: what the
   * C-STOREs of a C-MOVE carry back as Move Originator Message ID.
   */
  readonly onMessageId?: (messageId: number) => void;
  /**
   * Told once the operation is over on the wire: its final response arrived (even one dropped
   * after an unsubscription), it was never sent, or the association ended. A C-GET keeps its
   * storage handler until then, for the sub-operations still on their way after a cancel.
   */
  readonly onSettled?: () => void;
}

/** How long the channel's writes go on before the event loop gets to read sockets again. */
const POLL_EVERY_MS = 1;

/** Default grace time for the final response of an operation given up. */
export const DEFAULT_CANCEL_GRACE = 30_000;

/** What stops a data set being sent between chunks (an AbortSignal will do). */
export interface Cancellation {
  readonly aborted: boolean;
}

/** Progress of a data set being sent. */
export interface SendProgress {
  readonly bytes: number;
}

/** The peer broke DIMSE in a way that fails one request: a response without its Status, say. */
export class DimseProtocolError extends Error {
  override readonly name = 'DimseProtocolError';
}

const isPending = (status: number | undefined) => status !== undefined && statusKind(status) === 'pending';

/** Operations at once, either way, when the window says no limit (0, PS3.7 D.3.3.3). */
const UNLIMITED_WINDOW = 128;

/** A side of the negotiated asynchronous operations window as a count: 0 (no limit) capped. */
const windowLimit = (n: number) => (n === 0 ? UNLIMITED_WINDOW : Math.min(n, UNLIMITED_WINDOW));

/** What a request whose handler failed (or ran out of time) is answered: the table's failure status, the reason as comment. */
const failureResponse = (commandField: number | undefined, error: unknown): ResponseSpec => ({
  status: commandSpec(commandField)?.handlerFailure ?? Status.ProcessingFailure,
  fields: { errorComment: String((error as Error)?.message ?? error).slice(0, 64) },
});

/**
 * May this side invoke the command for the SOP class? The requestor is SCU and the acceptor
 * SCP unless role selection said otherwise (PS3.7 D.3.3.4); N-EVENT-REPORT is invoked by the
 * SCP, every other request by the SCU.
 */
export function mayInvoke(negotiation: Association['negotiation'], commandField: number, sopClassUid: string | undefined): boolean {
  if (commandField === CommandField.CCancelRq || sopClassUid === undefined) return true;
  const requestor = negotiation.role === 'requestor';
  const selected = negotiation.roles.find((r) => r.sopClassUid === sopClassUid);
  const scu = selected ? (requestor ? selected.scuRole : selected.scpRole) : requestor;
  const scp = selected ? (requestor ? selected.scpRole : selected.scuRole) : !requestor;
  return commandField === CommandField.NEventReportRq ? scp : scu;
}

/**
 * Requests beyond the window kept read before the socket is held: a peer that sends one more
 * (a C-FIND while its C-GET runs) is not stalled, one that floods stays unread in the socket.
 */
const WAITING_BEFORE_HOLD = 16;

/** One operation this side invokes, driven by the operation reducer. */
interface Invocation {
  state: OperationState;
  readonly subscriber: Subscriber<DimseMessage>;
  readonly presentationContextId: number;
  readonly command: Omit<Command, 'messageId' | 'commandDataSetType'>;
  readonly options: RequestOptions;
  /** Tells the sending to stop between chunks. A plain flag: an AbortController builds a DOMException per request. */
  readonly stop: { aborted: boolean };
  messageId?: number;
  grace?: ReturnType<typeof setTimeout>;
  /** Why it ended, for the subscriber. */
  error?: Error;
  /** `onSettled` was called. */
  settled?: boolean;
}

/**
 * DIMSE over one association, both ways at once: requests this side sends, with their responses
 * routed back by Message ID Being Responded To; requests the peer sends, routed to the handler
 * registered for their command and SOP class. Messages are sent whole, one after the other,
 * never interleaved (PS3.7 Annex E). Create it as soon as the association exists (`dimse()`,
 * `scp()` and `associate()` of this package do): it reads from the start and answers what no
 * handler serves with the command table's status.
 */
export class DimseChannel {
  readonly association: Association;
  /**
   * Read buffers of the files sent on this association, reused from one file to the next.
   * @internal
   */
  readonly buffers = new BufferPool();
  readonly #handlers = new Map<number, Registered[]>();
  /** How many of our operations may be outstanding at once: the negotiated window (PS3.7 D.3.3.3). */
  readonly maxInvoked: number;
  /** How many of the peer's operations are performed at once: the negotiated window. */
  readonly #maxPerformed: number;
  /** Accepted contexts by ID: the assembler's check and every request's context. */
  readonly #contextById = new Map<number, NegotiatedContext & { readonly transferSyntax: string }>();
  /** Accepted contexts by abstract syntax, looked up once each. */
  readonly #contexts = new Map<string, readonly (NegotiatedContext & { readonly transferSyntax: string })[]>();
  readonly #outstanding = new Map<number, Invocation>();
  /**
   * Requests whose response broke the protocol (no Status): what the peer still sends for them
   * is read and dropped, not taken for protocol errors.
   */
  readonly #abandoned = new Set<number>();
  /** Requests of the peer being handled, by their Message ID, so C-CANCEL can reach them. */
  readonly #handling = new Map<number, Subscription>();
  readonly #assembler: MessageAssembler;
  /** Our operations holding a place in the window, and those waiting for one, in order. */
  #invoking = 0;
  readonly #invokeQueue: Invocation[] = [];
  /** Requests of the peer being performed: from their arrival to the write of their final response. */
  #performing = 0;
  /** Requests of the peer beyond the asynchronous operations window, in their order. */
  readonly #waiting: DimseMessage[] = [];
  /** Releases the socket, held while too many requests wait. */
  #held: (() => void) | undefined;
  #nextMessageId = 1;
  #sending: Promise<void> = Promise.resolve();
  /** When a write last let the event loop poll (see #write). */
  #polled = performance.now();
  /** Writes handed to the association and not yet done: failed when the association ends. */
  readonly #pendingWrites = new Set<(error?: Error) => void>();
  /** Messages whose sending has not settled yet. */
  #unsent = 0;
  #ended: Error | undefined;

  constructor(association: Association) {
    this.association = association;
    const window = association.negotiation.asynchronousOperationsWindow;
    this.maxInvoked = windowLimit(window.maxOperationsInvoked);
    this.#maxPerformed = windowLimit(window.maxOperationsPerformed);
    const accepted = this.#contextById;
    for (const pc of association.acceptedContexts) accepted.set(pc.id, pc);
    this.#assembler = new MessageAssembler(
      (id) => accepted.has(id),
      () => association.hold(),
    );
    association.pData.subscribe((pdu) => {
      let messages: DimseMessage[];
      try {
        messages = this.#assembler.push(pdu);
      } catch (error) {
        log('%s: aborting: %s', this.#label, (error as Error).message);
        this.#end(error as Error);
        association.abort();
        return;
      }
      for (const message of messages) this.#route(message);
    });
    association.finished.subscribe((error) => this.#end(error ?? new Error('The association was released')));
    // Verification (PS3.4 A): every association that accepted it answers C-ECHO.
    this.handle(CommandField.CEchoRq, VERIFICATION_SOP_CLASS, () => of({ status: Status.Success }));
  }

  get #label(): string {
    const n = this.association.negotiation;
    return `${n.callingAeTitle}->${n.calledAeTitle}`;
  }

  /**
   * Registers the handler of a request type for a SOP class, every SOP class of a list, or any
   * ('*'). The latest registration that serves a request's SOP class performs it; one whose
   * SOP class nobody serves is answered the table's "not supported" (0x0122 for DIMSE-C,
   * 0x0118 for DIMSE-N). C-ECHO of Verification is answered unless another handler is given.
   */
  handle(commandField: number, sopClasses: SopClassSelector, handler: RequestHandler, options: HandleOptions = {}): Registration {
    const row = commandSpec(commandField);
    if (row?.kind !== 'request' || commandField === CommandField.CCancelRq)
      throw new RangeError(`${commandName(commandField)} is not a request a handler can perform`);
    const registered: Registered = {
      sopClasses: sopClasses === '*' ? '*' : new Set(typeof sopClasses === 'string' ? [sopClasses] : sopClasses),
      handler,
      options,
    };
    const list = this.#handlers.get(commandField) ?? [];
    list.push(registered);
    this.#handlers.set(commandField, list);
    return {
      remove: () => {
        const i = list.indexOf(registered);
        if (i >= 0) list.splice(i, 1);
      },
    };
  }

  /** The registration serving a command for a SOP class: the latest one that names it or any. */
  #handlerFor(commandField: number, sopClassUid: string | undefined): Registered | undefined {
    const list = this.#handlers.get(commandField);
    if (!list) return undefined;
    for (let i = list.length - 1; i >= 0; i--) {
      const r = list[i]!;
      if (r.sopClasses === '*' || (sopClassUid !== undefined && r.sopClasses.has(sopClassUid))) return r;
    }
    return undefined;
  }

  /**
   * Releases the association once every message queued on this channel has been written: a
   * C-CANCEL-RQ of an operation just given up goes out before the A-RELEASE-RQ (after which no
   * P-DATA may be sent). Completes when the release is done.
   */
  release(): Observable<void> {
    // A microtask on: what the current unsubscriptions queue (a C-CANCEL) is waited for too.
    return from(Promise.resolve().then(() => this.#sending)).pipe(switchMap(() => this.association.release()));
  }

  /** The accepted presentation context for an abstract syntax, preferring the given transfer syntaxes. */
  context(
    abstractSyntax: string,
    transferSyntaxes?: readonly string[],
  ): (NegotiatedContext & { readonly transferSyntax: string }) | undefined {
    let candidates = this.#contexts.get(abstractSyntax);
    if (!candidates) {
      candidates = this.association.acceptedContexts.filter((pc) => pc.abstractSyntax === abstractSyntax);
      this.#contexts.set(abstractSyntax, candidates);
    }
    if (!transferSyntaxes) return candidates[0];
    for (const ts of transferSyntaxes) {
      const found = candidates.find((pc) => pc.transferSyntax === ts);
      if (found) return found;
    }
    return undefined;
  }

  /**
   * Sends a request (its Message ID is assigned here) and emits its responses: pending ones, then
   * the final one, after which it completes. It waits its turn within the negotiated window
   * (PS3.7 D.3.3.3) and holds its place until its final response. Unsubscribing before the
   * final response sends C-CANCEL-RQ for the commands the table calls cancelable; what the peer
   * still sends is dropped, and a peer that sends no final response within `cancelGrace` is
   * aborted. Errors with RoleNotNegotiatedError, before anything is sent, when this side may
   * not invoke the command for its SOP class, and with the association's end when it ends first.
   */
  request(
    presentationContextId: number,
    command: Omit<Command, 'messageId' | 'commandDataSetType'>,
    options: RequestOptions = {},
  ): Observable<DimseMessage> {
    return new Observable<DimseMessage>((subscriber) => {
      if (this.#ended) {
        subscriber.error(this.#ended);
        return undefined;
      }
      const context = this.#contextById.get(presentationContextId);
      const sopClassUid = sopClassOf(command) ?? context?.abstractSyntax;
      if (!mayInvoke(this.association.negotiation, command.commandField, sopClassUid)) {
        const side = this.association.negotiation.role === 'requestor' ? 'requestor' : 'acceptor';
        subscriber.error(
          new RoleNotNegotiatedError(
            `${commandName(command.commandField)} of ${sopClassUid} cannot be sent by the association ${side}: its role was not negotiated (SCP/SCU role selection)`,
          ),
        );
        return undefined;
      }
      const invocation: Invocation = {
        state: initialOperationState(commandSpec(command.commandField)?.cancelable ?? false),
        subscriber,
        presentationContextId,
        command,
        options,
        stop: { aborted: false },
      };
      if (this.#invoking < this.maxInvoked && this.#invokeQueue.length === 0) {
        this.#invoking++;
        this.#fire(invocation, { type: 'slot' });
      } else this.#invokeQueue.push(invocation);
      return () => this.#fire(invocation, { type: 'unsubscribe' });
    });
  }

  /** Feeds an event to an operation's reducer and performs the effects it returns. */
  #fire(invocation: Invocation, event: OperationEvent, message?: DimseMessage): void {
    const { state, effects } = operationReducer(invocation.state, event);
    invocation.state = state;
    for (const effect of effects) {
      switch (effect) {
        case 'send':
          this.#sendRequest(invocation);
          break;
        case 'stopSending':
          invocation.stop.aborted = true;
          break;
        case 'dequeue': {
          const i = this.#invokeQueue.indexOf(invocation);
          if (i >= 0) this.#invokeQueue.splice(i, 1);
          break;
        }
        case 'emit':
          invocation.subscriber.next(message!);
          break;
        case 'drop':
          if (log.enabled) log('%s: dropping the response to message %d, given up', this.#label, invocation.messageId);
          message?.dataSet?.discard();
          break;
        case 'complete':
          invocation.subscriber.complete();
          break;
        case 'error':
          invocation.subscriber.error(invocation.error ?? this.#ended ?? new Error('The operation failed'));
          break;
        case 'sendCancel':
          if (!this.#ended) {
            const cancel: Command = {
              commandField: CommandField.CCancelRq,
              messageIdBeingRespondedTo: invocation.messageId!,
              commandDataSetType: NO_DATA_SET,
            };
            this.#send(invocation.presentationContextId, cancel, {}).catch(() => undefined);
          }
          break;
        case 'startGrace': {
          const grace = invocation.options.cancelGrace ?? DEFAULT_CANCEL_GRACE;
          invocation.grace = setTimeout(() => this.#fire(invocation, { type: 'grace' }), grace);
          invocation.grace.unref?.();
          break;
        }
        case 'stopGrace':
          clearTimeout(invocation.grace);
          break;
        case 'releaseSlot':
          this.#invoking--;
          while (this.#invoking < this.maxInvoked && this.#invokeQueue.length > 0) {
            this.#invoking++;
            this.#fire(this.#invokeQueue.shift()!, { type: 'slot' });
          }
          break;
        case 'abort': {
          const grace = invocation.options.cancelGrace ?? DEFAULT_CANCEL_GRACE;
          const error = new CancelGraceExpiredError(
            `No final response to ${commandName(invocation.command.commandField)} (message ${invocation.messageId}) ${grace} ms after it was given up: aborting`,
          );
          log('%s: %s', this.#label, error.message);
          this.#end(error);
          this.association.abort();
          break;
        }
      }
    }
    if (isTerminal(state.name)) {
      if (invocation.messageId !== undefined && this.#outstanding.get(invocation.messageId) === invocation)
        this.#outstanding.delete(invocation.messageId);
      if (!invocation.settled) {
        invocation.settled = true;
        invocation.options.onSettled?.();
      }
    }
  }

  /** Sends a request its turn has come for. */
  #sendRequest(invocation: Invocation): void {
    if (this.#ended) {
      invocation.error = this.#ended;
      this.#fire(invocation, { type: 'ended' });
      return;
    }
    const { options } = invocation;
    const messageId = this.#allocateMessageId();
    invocation.messageId = messageId;
    this.#outstanding.set(messageId, invocation);
    options.onMessageId?.(messageId);
    // The Message ID and data set type go over the request's fields as it is encoded: no copy of it.
    this.#send(invocation.presentationContextId, invocation.command as Command, {
      fields: { messageId, commandDataSetType: options.dataSet === undefined ? NO_DATA_SET : DATA_SET_PRESENT },
      dataSet: options.dataSet,
      signal: invocation.stop,
      onProgress: options.onProgress,
      onCommandWritten: () => this.#fire(invocation, { type: 'written' }),
    }).catch((error: Error) => {
      invocation.error ??= error;
      this.#fire(invocation, { type: 'failed' });
    });
  }

  #allocateMessageId(): number {
    // Message IDs are 16-bit and must not repeat among outstanding requests (PS3.7 9.1.1.1).
    for (let i = 0; i < 0x10000; i++) {
      const id = this.#nextMessageId;
      this.#nextMessageId = id === 0xffff ? 1 : id + 1;
      if (!this.#outstanding.has(id) && !this.#abandoned.has(id)) return id;
    }
    throw new RangeError('65535 requests outstanding: no Message ID left');
  }

  /**
   * Sends one message whole: command, then data set, cut to the peer's maximum PDU length; waits
   * its turn behind the message being sent and on the socket's drain between PDUs.
   */
  #send(
    id: number,
    command: Command,
    {
      fields,
      dataSet,
      signal,
      onProgress,
      onCommandWritten,
    }: {
      /** Set over the command's own fields as it is encoded. */
      fields?: Partial<Command>;
      dataSet?: DataSource | undefined;
      signal?: Cancellation | undefined;
      onProgress?: ((p: SendProgress) => void) | undefined;
      onCommandWritten?: () => void;
    },
  ): Promise<void> {
    const body = async () => {
      if (this.#ended) throw this.#ended;
      if (log.enabled)
        log(
          '%s: sending %s (message %d) on context %d',
          this.#label,
          commandName(fields?.commandField ?? command.commandField),
          fields?.messageId ?? command.messageId ?? fields?.messageIdBeingRespondedTo ?? command.messageIdBeingRespondedTo,
          id,
        );
      const f = new Fragmenter(id, this.association.negotiation.peerMaxPduLength);
      let written = false;
      // The PDUs of one chunk go together (one vectored write), then the socket's drain is awaited.
      const write = async (pdus: PDataTf[]) => {
        if (pdus.length === 0) return;
        written = true;
        await this.#write(pdus);
      };
      try {
        // Given up while waiting its turn: nothing of it was written, nothing to abort.
        if (signal?.aborted) throw new Error('Request given up before it was sent');
        const commandPdus = f.command(fields ? encodeCommand(command, fields) : encodeCommand(command), dataSet !== undefined);
        // The command's last fragment may wait for the first data fragment: "written" once queued.
        onCommandWritten?.();
        if (dataSet === undefined) {
          // A command alone: its PDUs in one write.
          const tail = f.end();
          await write(tail.length === 0 ? commandPdus : [...commandPdus, ...tail]);
          return;
        }
        await write(commandPdus);
        {
          let bytes = 0;
          const chunks: AsyncIterable<Uint8Array> | Iterable<Uint8Array> = dataSet instanceof Uint8Array ? [dataSet] : dataSet;
          const recycle = recyclerOf(dataSet);
          // The fragmenter holds each chunk's last piece back until the next chunk: a chunk is
          // wholly written once the batch after it is.
          let previous: Uint8Array | undefined;
          for await (const chunk of chunks) {
            if (signal?.aborted) throw new Error('Sending cancelled before the end of the data set');
            if (chunk.length === 0) continue;
            await write(f.data(chunk));
            if (previous) recycle?.(previous);
            previous = chunk;
            bytes += chunk.length;
            onProgress?.({ bytes });
          }
          // A source that stopped early without failing (destroyed) must not pass for a whole data set.
          if (signal?.aborted) throw new Error('Sending cancelled before the end of the data set');
          await write(f.end());
          if (previous) recycle?.(previous);
        }
      } catch (error) {
        // Half a message cannot be taken back: only an abort ends it (PS3.7 Annex E). This covers
        // a data source that fails or is destroyed (store() unsubscribed) as well as a cancel.
        if (written) {
          // Taken out before the abort, so that it fails with what went wrong and not with the
          // abort's end, and failed after it, so that whoever it tells sees the association over.
          const messageId = fields?.messageId ?? command.messageId;
          const invocation = messageId === undefined ? undefined : this.#outstanding.get(messageId);
          if (messageId !== undefined) this.#outstanding.delete(messageId);
          this.association.abort();
          if (invocation) {
            invocation.error ??= error as Error;
            this.#fire(invocation, { type: 'failed' });
          }
        }
        throw error;
      }
    };
    // Nothing being sent: this message starts now, its first PDUs written before this returns;
    // else it waits for the messages before it, whole (never interleaved).
    const turn = this.#unsent === 0 ? body() : this.#sending.then(body);
    this.#unsent++;
    const settled = turn.then(
      () => void this.#unsent--,
      () => void this.#unsent--,
    );
    this.#sending = settled;
    return turn;
  }

  #write(pdus: readonly PDataTf[]): Promise<void> {
    if (this.#ended) return Promise.reject(this.#ended);
    return new Promise<void>((resolve, reject) => {
      let settled = false;
      const pending = (error?: Error) => {
        if (settled) return;
        settled = true;
        this.#pendingWrites.delete(pending);
        if (error) reject(error);
        else if (performance.now() - this.#polled < POLL_EVERY_MS) resolve();
        // Writes that complete at once never leave the microtask queue: a sender that goes on
        // at once (a pulled handler, a chain of responses) would keep the sockets unread (no
        // C-CANCEL, no other association) until it ran dry. Every millisecond the event loop polls.
        else
          setImmediate(() => {
            this.#polled = performance.now();
            resolve();
          });
      };
      this.#pendingWrites.add(pending);
      this.association.transmit(pdus, pending);
    });
  }

  /** Sends a response to a request of the peer. */
  respond(request: DimseMessage, response: ResponseSpec, signal?: Cancellation): Promise<void> {
    const fields: Partial<Command> = {
      commandField: request.command.commandField | 0x8000,
      messageIdBeingRespondedTo: request.command.messageId ?? 0,
      status: response.status,
      commandDataSetType: response.dataSet === undefined ? NO_DATA_SET : DATA_SET_PRESENT,
    };
    return this.#send(request.presentationContextId, (response.fields ?? {}) as Command, { fields, dataSet: response.dataSet, signal });
  }

  #route(message: DimseMessage): void {
    const { command } = message;
    if (log.enabled) log('%s: received %s', this.#label, commandName(command.commandField));
    if (command.commandField === undefined) {
      // Neither a request to answer nor a response to route: nothing DIMSE can say to it.
      if (log.enabled) log('%s: a command without Command Field: aborting', this.#label);
      this.#end(new Error('A command without Command Field (0000,0100)'));
      this.association.abort();
      return;
    }
    if (isResponse(command.commandField)) {
      const respondedTo = command.messageIdBeingRespondedTo ?? -1;
      const outstanding = this.#outstanding.get(respondedTo);
      if (!outstanding && this.#abandoned.has(respondedTo)) {
        if (log.enabled) log('%s: dropping the response to message %d, given up', this.#label, respondedTo);
        message.dataSet?.discard();
        if (!isPending(command.status)) this.#abandoned.delete(respondedTo);
        return;
      }
      if (outstanding && message.problem?.problem === 'fields') {
        // A response without its Status (or another required field) says nothing reliable: a
        // C-STORE without a status must not pass for stored. The request fails with the reason;
        // what the peer still sends for it (it may have thought it pending) is dropped.
        this.#outstanding.delete(respondedTo);
        if (command.status === undefined || isPending(command.status)) this.#abandoned.add(respondedTo);
        message.dataSet?.discard();
        outstanding.error = new DimseProtocolError(`Malformed ${commandName(command.commandField)}: ${message.problem.message}`);
        this.#fire(outstanding, { type: 'failed' });
        return;
      }
      // A data set where the response type has none changes nothing of what its Status says: the
      // status is delivered, the data set read and dropped here (for every service at once).
      if (message.problem?.problem === 'dataSet') message.dataSet?.discard();
      if (!outstanding) {
        // A response to no outstanding request breaks the protocol: PS3.7 gives no status to answer it with.
        log('%s: response to message %d, which is not outstanding: aborting', this.#label, command.messageIdBeingRespondedTo);
        this.#end(new Error(`Response to message ${command.messageIdBeingRespondedTo}, which is not outstanding`));
        this.association.abort();
        return;
      }
      this.#fire(outstanding, { type: isPending(command.status) ? 'pending' : 'final' }, message);
      return;
    }
    if (command.commandField === CommandField.CCancelRq) {
      const waiting = this.#waiting.findIndex((m) => m.command.messageId === command.messageIdBeingRespondedTo);
      if (waiting >= 0) {
        // Cancelled before it was performed: answered Cancel in its turn, without being performed.
        const [cancelled] = this.#waiting.splice(waiting, 1);
        log('%s: C-CANCEL of message %d, not yet performed', this.#label, command.messageIdBeingRespondedTo);
        this.#performing++;
        this.#answerOnceRead(cancelled!, Status.Cancel, undefined, () => this.#performedOne());
        return;
      }
      const handling = this.#handling.get(command.messageIdBeingRespondedTo ?? -1);
      log('%s: C-CANCEL of message %d%s', this.#label, command.messageIdBeingRespondedTo, handling ? '' : ' (not in progress)');
      handling?.unsubscribe();
      return;
    }
    if (this.#performing < this.#maxPerformed && this.#waiting.length === 0) {
      this.#perform(message);
      return;
    }
    this.#waiting.push(message);
    if (this.#waiting.length > WAITING_BEFORE_HOLD && !this.#held) {
      if (log.enabled) log('%s: %d requests beyond the window: reading held', this.#label, this.#waiting.length);
      this.#held = this.association.hold();
    }
  }

  /** Performs a request of the peer, counted in the window until its final response is written. */
  #perform(message: DimseMessage): void {
    this.#performing++;
    let done = false;
    this.#handleRequest(message, () => {
      if (done) return;
      done = true;
      this.#performedOne();
    });
  }

  /** One request's final response is written: the next waiting ones are performed, the socket read again. */
  #performedOne(): void {
    if (this.#ended) return;
    this.#performing--;
    while (this.#performing < this.#maxPerformed && this.#waiting.length > 0) this.#perform(this.#waiting.shift()!);
    if (this.#held && this.#waiting.length <= WAITING_BEFORE_HOLD) {
      log('%s: reading again', this.#label);
      this.#held();
      this.#held = undefined;
    }
  }

  #handleRequest(message: DimseMessage, performed: () => void): void {
    const { command } = message;
    const messageId = command.messageId;
    if (messageId === undefined) {
      this.#end(new Error(`${commandName(command.commandField)} without Message ID`));
      this.association.abort();
      return;
    }
    const context = this.#contextById.get(message.presentationContextId)!;
    const row = commandSpec(command.commandField);
    const sopClassUid = sopClassOf(command);
    if (message.problem || !row) {
      const status = message.problem?.message.startsWith('Unrecognized') || !row ? Status.UnrecognizedOperation : Status.MistypedArgument;
      const errorComment = (message.problem?.message ?? `Unrecognized ${commandName(command.commandField)}`).slice(0, 64);
      if (log.enabled)
        log('%s: answering %s with 0x%s: %s', this.#label, commandName(command.commandField), status.toString(16), errorComment);
      this.#answerOnceRead(message, status, errorComment, performed);
      return;
    }
    // A DIMSE-C request is about the SOP class its context was negotiated for: one sent on
    // another context (a C-STORE of CT on the Verification context) is not handled, but refused.
    if (row.family === 'DIMSE-C' && sopClassUid !== undefined && sopClassUid !== context.abstractSyntax) {
      const errorComment = `SOP class not that of presentation context ${context.id}`;
      if (log.enabled)
        log('%s: %s of %s on context %d (%s): refused', this.#label, row.name, sopClassUid, context.id, context.abstractSyntax);
      this.#answerOnceRead(message, row.notSupported, errorComment, performed);
      return;
    }
    const registered = this.#handlerFor(command.commandField, sopClassUid);
    if (!registered) {
      const errorComment = `No ${row.service} service for this SOP class`;
      if (log.enabled) log('%s: %s of %s: no handler, 0x%s', this.#label, row.name, sopClassUid, row.notSupported.toString(16));
      this.#answerOnceRead(message, row.notSupported, errorComment, performed);
      return;
    }
    const request = new Incoming(message, this.association, context, sopClassUid);
    /** What a cancel is answered: the handler's own final, or 0xFE00 alone. */
    const cancelResponse = (): ResponseSpec => {
      if (!request.ownFinal) return { status: Status.Cancel };
      try {
        return request.ownFinal();
      } catch (error) {
        return failureResponse(command.commandField, error);
      }
    };
    let produced: Observable<ResponseSpec> | AsyncIterable<ResponseSpec>;
    try {
      produced = registered.handler(request);
    } catch (error) {
      // A handler that throws at once fails like one whose Observable errors.
      produced = throwError(() => error);
    }
    const stop: Performance = {
      cancelled: () => {
        request.cancelled = true;
      },
      cancelResponse,
    };
    const handling =
      typeof (produced as Observable<ResponseSpec>).subscribe !== 'function' && Symbol.asyncIterator in produced
        ? this.#pull(message, produced, stop, performed)
        : this.#observe(message, produced as Observable<ResponseSpec>, stop, performed);
    if (handling.closed) return;
    this.#handling.set(messageId, handling);
    handling.add(() => this.#handling.delete(messageId));
    const limit = registered.options.timeLimit;
    if (limit !== undefined) {
      const timer = setTimeout(() => {
        if (log.enabled) log('%s: %s (message %d) past its time limit of %d ms', this.#label, row.name, messageId, limit);
        stop.timedOut = new Error(`Not performed within its time limit of ${limit} ms`);
        handling.unsubscribe();
      }, limit);
      handling.add(() => clearTimeout(timer));
    }
  }

  /** Performs a request whose handler gives an Observable: each response written in order. */
  #observe(message: DimseMessage, produced: Observable<ResponseSpec>, stop: Performance, performed: () => void): Subscription {
    const { command } = message;
    const abort = { aborted: false };
    let finalSent = false;
    let responses = Promise.resolve();
    const respond = (response: ResponseSpec) => {
      responses = responses.then(() => this.respond(message, response, abort)).catch(() => undefined);
    };
    const finish = (response: ResponseSpec) => {
      finalSent = true;
      respond(response);
      void responses.then(performed);
    };
    const subscription = defer(() => produced).subscribe({
      next: (response) => {
        if (finalSent) return;
        if (isPending(response.status)) respond(response);
        else finish(response);
      },
      error: (error: Error) => {
        if (log.enabled) log('%s: handler of %s failed: %s', this.#label, commandName(command.commandField), error.message);
        if (!finalSent) finish(failureResponse(command.commandField, error));
      },
      // Ended without its final response: the default, Success.
      complete: () => {
        if (!finalSent) finish({ status: Status.Success });
      },
    });
    const handling = new Subscription(() => {
      subscription.unsubscribe();
      if (finalSent || this.#ended) return;
      // Cancelled by the peer (C-CANCEL) or past its time limit: the final response says which.
      if (stop.timedOut) finish(failureResponse(command.commandField, stop.timedOut));
      else {
        stop.cancelled();
        finish(stop.cancelResponse());
      }
    });
    if (finalSent) handling.unsubscribe();
    else subscription.add(() => handling.unsubscribe());
    return handling;
  }

  /** Performs a request whose handler gives an async iterable: each response taken once the one before is written. */
  #pull(message: DimseMessage, responses: AsyncIterable<ResponseSpec>, stop: Performance, performed: () => void): Subscription {
    const { command } = message;
    const iterator = responses[Symbol.asyncIterator]();
    const abort = { aborted: false };
    let stopped = false;
    let over = false;
    let finalSent = false;
    let done = false;
    const finish = () => {
      if (done) return;
      done = true;
      performed();
    };
    const respond = (response: ResponseSpec) => this.respond(message, response, abort);
    /** Writes the final response once, whoever gives it: the handler, a cancel, the time limit, a failure. */
    const sendFinal = (response: ResponseSpec): Promise<void> => {
      if (finalSent || this.#ended) return Promise.resolve();
      finalSent = true;
      return respond(response)
        .catch(() => undefined)
        .then(finish);
    };
    const handling = new Subscription(() => {
      if (over) return;
      // A C-CANCEL, the time limit, or the association's end: no more is taken, the iterable is
      // told to stop, and the final response goes at once, even while the handler is still busy.
      stopped = true;
      abort.aborted = this.#ended !== undefined;
      void Promise.resolve(iterator.return?.()).catch(() => undefined);
      if (this.#ended) return finish();
      if (stop.timedOut) void sendFinal(failureResponse(command.commandField, stop.timedOut));
      else if (!finalSent) {
        stop.cancelled();
        void sendFinal(stop.cancelResponse());
      }
    });
    void (async () => {
      try {
        for (;;) {
          const next = await iterator.next();
          if (next.done || stopped || finalSent || this.#ended) break;
          if (isPending(next.value.status)) {
            await respond(next.value);
          } else {
            await sendFinal(next.value);
            break;
          }
        }
        // Ended without its final response: the default, Success.
        if (!stopped) await sendFinal({ status: Status.Success });
      } catch (error) {
        if (log.enabled) log('%s: handler of %s failed: %s', this.#label, commandName(command.commandField), (error as Error).message);
        await sendFinal(failureResponse(command.commandField, error));
      } finally {
        if (!stopped) void Promise.resolve(iterator.return?.()).catch(() => undefined);
        over = true;
        handling.unsubscribe();
        if (this.#ended || !stopped) finish();
      }
    })();
    return handling;
  }

  /** Answers a request that is not handled with `status`, once its data set is read to its end, so the next message can follow. */
  #answerOnceRead(message: DimseMessage, status: number, errorComment: string | undefined, performed: () => void): void {
    const response: ResponseSpec = errorComment === undefined ? { status } : { status, fields: { errorComment } };
    const answer = () =>
      this.respond(message, response)
        .catch(() => undefined)
        .then(performed);
    if (message.dataSet) message.dataSet.chunks.subscribe({ complete: answer, error: () => undefined });
    else void answer();
  }

  #end(error: Error): void {
    if (this.#ended) return;
    this.#ended = error;
    for (const pending of [...this.#pendingWrites]) pending(error);
    this.#assembler.fail(error);
    for (const invocation of [...this.#invokeQueue, ...this.#outstanding.values()]) {
      invocation.error ??= error;
      this.#fire(invocation, { type: 'ended' });
    }
    this.#invokeQueue.length = 0;
    this.#outstanding.clear();
    this.#abandoned.clear();
    for (const handling of this.#handling.values()) handling.unsubscribe();
    this.#handling.clear();
    for (const waiting of this.#waiting) waiting.dataSet?.discard();
    this.#waiting.length = 0;
    this.#held?.();
    this.#held = undefined;
  }
}

/** Where an association keeps its channel (shared by every copy of this package in the process). */
const CHANNEL = Symbol.for('dimse-rx.dimse.channel');

/**
 * The DIMSE channel of an association: the one created with it by `associate()`,
 * `withAssociation()` or `scp()`, or created now (it then reads all P-DATA kept so far).
 */
export function dimse(association: Association): DimseChannel {
  let channel = association.layers.get(CHANNEL) as DimseChannel | undefined;
  if (!channel) {
    channel = new DimseChannel(association);
    association.layers.set(CHANNEL, channel);
  }
  return channel;
}
