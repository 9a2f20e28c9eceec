import type { Association, NegotiatedContext } from '@dimse-rx/association';
import type { PDataTf } from '@dimse-rx/pdu';
import createDebug from 'debug';
import { defer, lastValueFrom, Observable, of, type Subscriber, Subscription, throwError } from 'rxjs';
import { type Command, encodeCommand } from './command/codec.js';
import { CommandField, commandName, DATA_SET_PRESENT, isResponse, NO_DATA_SET } from './command/fields.js';
import { Status } from './command/status.js';
import { MessageAssembler } from './message/assemble.js';
import { Fragmenter } from './message/fragment.js';
import type { DimseMessage } from './message/message.js';

const log = createDebug('dimse-rx:dimse');

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
}

/**
 * Handles one kind of request: returns the responses to send, pending ones first, the final
 * one last. An Observable is unsubscribed when the peer cancels (C-CANCEL) or the association
 * ends. An async iterable is pulled: its next response is taken only once the one before has
 * been written to the socket, so a handler with a million pending responses holds a few at a
 * time; a cancel or the association's end calls its `return()` (a generator's `finally` runs).
 */
export type RequestHandler = (request: IncomingRequest) => Observable<ResponseSpec> | AsyncIterable<ResponseSpec>;

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

/** The DIMSE-C requests, whose Affected SOP Class UID is their context's abstract syntax (PS3.7 9.3). */
const DIMSE_C_REQUESTS: ReadonlySet<number> = new Set([
  CommandField.CStoreRq,
  CommandField.CEchoRq,
  CommandField.CFindRq,
  CommandField.CGetRq,
  CommandField.CMoveRq,
]);

const isPending = (status: number | undefined) => status === Status.Pending || status === Status.PendingWithWarnings;

/** Answered to requests whose command lacks what its type requires, or that nobody handles. */
const NO_HANDLER_STATUS: Readonly<Record<number, number>> = {
  [CommandField.CStoreRq]: Status.SopClassNotSupported,
};

/** Operations at once, either way, when the window says no limit (0, PS3.7 D.3.3.3). */
const UNLIMITED_WINDOW = 128;

/** A side of the negotiated asynchronous operations window as a count: 0 (no limit) capped. */
const windowLimit = (n: number) => (n === 0 ? UNLIMITED_WINDOW : Math.min(n, UNLIMITED_WINDOW));

/** What a request whose handler failed is answered: out of resources for C-STORE, processing failure otherwise. */
const failureResponse = (commandField: number | undefined, error: unknown): ResponseSpec => ({
  status: commandField === CommandField.CStoreRq ? Status.RefusedOutOfResources : Status.ProcessingFailure,
  fields: { errorComment: String((error as Error)?.message ?? error).slice(0, 64) },
});
/**
 * Requests beyond the window kept read before the socket is held: a peer that sends one more
 * (a C-FIND while its C-GET runs) is not stalled, one that floods stays unread in the socket.
 */
const WAITING_BEFORE_HOLD = 16;

interface Outstanding {
  readonly deliver: (message: DimseMessage) => void;
  readonly fail: (error: Error) => void;
}

/**
 * DIMSE over one association, both ways at once: requests this side sends, with their responses
 * routed back by Message ID Being Responded To; requests the peer sends, routed to handlers by
 * command field. Messages are sent whole, one after the other, never interleaved (PS3.7 Annex E).
 */
export class DimseChannel {
  readonly association: Association;
  readonly #handlers = new Map<number, RequestHandler>();
  readonly #outstanding = new Map<number, Outstanding>();
  /**
   * Requests given up before their final response (unsubscribed, cancelled): the responses the
   * peer still sends for them (a C-CANCEL is answered with a final 0xFE00, PS3.4 C.4.1.1.3.1)
   * are read and dropped, not taken for protocol errors.
   */
  readonly #abandoned = new Set<number>();
  /** Requests of the peer being handled, by their Message ID, so C-CANCEL can reach them. */
  readonly #handling = new Map<number, Subscription>();
  readonly #assembler: MessageAssembler;
  /** Our requests outstanding (sent or being sent, not ended), and those waiting for a place in the window. */
  #invoking = 0;
  readonly #invokeQueue: (() => void)[] = [];
  /** Requests of the peer being performed: from their arrival to the write of their final response. */
  #performing = 0;
  /** Requests of the peer beyond the asynchronous operations window, in their order. */
  readonly #waiting: DimseMessage[] = [];
  /** Releases the socket, held while too many requests wait. */
  #held: (() => void) | undefined;
  #nextMessageId = 1;
  #sending: Promise<void> = Promise.resolve();
  #ended: Error | undefined;

