/**
 * DIMSE without the network: a requestor and an acceptor in this process over linked in-memory
 * transports, each with its DIMSE channel created with the association. Used under vitest's
 * virtual clock (vi.useFakeTimers) so that timers, grace times and time limits are advanced by
 * the test, not waited for. Every command either side writes is recorded, decoded.
 */

import { setImmediate } from 'node:timers';
import {
  type AcceptorPolicy,
  type AssociateOptions,
  type Association,
  linkedTransports,
  type ProposedContext,
  type Transport,
} from '@dimse-rx/association';
import { associate, type Command, decodeCommand, type Service, scp } from '@dimse-rx/dimse';
import { decodePdu } from '@dimse-rx/pdu';
import { firstValueFrom, type Observable, of, ReplaySubject, type Subscription } from 'rxjs';

export const VERIFICATION = '1.2.840.10008.1.1';
export const CT = '1.2.840.10008.5.1.4.1.1.2';
export const MR = '1.2.840.10008.5.1.4.1.1.4';
export const STUDY_ROOT_FIND = '1.2.840.10008.5.1.4.1.2.2.1';
export const STUDY_ROOT_GET = '1.2.840.10008.5.1.4.1.2.2.3';
export const STORAGE_COMMITMENT = '1.2.840.10008.1.20.1';
export const ILE = '1.2.840.10008.1.2';

/** Commands kept per side: enough for any assertion, bounded for a test of a million responses. */
const RECORDED = 10_000;

/** Records the commands written on a transport (each write is one PDU; command fragments joined). */
function recording(transport: Transport, commands: Command[], pass: (command: Command) => boolean = () => true): Transport {
  let fragments: Uint8Array[] = [];
  return {
    chunks: transport.chunks,
    peer: transport.peer,
    pause: () => transport.pause(),
    resume: () => transport.resume(),
    close: () => transport.close(),
    write(bytes, onWritten) {
      const whole = bytes instanceof Uint8Array ? bytes : Buffer.concat(bytes);
      let passes = true;
      if (whole[0] === 0x04) {
        const pdu = decodePdu(whole);
        if (pdu.type === 'PDataTf')
          for (const pdv of pdu.pdvs) {
            if (!pdv.command) continue;
            fragments.push(pdv.value);
            if (pdv.last) {
              const command = decodeCommand(Buffer.concat(fragments));
              if (commands.length < RECORDED) commands.push(command);
              passes &&= pass(command);
              fragments = [];
            }
          }
      }
      // A PDU held back (a peer that never got it) is still "written" for the sender.
      if (passes) transport.write(bytes, onWritten);
      else onWritten?.();
    },
  };
}

export interface PairOptions {
  readonly contexts?: readonly ProposedContext[];
  readonly acceptor?: Partial<AcceptorPolicy>;
  readonly requestor?: Partial<AssociateOptions>;
  readonly services?: readonly Service[];
  /** Commands of the requestor the acceptor is not given (a peer that never reads a C-CANCEL). */
  readonly lostOnTheWay?: (command: Command) => boolean;
  /** Runs on the acceptor's association as soon as it exists, before anything is read. */
  readonly onAcceptor?: (association: Association) => void;
}

export interface Pair {
  readonly requestor: Association;
  readonly acceptor: Association;
  /** Commands each side wrote, in order. */
  readonly sentByRequestor: Command[];
  readonly sentByAcceptor: Command[];
  /** Releases, stops the acceptor. */
  close(): Promise<void>;
}

/**
 * Lets what is pending run: microtasks, and the channel's polls of the event loop (a real
 * setImmediate, which the fake timers leave alone). Virtual time does not move.
 */
export async function settle(rounds = 20): Promise<void> {
  for (let i = 0; i < rounds; i++) await new Promise<void>((resolve) => setImmediate(resolve));
}

/** An acceptor over a linked transport, and the requestor's end of it to connect with. */
export interface Acceptor {
  /** For `associate()`/`withAssociation()` internals: the requestor's end of the link (once). */
  readonly connect: () => Observable<Transport>;
  readonly accepted: Promise<Association>;
  readonly sentByRequestor: Command[];
  readonly sentByAcceptor: Command[];
  readonly close: () => Promise<void>;
}

/** Requestor options for the contexts of a pair. */
export const requestorOptions = (contexts: readonly ProposedContext[], more: Partial<AssociateOptions> = {}): AssociateOptions => ({
  host: 'link',
  port: 0,
  callingAeTitle: 'REQUESTOR',
  calledAeTitle: 'ACCEPTOR',
  presentationContexts: contexts,
  ...more,
});

export function acceptor(options: PairOptions = {}): Acceptor {
  const [a, b] = linkedTransports();
  const sentByRequestor: Command[] = [];
  const sentByAcceptor: Command[] = [];
  const contexts = options.contexts ?? [{ abstractSyntax: VERIFICATION, transferSyntaxes: [ILE] }];
  const accepted = new ReplaySubject<Association>(1);
  const abstractSyntaxes = Object.fromEntries(contexts.map((pc) => [pc.abstractSyntax, [...pc.transferSyntaxes]]));
  const server: Subscription = scp(
    { abstractSyntaxes, ...options.acceptor, ...(options.services ? { services: options.services } : {}) },
    { transports: of(recording(b, sentByAcceptor)) },
  ).subscribe((association) => {
    options.onAcceptor?.(association);
    accepted.next(association);
  });
  return {
    connect: () => of(recording(a, sentByRequestor, (command) => !options.lostOnTheWay?.(command))),
    accepted: firstValueFrom(accepted),
    sentByRequestor,
    sentByAcceptor,
    close: async () => {
      await settle();
      server.unsubscribe();
      await settle();
    },
  };
}

/** A requestor and an acceptor associated over linked transports. */
export async function pair(options: PairOptions = {}): Promise<Pair> {
  const side = acceptor(options);
  const contexts = options.contexts ?? [{ abstractSyntax: VERIFICATION, transferSyntaxes: [ILE] }];
  const requested = new ReplaySubject<Association>(1);
  const client = associate(requestorOptions(contexts, options.requestor), { connect: side.connect }).subscribe({
    next: (association) => requested.next(association),
    error: (error) => requested.error(error),
  });
  const requestor = await firstValueFrom(requested);
  const acceptorAssociation = await side.accepted;
  return {
    requestor,
    acceptor: acceptorAssociation,
    sentByRequestor: side.sentByRequestor,
    sentByAcceptor: side.sentByAcceptor,
    close: async () => {
      client.unsubscribe();
      await side.close();
    },
  };
}
