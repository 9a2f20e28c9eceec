import type {
  AssociateAc,
  AssociateRq,
  SopClassCommonExtendedNegotiation,
  SopClassExtendedNegotiation,
  UserIdentityRq,
  UserInformationSubItem,
} from '@dimse-rx/pdu';
import type { UlRole } from '../fsm/types.js';

/** A proposed presentation context with the answer it got. */
export interface NegotiatedContext {
  readonly id: number;
  readonly abstractSyntax: string;
  /** As the requestor proposed them, in its order of preference. */
  readonly proposedTransferSyntaxes: readonly string[];
  /** 0 acceptance, 1 user-rejection, 2 no-reason, 3 abstract syntax not supported, 4 transfer syntaxes not supported. */
  readonly result: number;
  readonly accepted: boolean;
  /** The transfer syntax chosen, for an accepted context. */
  readonly transferSyntax?: string;
}

/** SCP/SCU Role Selection as the acceptor answered it (PS3.7 D.3.3.4). */
export interface NegotiatedRole {
  readonly sopClassUid: string;
  /** The association requestor may act as SCU for this SOP class. */
  readonly scuRole: boolean;
  /** The association requestor may act as SCP for this SOP class. */
  readonly scpRole: boolean;
}

/** What negotiation settled, seen from one side. */
export interface Negotiation {
  readonly role: UlRole;
  readonly callingAeTitle: string;
  readonly calledAeTitle: string;
  readonly presentationContexts: readonly NegotiatedContext[];
  /** Largest P-DATA-TF this side receives (0: no limit). */
  readonly localMaxPduLength: number;
  /** Largest P-DATA-TF the peer receives (0: no limit). */
  readonly peerMaxPduLength: number;
  readonly peerImplementationClassUid: string | undefined;
  readonly peerImplementationVersionName: string | undefined;
  /** Role selection as answered in the A-ASSOCIATE-AC; SOP classes not listed keep the default roles. */
  readonly roles: readonly NegotiatedRole[];
  /** Negotiated window (PS3.7 D.3.3.3) for this side: operations it may invoke and perform; 1/1 when none was negotiated, 0 means unlimited. */
  readonly asynchronousOperationsWindow: { readonly maxOperationsInvoked: number; readonly maxOperationsPerformed: number };
  /** SOP Class Extended Negotiation replies of the acceptor. */
  readonly extendedNegotiation: readonly SopClassExtendedNegotiation[];
  /** SOP Class Common Extended Negotiation items of the request. */
  readonly commonExtendedNegotiation: readonly SopClassCommonExtendedNegotiation[];
  /** The user identity the requestor gave, if any. */
  readonly userIdentity: UserIdentityRq | undefined;
  /** The acceptor's user identity server response, if it sent one. */
  readonly userIdentityResponse: Uint8Array | undefined;
  readonly request: AssociateRq;
  readonly response: AssociateAc;
}

const find = <T extends UserInformationSubItem['type']>(items: readonly UserInformationSubItem[], type: T) =>
  items.find((i): i is Extract<UserInformationSubItem, { type: T }> => i.type === type);
const all = <T extends UserInformationSubItem['type']>(items: readonly UserInformationSubItem[], type: T) =>
  items.filter((i): i is Extract<UserInformationSubItem, { type: T }> => i.type === type);

/**
 * The smallest Maximum Length (PS3.8 D.1) that a P-DATA-TF can be sent within: a PDV item
 * header of 6 bytes and a value of 2, as every fragment must have an even length (DCMTK aborts
 * on an odd one). 0 means no limit.
 */
export const MIN_MAX_PDU_LENGTH = 8;

/**
 * Why the Maximum Length Sub-Item of an A-ASSOCIATE-RQ or -AC cannot be worked with (1 to 7:
 * not a single message could be sent to that side), or undefined when it can.
 */
export function maximumLengthProblem(pdu: AssociateRq | AssociateAc): string | undefined {
  const value = find(pdu.userInformation, 'MaximumLength')?.maximumLength;
  if (value === undefined || value === 0 || value >= MIN_MAX_PDU_LENGTH) return undefined;
  const name = pdu.type === 'AssociateRq' ? 'A-ASSOCIATE-RQ' : 'A-ASSOCIATE-AC';
  return `the ${name} gives a Maximum Length of ${value}, below ${MIN_MAX_PDU_LENGTH}: no P-DATA-TF that short holds a fragment (6 bytes of PDV header and 2 of value at least; 0 would mean no limit)`;
}

/** The negotiation outcome of a request and its accept, from one side's point of view. */
export function negotiationOf(role: UlRole, request: AssociateRq, response: AssociateAc): Negotiation {
  const proposed = new Map(request.presentationContexts.map((pc) => [pc.id, pc]));
  const presentationContexts = response.presentationContexts.flatMap((ac): NegotiatedContext[] => {
    const rq = proposed.get(ac.id);
    if (!rq) return [];
    const accepted = ac.result === 0;
    const common = {
      id: ac.id,
      abstractSyntax: rq.abstractSyntax,
      proposedTransferSyntaxes: rq.transferSyntaxes,
      result: ac.result,
      accepted,
    };
    return [accepted ? { ...common, transferSyntax: ac.transferSyntax } : common];
  });
  const local = role === 'requestor' ? request : response;
  const peer = role === 'requestor' ? response : request;
  const window = find(response.userInformation, 'AsynchronousOperationsWindow');
  return {
    role,
    callingAeTitle: request.callingAeTitle,
    calledAeTitle: request.calledAeTitle,
    presentationContexts,
    localMaxPduLength: find(local.userInformation, 'MaximumLength')?.maximumLength ?? 0,
    peerMaxPduLength: find(peer.userInformation, 'MaximumLength')?.maximumLength ?? 0,
    peerImplementationClassUid: find(peer.userInformation, 'ImplementationClassUid')?.uid,
    peerImplementationVersionName: find(peer.userInformation, 'ImplementationVersionName')?.name,
    roles: all(response.userInformation, 'RoleSelection').map(({ sopClassUid, scuRole, scpRole }) => ({ sopClassUid, scuRole, scpRole })),
    // The AC states the requestor's window; the acceptor invokes what the requestor performs.
    asynchronousOperationsWindow: !window
      ? { maxOperationsInvoked: 1, maxOperationsPerformed: 1 }
      : role === 'requestor'
        ? { maxOperationsInvoked: window.maxOperationsInvoked, maxOperationsPerformed: window.maxOperationsPerformed }
        : { maxOperationsInvoked: window.maxOperationsPerformed, maxOperationsPerformed: window.maxOperationsInvoked },
    extendedNegotiation: all(response.userInformation, 'SopClassExtendedNegotiation'),
    commonExtendedNegotiation: all(request.userInformation, 'SopClassCommonExtendedNegotiation'),
    userIdentity: find(request.userInformation, 'UserIdentityRq'),
    userIdentityResponse: find(response.userInformation, 'UserIdentityAc')?.serverResponse,
    request,
    response,
  };
}
