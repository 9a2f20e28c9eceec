import { createServer as createNetServer, type Server, type Socket } from 'node:net';
import { createServer as createTlsServer } from 'node:tls';
import { RejectReason, RejectResult, RejectSource } from '@dimse-rx/pdu';
import {
  catchError,
  defaultIfEmpty,
  defer,
  first,
  identity,
  map,
  Observable,
  of,
  type Subscription,
  take,
  throwError,
  timeout,
} from 'rxjs';
import { Association } from './association.js';
import { log } from './log.js';
import { answerRequest } from './negotiation/acceptor.js';
import { negotiationOf } from './negotiation/outcome.js';
import { checkMaxPduLength, DEFAULT_MAX_PDU_LENGTH, type ServeOptions } from './options.js';
import { DEFAULT_TIMEOUTS, UlMachine } from './runtime/machine.js';
import { socketTransport } from './transport/socket.js';
import type { Transport } from './transport/transport.js';

/** Where a server listens, reported once it does. */
export interface Listening {
  readonly host: string;
  readonly port: number;
}

/** Options of `serve()` for tests and in-process peers: where connections come from instead of a listening socket. */
export interface ServeInternals {
  /** Each transport emitted is a connection to accept; no socket is listened on. */
  readonly transports?: Observable<Transport>;
}

/**
 * Accepts associations. Listens on subscribe, emits each association once established (A-ASSOCIATE-AC
 * sent), and on unsubscribe stops listening and ends the open associations (`onStop`: release,
 * the default, or abort). Associations that the policy rejects get A-ASSOCIATE-RJ and are not
 * emitted. `onListening` reports the port, which matters when port 0 asked for a free one.
 */
export function serve(
  options: ServeOptions & { readonly onListening?: (listening: Listening) => void },
  internals: ServeInternals = {},
): Observable<Association> {
  return new Observable<Association>((subscriber) => {
    const host = options.host ?? '127.0.0.1';
    const maxPduLength = options.maxPduLength ?? DEFAULT_MAX_PDU_LENGTH;
    checkMaxPduLength(maxPduLength);
    const open = new Set<UlMachine>();
    /** Accepted and not over yet: what maxAssociations counts. */
    const established = new Set<UlMachine>();
    /** Requests whose answer is being decided (an asynchronous identity check): they count too. */
    const deciding = new Set<UlMachine>();
    const subscriptions = new Set<Subscription>();
    const timeouts = { ...DEFAULT_TIMEOUTS, ...options.timeouts };

    const onConnection = (transport: Transport) => {
      const machine = new UlMachine({
        role: 'acceptor',
        maxPduLength,
        timeouts,
        label: `acceptor@${transport.peer}`,
      });
      open.add(machine);
      const answers: Subscription[] = [];
      const notices = machine.notices.subscribe((notice) => {
        if (notice.type !== 'AssociateIndication') return;
        const request = notice.request;
        const others = established.size + deciding.size;
        deciding.add(machine);
        // A policy that throws, errors, ends without an answer or takes longer than the ACSE
        // timeout gets the request rejected (transient, no reason given): nothing of it may stall
        // the connection or reach the process.
        const refused = () =>
          ({
            type: 'AssociateRj',
            result: RejectResult.Transient,
            source: RejectSource.ServiceUser,
            reason: RejectReason.ServiceUser.NoReasonGiven,
          }) as const;
        const decision = defer(() => answerRequest(request, options, others)).pipe(
          take(1),
          timeouts.acse > 0
            ? timeout({ first: timeouts.acse, with: () => throwError(() => new Error(`no answer within ${timeouts.acse} ms`)) })
            : identity,
          defaultIfEmpty(undefined),
          map((answer) => {
            if (answer === undefined) log.net('%s: acceptance policy gave no answer', transport.peer);
            return answer ?? refused();
          }),
          catchError((error: unknown) => {
            log.net('%s: acceptance policy failed: %s', transport.peer, error);
            return of(refused());
          }),
        );
        const answering = decision.subscribe((answer) => {
          deciding.delete(machine);
          if (machine.state.name !== 'Sta3') return;
          if (answer.type === 'AssociateRj') {
            log.net(
              '%s: rejected %s -> %s (%d, %d, %d)',
              transport.peer,
              request.callingAeTitle,
              request.calledAeTitle,
              answer.result,
              answer.source,
              answer.reason,
            );
            machine.primitive({ type: 'Evt8', response: answer });
            try {
              options.onRejected?.({ peer: transport.peer, request, response: answer });
            } catch (error) {
              // A logger that throws must not reach the connection, nor the process.
              log.net('%s: onRejected failed: %s', transport.peer, error);
            }
            return;
          }
          established.add(machine);
          const association = new Association(machine, negotiationOf('acceptor', request, answer));
          // Evt7 is performed after the event being handled now: emit once AE-7 has run (Sta6).
          const ready = association.states.pipe(first((state) => state === 'Sta6', undefined)).subscribe((state) => {
            if (state) subscriber.next(association);
          });
          answers.push(ready);
          machine.primitive({ type: 'Evt7', response: answer });
        });
        subscriptions.add(answering);
        answers.push(answering);
      });
      machine.finished.subscribe(() => {
        open.delete(machine);
        established.delete(machine);
        deciding.delete(machine);
        notices.unsubscribe();
        for (const s of answers) {
          s.unsubscribe();
          subscriptions.delete(s);
        }
      });
      machine.acceptTransport(transport);
    };

    const stopMachines = () => {
      for (const s of subscriptions) s.unsubscribe();
      for (const machine of open) {
        if (options.onStop !== 'abort' && machine.allows('Evt11')) machine.primitive({ type: 'Evt11' });
        else if (machine.allows('Evt15')) machine.primitive({ type: 'Evt15' });
        else machine.destroy();
      }
    };
    if (internals.transports) {
      const connections = internals.transports.subscribe({ next: onConnection, error: (error) => subscriber.error(error) });
      return () => {
        connections.unsubscribe();
        stopMachines();
      };
    }
    const onSocket = (socket: Socket) => onConnection(socketTransport(socket));
    const server: Server = options.tls ? createTlsServer(options.tls, onSocket) : createNetServer(onSocket);
    server.on('error', (error) => subscriber.error(error));
    server.listen(options.port ?? 0, host, () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : (options.port ?? 0);
      log.net('listening on %s:%d', host, port);
      options.onListening?.({ host, port });
    });

    return () => {
      server.close();
      stopMachines();
    };
  });
}
