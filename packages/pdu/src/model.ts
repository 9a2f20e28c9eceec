import type { PresentationContextResultCode, UserIdentityTypeCode } from './constants.js';

/**
 * The typed model of the PS3.8 section 9.3 PDUs. Strings that are UIDs or AE titles are
 * given without their padding; byte fields that may hold binary data (user identity, service
 * class application information, unknown items) are `Uint8Array` views.
 */
export type Pdu = AssociateRq | AssociateAc | AssociateRj | PDataTf | ReleaseRq | ReleaseRp | Abort;

/** A-ASSOCIATE-RQ, 9.3.2. */
export interface AssociateRq {
  readonly type: 'AssociateRq';
  /** Protocol-version bit field; 1 in every version of the standard so far. */
  readonly protocolVersion: number;
  readonly calledAeTitle: string;
  readonly callingAeTitle: string;
  readonly applicationContextName: string;
  readonly presentationContexts: readonly PresentationContextRq[];
  readonly userInformation: readonly UserInformationSubItem[];
  /** Variable items of types this codec does not know, kept so they are written back. */
  readonly unknownItems?: readonly UnknownItem[];
}

/** A-ASSOCIATE-AC, 9.3.3. */
export interface AssociateAc {
  readonly type: 'AssociateAc';
  readonly protocolVersion: number;
  /** Reserved in the AC; sent back as received in the RQ, not tested. */
  readonly calledAeTitle: string;
  /** Reserved in the AC; sent back as received in the RQ, not tested. */
  readonly callingAeTitle: string;
  readonly applicationContextName: string;
  readonly presentationContexts: readonly PresentationContextAc[];
  readonly userInformation: readonly UserInformationSubItem[];
  readonly unknownItems?: readonly UnknownItem[];
}

/** A-ASSOCIATE-RJ, 9.3.4. Numbers as the standard defines them (see RejectResult & co). */
export interface AssociateRj {
  readonly type: 'AssociateRj';
  readonly result: number;
  readonly source: number;
  readonly reason: number;
}

/** P-DATA-TF, 9.3.5: one or more presentation data values. */
export interface PDataTf {
  readonly type: 'PDataTf';
  readonly pdvs: readonly Pdv[];
}

/** A Presentation Data Value item with its message control header, 9.3.5.1 and Annex E.2. */
export interface Pdv {
  /** Odd number 1..255. */
  readonly presentationContextId: number;
  /** Message control header bit 0: command information (true) or data set (false). */
  readonly command: boolean;
  /** Message control header bit 1: last fragment of the command or data set. */
  readonly last: boolean;
  /** The fragment; a view into the received bytes when decoded. */
  readonly value: Uint8Array;
}

/** A-RELEASE-RQ, 9.3.6. */
export interface ReleaseRq {
  readonly type: 'ReleaseRq';
}

/** A-RELEASE-RP, 9.3.7. */
export interface ReleaseRp {
  readonly type: 'ReleaseRp';
}

/** A-ABORT, 9.3.8. */
export interface Abort {
  readonly type: 'Abort';
  /** 0 service-user, 2 service-provider (see AbortSource). */
  readonly source: number;
  /** See AbortReason; not significant when the source is the service-user. */
  readonly reason: number;
}

/** Presentation Context Item in A-ASSOCIATE-RQ, 9.3.2.2. */
export interface PresentationContextRq {
  /** Odd number 1..255. */
  readonly id: number;
  readonly abstractSyntax: string;
  /** One or more, in the requestor's order of preference. */
  readonly transferSyntaxes: readonly string[];
  /**
   * The three reserved bytes after the ID, present only when they are not all zero. Never
   * tested (PS3.8 9.3.1); kept so that a decoded request encodes to the same bytes (DCMTK
   * sends 0xFF in the second one).
   */
  readonly reserved?: readonly [number, number, number];
}

