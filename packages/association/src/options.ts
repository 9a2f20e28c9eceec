import type { ConnectionOptions, TlsOptions } from 'node:tls';
import type {
  AssociateRj,
  AssociateRq,
  SopClassCommonExtendedNegotiation,
  SopClassExtendedNegotiation,
  UserIdentityRq,
} from '@dimse-rx/pdu';
import { IMPLEMENTATION_CLASS_UID, IMPLEMENTATION_VERSION_NAME } from '@dimse-rx/pdu';
import type { ObservableInput } from 'rxjs';
import type { Timeouts } from './runtime/machine.js';

export { IMPLEMENTATION_CLASS_UID, IMPLEMENTATION_VERSION_NAME };

/** The Maximum Length this side announces by default: DCMTK's and most peers' value. */
export const DEFAULT_MAX_PDU_LENGTH = 16384;

/** A presentation context to propose; context IDs are assigned 1, 3, 5... in this order. */
export interface ProposedContext {
  readonly abstractSyntax: string;
  /** In order of preference. */
  readonly transferSyntaxes: readonly string[];
}

/** Options shared by both sides. */
export interface CommonOptions {
  /** Largest P-DATA-TF this side receives, announced in the Maximum Length Sub-Item; 0 means no limit. Default 16384. */
  readonly maxPduLength?: number;
  /** Milliseconds; 0 turns a timer off. Defaults: connect 30 s, ARTIM 30 s, ACSE 30 s, idle off. */
  readonly timeouts?: Partial<Timeouts>;
  readonly implementationClassUid?: string;
  readonly implementationVersionName?: string;
}

/** What `associate()` needs. */
export interface AssociateOptions extends CommonOptions {
  readonly host: string;
  readonly port: number;
  readonly callingAeTitle: string;
  readonly calledAeTitle: string;
  readonly presentationContexts: readonly ProposedContext[];
  /** TLS: `true` for the defaults, or Node's TLS connection options (CA, certificate, servername...). */
  readonly tls?: boolean | ConnectionOptions;
  /** SCP/SCU role selection to propose, per SOP class. */
  readonly roles?: readonly { readonly sopClassUid: string; readonly scuRole: boolean; readonly scpRole: boolean }[];
  /** Proposed only when it is not 1/1: some peers drop the connection on the item. */
  readonly asynchronousOperationsWindow?: { readonly maxOperationsInvoked: number; readonly maxOperationsPerformed: number };
  readonly extendedNegotiation?: readonly Omit<SopClassExtendedNegotiation, 'type'>[];
  readonly commonExtendedNegotiation?: readonly Omit<SopClassCommonExtendedNegotiation, 'type' | 'version'>[];
  readonly userIdentity?: Omit<UserIdentityRq, 'type' | 'secondaryField' | 'primaryField'> & {
    readonly primaryField: Uint8Array | string;
    readonly secondaryField?: Uint8Array | string;
  };
}

/** The answer of a user identity check (PS3.7 D.3.3.7). */
export type UserIdentityDecision = boolean | { readonly accept: boolean; readonly serverResponse?: Uint8Array };

/** The acceptance policy of `serve()`. */
export interface AcceptorPolicy {
  /** Called AE titles answered; any when absent. */
  readonly aeTitles?: readonly string[];
  /** Calling AE titles allowed; any when absent. */
  readonly callingAeTitles?: readonly string[];
  /**
   * Abstract syntaxes accepted, each with the transfer syntaxes accepted for it in order of
   * preference; or a function of the abstract syntax and the proposed transfer syntaxes that
   * returns those (undefined: abstract syntax not supported).
   */
  readonly abstractSyntaxes:
    | Readonly<Record<string, readonly string[]>>
    | ((abstractSyntax: string, proposedTransferSyntaxes: readonly string[]) => readonly string[] | undefined);
  /**
   * Roles the requestor may take per SOP class when it proposes role selection; the answer is
   * what it proposed and this allows. SOP classes not listed get no answer (default roles).
   */
  readonly roles?: Readonly<Record<string, { readonly scu: boolean; readonly scp: boolean }>>;
  /** This side's window; answered only when the requestor proposes one. */
  readonly asynchronousOperationsWindow?: { readonly maxOperationsInvoked: number; readonly maxOperationsPerformed: number };
  /** Answers a SOP Class Extended Negotiation item; undefined sends no reply for it. */
  readonly extendedNegotiation?: (item: SopClassExtendedNegotiation) => Uint8Array | undefined;
  /** Sees each SOP Class Common Extended Negotiation item (which has no reply). */
  readonly commonExtendedNegotiation?: (item: SopClassCommonExtendedNegotiation) => void;
  /** Checks the requestor's identity (undefined when it gave none); false rejects (1, 1, 1). */
  readonly userIdentity?: (identity: UserIdentityRq | undefined) => ObservableInput<UserIdentityDecision> | UserIdentityDecision;
  /** Associations open at once; more are rejected transient, local limit exceeded (2, 3, 2). */
  readonly maxAssociations?: number;
  /** With no acceptable presentation context: accept with all rejected (as DCMTK does, the default) or reject (1, 1, 1). */
  readonly noAcceptableContext?: 'accept' | 'reject';
}

/** What `serve()` needs. */
export interface ServeOptions extends CommonOptions, AcceptorPolicy {
  /** 0 (default) picks a free port; `Server.port` reports it. */
  readonly port?: number;
  /** Default 127.0.0.1. */
  readonly host?: string;
  readonly tls?: TlsOptions;
  /** What happens to open associations when the subscriber leaves: release (default) or abort. */
  readonly onStop?: 'release' | 'abort';
  /**
   * Told of each association request rejected (A-ASSOCIATE-RJ sent), for logs: rejected requests
   * are not emitted. `peer` is the requestor's address and port.
   */
  readonly onRejected?: (rejected: { readonly peer: string; readonly request: AssociateRq; readonly response: AssociateRj }) => void;
}

/**
 * Throws a RangeError unless `value` can be a Maximum Length Sub-Item (PS3.8 D.1): 0 (no limit),
 * or 8 (a PDV header and two bytes of value, the least that carries a message) to 2^32-1.
 */
export function checkMaxPduLength(value: number): void {
  if (!Number.isInteger(value) || value < 0 || value > 0xffffffff) {
    throw new RangeError(`maxPduLength: ${value} is not a whole number from 0 (no limit) to 4294967295`);
  }
  if (value > 0 && value < 8) {
    throw new RangeError(`maxPduLength: ${value} is below 8, the least a P-DATA-TF carrying a message needs (0: no limit)`);
  }
}
