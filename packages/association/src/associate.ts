import { encodePdu } from '@dimse-rx/pdu';
import { concat, defer, ignoreElements, Observable, switchMap } from 'rxjs';
import { Association } from './association.js';
import { NoPresentationContextAcceptedError } from './errors.js';
import { negotiationOf } from './negotiation/outcome.js';
import { buildRequest } from './negotiation/requestor.js';
import { type AssociateOptions, DEFAULT_MAX_PDU_LENGTH } from './options.js';
import { DEFAULT_TIMEOUTS, UlMachine } from './runtime/machine.js';
import { connectTransport } from './transport/connect.js';
import type { Transport } from './transport/transport.js';

/** Options of `associate()` for tests and custom transports: how to open the connection. */
export interface AssociateInternals {
  /** Opens the connection instead of a TCP or TLS socket (a linked in-memory transport, say). */
  readonly connect?: () => Observable<Transport>;
}

/**
 * Requests an association. Connects on subscribe, emits the Association once accepted, stays
 * open while subscribed, completes when the association is released. Errors with
 * AssociationRejectedError, AssociationAbortedError, AssociationTimeoutError, ConnectionError,
 * or NoPresentationContextAcceptedError (then the association is released).
 * Unsubscribing releases an established association, or aborts one still being negotiated.
 */
export function associate(options: AssociateOptions, internals: AssociateInternals = {}): Observable<Association> {
  return new Observable<Association>((subscriber) => {
    const request = buildRequest(options);
    // Every value must fit the wire before anything connects: the encoder's RangeError (a UID
    // that is not ASCII, an identity field over 65535 bytes...) goes to the subscriber.
    encodePdu(request);
    const machine = new UlMachine({
      role: 'requestor',
      maxPduLength: options.maxPduLength ?? DEFAULT_MAX_PDU_LENGTH,
      timeouts: { ...DEFAULT_TIMEOUTS, ...options.timeouts },
      connect: internals.connect ?? (() => connectTransport(options.host, options.port, options.tls)),
      label: `${request.callingAeTitle}->${request.calledAeTitle}@${options.host}:${options.port}`,
    });
    let association: Association | undefined;
    const notices = machine.notices.subscribe((notice) => {
      if (notice.type !== 'AssociateAccepted') return;
      const negotiation = negotiationOf('requestor', request, notice.response);
      association = new Association(machine, negotiation);
      if (!negotiation.presentationContexts.some((pc) => pc.accepted)) {
        // The teardown that error() runs releases the association.
        subscriber.error(new NoPresentationContextAcceptedError(negotiation.presentationContexts));
        return;
      }
      subscriber.next(association);
    });
    const finished = machine.finished.subscribe((error) => {
      if (error) subscriber.error(error);
      else subscriber.complete();
    });
    machine.requestAssociation(request);
    return () => {
      notices.unsubscribe();
      finished.unsubscribe();
      // Release what is established, abort what is still being negotiated.
      if (machine.allows('Evt11')) machine.primitive({ type: 'Evt11' });
      else if (machine.allows('Evt15')) machine.primitive({ type: 'Evt15' });
    };
  });
}

/**
 * Scoped use: associates, runs `work` on the association, and releases when the work
 * completes (the result completes once the release is done) or errors.
 */
export function withAssociation<T>(options: AssociateOptions, work: (association: Association) => Observable<T>): Observable<T> {
  return associate(options).pipe(
    switchMap((association) => concat(work(association), defer(() => association.release()).pipe(ignoreElements()))),
  );
}