/** Presentation Context Item in A-ASSOCIATE-AC, 9.3.3.2. */
export interface PresentationContextAc {
  readonly id: number;
  /** 0 acceptance, 1 user-rejection, 2 no-reason, 3 abstract syntax, 4 transfer syntaxes not supported. */
  readonly result: PresentationContextResultCode;
  /** Significant only when the result is acceptance; may be empty otherwise. */
  readonly transferSyntax: string;
  /**
   * A rejected context that came without its Transfer Syntax Sub-Item (9.3.3.2: not tested
   * then): it is written back without one too.
   */
  readonly withoutTransferSyntaxItem?: true;
}

/** An item or sub-item whose type this codec does not know: written back as it came. */
export interface UnknownItem {
  readonly type: 'Unknown';
  /** The item-type byte. */
  readonly itemType: number;
  /** The item's reserved byte (second byte), kept for an exact round trip. */
  readonly reserved?: number;
  readonly data: Uint8Array;
}

/** The sub-items of the User Information Item, in the order they appear on the wire. */
export type UserInformationSubItem =
  | MaximumLength
  | ImplementationClassUid
  | ImplementationVersionName
  | AsynchronousOperationsWindow
  | RoleSelection
  | SopClassExtendedNegotiation
  | SopClassCommonExtendedNegotiation
  | UserIdentityRq
  | UserIdentityAc
  | UnknownItem;

/** Maximum Length Sub-Item, PS3.8 D.1: 0 means no limit. */
export interface MaximumLength {
  readonly type: 'MaximumLength';
  readonly maximumLength: number;
}

/** Implementation Class UID Sub-Item, PS3.7 D.3.3.2. */
export interface ImplementationClassUid {
  readonly type: 'ImplementationClassUid';
  readonly uid: string;
}

/** Implementation Version Name Sub-Item, PS3.7 D.3.3.2 (1 to 16 characters). */
export interface ImplementationVersionName {
  readonly type: 'ImplementationVersionName';
  readonly name: string;
}

/** Asynchronous Operations Window Sub-Item, PS3.7 D.3.3.3: 0 means unlimited. */
export interface AsynchronousOperationsWindow {
  readonly type: 'AsynchronousOperationsWindow';
  readonly maxOperationsInvoked: number;
  readonly maxOperationsPerformed: number;
}

/** SCP/SCU Role Selection Sub-Item, PS3.7 D.3.3.4. */
export interface RoleSelection {
  readonly type: 'RoleSelection';
  readonly sopClassUid: string;
  readonly scuRole: boolean;
  readonly scpRole: boolean;
}

/** SOP Class Extended Negotiation Sub-Item, PS3.7 D.3.3.5. */
export interface SopClassExtendedNegotiation {
  readonly type: 'SopClassExtendedNegotiation';
  readonly sopClassUid: string;
  /** Service-class-application-information, defined by each service class (PS3.4). */
  readonly serviceClassApplicationInformation: Uint8Array;
}

/** SOP Class Common Extended Negotiation Sub-Item, PS3.7 D.3.3.6 (RQ only). */
export interface SopClassCommonExtendedNegotiation {
  readonly type: 'SopClassCommonExtendedNegotiation';
  /** Sub-item-version; 0 in the current standard. */
  readonly version: number;
  readonly sopClassUid: string;
  readonly serviceClassUid: string;
  readonly relatedGeneralSopClassUids: readonly string[];
}

/** User Identity Sub-Item of A-ASSOCIATE-RQ, PS3.7 D.3.3.7.1. */
export interface UserIdentityRq {
  readonly type: 'UserIdentityRq';
  /** 1 username, 2 username and passcode, 3 Kerberos, 4 SAML, 5 JWT. */
  readonly identityType: UserIdentityTypeCode;
  readonly positiveResponseRequested: boolean;
  /** Username (UTF-8), Kerberos ticket, SAML assertion or JWT. */
  readonly primaryField: Uint8Array;
  /** The passcode for type 2; empty for the other types. */
  readonly secondaryField: Uint8Array;
}

/** User Identity Sub-Item of A-ASSOCIATE-AC, PS3.7 D.3.3.7.2. */
export interface UserIdentityAc {
  readonly type: 'UserIdentityAc';
  /** Server response: a Kerberos server ticket, a SAML response, or empty. */
  readonly serverResponse: Uint8Array;
}