  constructor(association: Association) {
    this.association = association;
    const accepted = new Set(association.acceptedContexts.map((pc) => pc.id));
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
    this.handle(CommandField.CEchoRq, () => of({ status: Status.Success }));
  }

  get #label(): string {
    const n = this.association.negotiation;
    return `${n.callingAeTitle}->${n.calledAeTitle}`;
  }

  /** Registers the handler of a request type (C-ECHO is answered by default). */
  handle(commandField: number, handler: RequestHandler): this {
    this.#handlers.set(commandField, handler);
    return this;
  }

  /** The accepted presentation context for an abstract syntax, preferring the given transfer syntaxes. */
  context(
    abstractSyntax: string,
    transferSyntaxes?: readonly string[],
  ): (NegotiatedContext & { readonly transferSyntax: string }) | undefined {
    const candidates = this.association.acceptedContexts.filter((pc) => pc.abstractSyntax === abstractSyntax);
    if (!transferSyntaxes) return candidates[0];
    for (const ts of transferSyntaxes) {
      const found = candidates.find((pc) => pc.transferSyntax === ts);
      if (found) return found;
    }
    return undefined;
  }

  /**
   * Sends a request (its Message ID is assigned here) and emits its responses: pending ones, then
   * the final one, after which it completes. Unsubscribing before the final response sends
   * C-CANCEL-RQ when `cancelable` (C-FIND, C-GET, C-MOVE). Errors when the association ends first.
   */
  request(
    presentationContextId: number,
    command: Omit<Command, 'messageId' | 'commandDataSetType'>,
    options: { dataSet?: DataSource; cancelable?: boolean; onProgress?: (progress: SendProgress) => void } = {},
  ): Observable<DimseMessage> {
    return new Observable<DimseMessage>((subscriber) => {
      if (this.#ended) {
        subscriber.error(this.#ended);
        return undefined;
      }
      // Within the asynchronous operations window (PS3.7 D.3.3.3, 1 unless negotiated): a
      // request beyond it waits its turn, in order, and holds its place until it ends.
      let teardown: (() => void) | undefined;
      let started = false;
      let gone = false;
      const start = () => {
        if (gone) return;
        started = true;
        this.#invoking++;
        teardown = this.#invoke(subscriber, presentationContextId, command, options);
      };
      if (this.#invoking < this.#maxInvoked && this.#invokeQueue.length === 0) start();
      else this.#invokeQueue.push(start);
      return () => {
        gone = true;
        if (!started) {
          const i = this.#invokeQueue.indexOf(start);
          if (i >= 0) this.#invokeQueue.splice(i, 1);
          return;
        }
        teardown?.();
        this.#invoking--;
        while (this.#invoking < this.#maxInvoked && this.#invokeQueue.length > 0) this.#invokeQueue.shift()!();
      };
    });
  }

  /** How many of our operations may be outstanding at once: the negotiated window. */
  get #maxInvoked(): number {
    return windowLimit(this.association.negotiation.asynchronousOperationsWindow.maxOperationsInvoked);
  }

  /** Sends a request its turn has come for; returns what its unsubscription does. */
  #invoke(
    subscriber: Subscriber<DimseMessage>,
    presentationContextId: number,
    command: Omit<Command, 'messageId' | 'commandDataSetType'>,
    options: { dataSet?: DataSource; cancelable?: boolean; onProgress?: (progress: SendProgress) => void },
  ): () => void {
    if (this.#ended) {
      subscriber.error(this.#ended);
      return () => undefined;
    }
    const messageId = this.#allocateMessageId();
    let final = false;
    this.#outstanding.set(messageId, {
      deliver: (message) => {
        final = !isPending(message.command.status);
        if (final) this.#outstanding.delete(messageId);
        subscriber.next(message);
        if (final) subscriber.complete();
      },
      fail: (error) => subscriber.error(error),
    });
    const full: Command = {
      ...command,
      messageId,
      commandDataSetType: options.dataSet === undefined ? NO_DATA_SET : DATA_SET_PRESENT,
    } as Command;
    // A plain flag, not an AbortController: aborting one builds a DOMException, per request.
    const abort = { aborted: false };
    let written = false;
    this.#send(presentationContextId, full, {
      dataSet: options.dataSet,
      signal: abort,
      onProgress: options.onProgress,
      onCommandWritten: () => (written = true),
    }).catch((error: Error) => {
      this.#outstanding.delete(messageId);
      subscriber.error(error);
    });
    return () => {
      abort.aborted = true;
      if (final || !this.#outstanding.has(messageId)) return;
      this.#outstanding.delete(messageId);
      // Only a request the peer has seen can still be answered: one never sent is just forgotten.
      if (!written) return;
      if (!this.#ended) this.#abandoned.add(messageId);
      if (options.cancelable && !this.#ended) {
        const cancel: Command = {
          commandField: CommandField.CCancelRq,
          messageIdBeingRespondedTo: messageId,
          commandDataSetType: NO_DATA_SET,
        };
        this.#send(presentationContextId, cancel, {}).catch(() => undefined);
      }
    };
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
      dataSet,
      signal,
      onProgress,
      onCommandWritten,
    }: {
      dataSet?: DataSource | undefined;
      signal?: Cancellation | undefined;
      onProgress?: ((p: SendProgress) => void) | undefined;
      onCommandWritten?: () => void;
    },
  ): Promise<void> {
    const turn = this.#sending.then(async () => {
      if (this.#ended) throw this.#ended;
      if (log.enabled)
        log(
          '%s: sending %s (message %d) on context %d',
          this.#label,
          commandName(command.commandField),
          command.messageId ?? command.messageIdBeingRespondedTo,
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
        const commandPdus = f.command(encodeCommand(command), dataSet !== undefined);
        // The command's last fragment may wait for the first data fragment: "written" once queued.
        onCommandWritten?.();
        await write(commandPdus);
        if (dataSet !== undefined) {
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
        } else {
          await write(f.end());
        }
      } catch (error) {
        // Half a message cannot be taken back: only an abort ends it (PS3.7 Annex E). This covers
        // a data source that fails or is destroyed (store() unsubscribed) as well as a cancel.
        if (written) {
          // Taken out before the abort, so that it fails with what went wrong and not with the
          // abort's end, and failed after it, so that whoever it tells sees the association over.
          const outstanding = command.messageId === undefined ? undefined : this.#outstanding.get(command.messageId);
          if (command.messageId !== undefined) this.#outstanding.delete(command.messageId);
          this.association.abort();
          outstanding?.fail(error as Error);
        }
        throw error;
      }
    });
    this.#sending = turn.catch(() => undefined);
    return turn;
  }

  #write(pdus: readonly PDataTf[]): Promise<void> {
    return lastValueFrom(this.association.send(pdus), { defaultValue: undefined });
  }

  /** Sends a response to a request of the peer. */
  respond(request: DimseMessage, response: ResponseSpec, signal?: Cancellation): Promise<void> {
    const command = {
      ...response.fields,
      commandField: request.command.commandField | 0x8000,
      messageIdBeingRespondedTo: request.command.messageId ?? 0,
      status: response.status,
      commandDataSetType: response.dataSet === undefined ? NO_DATA_SET : DATA_SET_PRESENT,
    } as Command;
    return this.#send(request.presentationContextId, command, { dataSet: response.dataSet, signal });
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
        outstanding.fail(new DimseProtocolError(`Malformed ${commandName(command.commandField)}: ${message.problem.message}`));
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
      outstanding.deliver(message);
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

  /** How many of the peer's operations are performed at once: the negotiated window (PS3.7 D.3.3.3). */
  get #maxPerformed(): number {
    return windowLimit(this.association.negotiation.asynchronousOperationsWindow.maxOperationsPerformed);
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
    const context = this.association.acceptedContexts.find((pc) => pc.id === message.presentationContextId)!;
    const handler = this.#handlers.get(command.commandField);
    // A DIMSE-C request is about the SOP class its context was negotiated for: one sent on
    // another context (a C-STORE of CT on the Verification context) is not handled, but refused.
    const wrongContext =
      DIMSE_C_REQUESTS.has(command.commandField) &&
      command.affectedSopClassUid !== undefined &&
      command.affectedSopClassUid !== context.abstractSyntax;
    if (wrongContext && !message.problem) {
      const errorComment = `SOP class not that of presentation context ${context.id}`;
      if (log.enabled)
        log(
          '%s: %s of %s on context %d (%s): 0x0122',
          this.#label,
          commandName(command.commandField),
          command.affectedSopClassUid,
          context.id,
          context.abstractSyntax,
        );
      this.#answerOnceRead(message, Status.SopClassNotSupported, errorComment, performed);
      return;
    }
    if (message.problem || !handler) {
      const status = message.problem
        ? message.problem.message.startsWith('Unrecognized')
          ? Status.UnrecognizedOperation
          : Status.MistypedArgument
        : (NO_HANDLER_STATUS[command.commandField] ?? Status.UnrecognizedOperation);
      const errorComment = (message.problem?.message ?? `No handler for ${commandName(command.commandField)}`).slice(0, 64);
      if (log.enabled)
        log('%s: answering %s with 0x%s: %s', this.#label, commandName(command.commandField), status.toString(16), errorComment);
      this.#answerOnceRead(message, status, errorComment, performed);
      return;
    }
    let produced: Observable<ResponseSpec> | AsyncIterable<ResponseSpec>;
    try {
      produced = handler({ message, association: this.association, presentationContext: context });
    } catch (error) {
      // A handler that throws at once fails like one whose Observable errors.
      produced = throwError(() => error);
    }
    if (typeof (produced as Observable<ResponseSpec>).subscribe !== 'function' && Symbol.asyncIterator in produced) {
      this.#pull(message, produced, messageId, performed);
      return;
    }
    const abort = { aborted: false };
    let finalSent = false;
    let responses = Promise.resolve();
    const subscription = defer(() => produced as Observable<ResponseSpec>).subscribe({
      next: (response) => {
        const final = !isPending(response.status);
        if (final) finalSent = true;
        responses = responses.then(() => this.respond(message, response, abort)).catch(() => undefined);
        if (final) void responses.then(performed);
      },
      error: (error: Error) => {
        if (log.enabled) log('%s: handler of %s failed: %s', this.#label, commandName(command.commandField), error.message);
        finalSent = true;
        responses = responses.then(() => this.respond(message, failureResponse(command.commandField, error))).catch(() => undefined);
        void responses.then(performed);
        this.#handling.delete(messageId);
      },
      complete: () => {
        this.#handling.delete(messageId);
        const answered = finalSent;
        finalSent = true;
        if (!answered) {
          responses = responses.then(() => this.respond(message, { status: Status.Success })).catch(() => undefined);
          void responses.then(performed);
        }
      },
    });
    if (!subscription.closed) {
      this.#handling.set(messageId, subscription);
      subscription.add(() => {
        if (!finalSent && !this.#ended) {
          // Cancelled by the peer (C-CANCEL): the final response says so.
          finalSent = true;
          this.#handling.delete(messageId);
          responses = responses.then(() => this.respond(message, { status: Status.Cancel })).catch(() => undefined);
          void responses.then(performed);
        }
      });
    }
  }

  /** Performs a request whose handler gives an async iterable: each response taken once the one before is written. */
  #pull(message: DimseMessage, responses: AsyncIterable<ResponseSpec>, messageId: number, performed: () => void): void {
    const { command } = message;
    const iterator = responses[Symbol.asyncIterator]();
    const abort = { aborted: false };
    let cancelled = false;
    let finalSent = false;
    const handling = new Subscription(() => {
      // A C-CANCEL, or the association's end: no more is taken; the iterable is told to stop.
      cancelled = true;
      abort.aborted = this.#ended !== undefined;
      void Promise.resolve(iterator.return?.()).catch(() => undefined);
    });
    this.#handling.set(messageId, handling);
    const respond = (response: ResponseSpec) => this.respond(message, response, abort);
    void (async () => {
      try {
        for (;;) {
          const next = await iterator.next();
          if (next.done || cancelled || this.#ended) break;
          await respond(next.value);
          if (!isPending(next.value.status)) {
            finalSent = true;
            break;
          }
        }
        // Ended without its final response: Cancel after a C-CANCEL, Success otherwise.
        if (!finalSent && !this.#ended) await respond({ status: cancelled ? Status.Cancel : Status.Success });
      } catch (error) {
        if (log.enabled) log('%s: handler of %s failed: %s', this.#label, commandName(command.commandField), (error as Error).message);
        if (!finalSent && !this.#ended) await respond(failureResponse(command.commandField, error)).catch(() => undefined);
      } finally {
        this.#handling.delete(messageId);
        if (finalSent && !cancelled) void Promise.resolve(iterator.return?.()).catch(() => undefined);
        performed();
      }
    })();
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
    this.#assembler.fail(error);
    for (const outstanding of this.#outstanding.values()) outstanding.fail(error);
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

const channels = new WeakMap<Association, DimseChannel>();

/** The DIMSE channel of an association, created on first use (it then reads all its P-DATA). */
export function dimse(association: Association): DimseChannel {
  let channel = channels.get(association);
  if (!channel) {
    channel = new DimseChannel(association);
    channels.set(association, channel);
  }
  return channel;
}
