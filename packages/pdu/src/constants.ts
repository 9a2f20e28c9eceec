/** PDU type codes, PS3.8 section 9.3 (first byte of every PDU). */
export const PduType = {
  /** A-ASSOCIATE-RQ, 9.3.2 */
  AssociateRq: 0x01,
  /** A-ASSOCIATE-AC, 9.3.3 */
  AssociateAc: 0x02,
  /** A-ASSOCIATE-RJ, 9.3.4 */
  AssociateRj: 0x03,
  /** P-DATA-TF, 9.3.5 */
  PDataTf: 0x04,
  /** A-RELEASE-RQ, 9.3.6 */
  ReleaseRq: 0x05,
  /** A-RELEASE-RP, 9.3.7 */
  ReleaseRp: 0x06,
  /** A-ABORT, 9.3.8 */
  Abort: 0x07,
} as const;
/** A PDU type code (the first byte of a PDU). */
export type PduTypeCode = (typeof PduType)[keyof typeof PduType];

/** Item and sub-item type codes, PS3.8 9.3.2 to 9.3.3 and PS3.7 Annex D.3.3. */
export const ItemType = {
  /** Application Context Item, 9.3.2.1 */
  ApplicationContext: 0x10,
  /** Presentation Context Item (A-ASSOCIATE-RQ), 9.3.2.2 */
  PresentationContextRq: 0x20,
  /** Presentation Context Item (A-ASSOCIATE-AC), 9.3.3.2 */
  PresentationContextAc: 0x21,
  /** Abstract Syntax Sub-Item, 9.3.2.2.1 */
  AbstractSyntax: 0x30,
  /** Transfer Syntax Sub-Item, 9.3.2.2.2 */
  TransferSyntax: 0x40,
  /** User Information Item, 9.3.2.3 */
  UserInformation: 0x50,
  /** Maximum Length Sub-Item, PS3.8 D.1 */
  MaximumLength: 0x51,
  /** Implementation Class UID Sub-Item, PS3.7 D.3.3.2 */
  ImplementationClassUid: 0x52,
  /** Asynchronous Operations Window Sub-Item, PS3.7 D.3.3.3 */
  AsynchronousOperationsWindow: 0x53,
  /** SCP/SCU Role Selection Sub-Item, PS3.7 D.3.3.4 */
  RoleSelection: 0x54,
  /** Implementation Version Name Sub-Item, PS3.7 D.3.3.2 */
  ImplementationVersionName: 0x55,
  /** SOP Class Extended Negotiation Sub-Item, PS3.7 D.3.3.5 */
  SopClassExtendedNegotiation: 0x56,
  /** SOP Class Common Extended Negotiation Sub-Item, PS3.7 D.3.3.6 */
  SopClassCommonExtendedNegotiation: 0x57,
  /** User Identity Sub-Item (A-ASSOCIATE-RQ), PS3.7 D.3.3.7.1 */
  UserIdentityRq: 0x58,
  /** User Identity Sub-Item (A-ASSOCIATE-AC), PS3.7 D.3.3.7.2 */
  UserIdentityAc: 0x59,
} as const;

/** The only application context name DICOM defines, PS3.7 Annex A.2.1. */
export const DICOM_APPLICATION_CONTEXT_NAME = '1.2.840.10008.3.1.1.1';

/** Protocol version bit 0 of A-ASSOCIATE-RQ/AC, 9.3.2. */
export const PROTOCOL_VERSION = 0x0001;

/** Result of a presentation context in A-ASSOCIATE-AC, 9.3.3.2. */
export const PresentationContextResult = {
  /** acceptance */
  Acceptance: 0,
  /** user-rejection */
  UserRejection: 1,
  /** no-reason (provider rejection) */
  NoReason: 2,
  /** abstract-syntax-not-supported (provider rejection) */
  AbstractSyntaxNotSupported: 3,
  /** transfer-syntaxes-not-supported (provider rejection) */
  TransferSyntaxesNotSupported: 4,
} as const;
/** A presentation context result: 0 acceptance, 1 user rejection, 2 no reason, 3 abstract syntax not supported, 4 transfer syntaxes not supported. */
export type PresentationContextResultCode = 0 | 1 | 2 | 3 | 4;

/** A-ASSOCIATE-RJ Result field, 9.3.4. */
export const RejectResult = {
  /** rejected-permanent */
  Permanent: 1,
  /** rejected-transient */
  Transient: 2,
} as const;

/** A-ASSOCIATE-RJ Source field, 9.3.4. */
export const RejectSource = {
  /** DICOM UL service-user */
  ServiceUser: 1,
  /** DICOM UL service-provider (ACSE related function) */
  ServiceProviderAcse: 2,
  /** DICOM UL service-provider (Presentation related function) */
  ServiceProviderPresentation: 3,
} as const;

/** A-ASSOCIATE-RJ Reason/Diag. field, 9.3.4, by source. */
export const RejectReason = {
  /** Source 1 (service-user) reasons. */
  ServiceUser: {
    /** no-reason-given */
    NoReasonGiven: 1,
    /** application-context-name-not-supported */
    ApplicationContextNameNotSupported: 2,
    /** calling-AE-title-not-recognized */
    CallingAeTitleNotRecognized: 3,
    /** called-AE-title-not-recognized */
    CalledAeTitleNotRecognized: 7,
  },
  /** Source 2 (service-provider, ACSE) reasons. */
  ServiceProviderAcse: {
    /** no-reason-given */
    NoReasonGiven: 1,
    /** protocol-version-not-supported */
    ProtocolVersionNotSupported: 2,
  },
  /** Source 3 (service-provider, presentation) reasons. */
  ServiceProviderPresentation: {
    /** temporary-congestion */
    TemporaryCongestion: 1,
    /** local-limit-exceeded */
    LocalLimitExceeded: 2,
  },
} as const;

/** A-ABORT Source field, 9.3.8. */
export const AbortSource = {
  /** DICOM UL service-user (initiated abort) */
  ServiceUser: 0,
  /** reserved */
  Reserved: 1,
  /** DICOM UL service-provider (initiated abort) */
  ServiceProvider: 2,
} as const;

/** A-ABORT Reason/Diag. field, 9.3.8 (significant when the source is the service-provider). */
export const AbortReason = {
  /** reason-not-specified */
  NotSpecified: 0,
  /** unrecognized-PDU */
  UnrecognizedPdu: 1,
  /** unexpected-PDU */
  UnexpectedPdu: 2,
  /** reserved */
  Reserved: 3,
  /** unrecognized-PDU parameter */
  UnrecognizedPduParameter: 4,
  /** unexpected-PDU parameter */
  UnexpectedPduParameter: 5,
  /** invalid-PDU-parameter value */
  InvalidPduParameterValue: 6,
} as const;
/** An A-ABORT reason code (PS3.8 9.3.8). */
export type AbortReasonCode = (typeof AbortReason)[keyof typeof AbortReason];

/** User Identity Type, PS3.7 D.3.3.7.1. */
export const UserIdentityType = {
  /** Username as a UTF-8 string */
  Username: 1,
  /** Username as a UTF-8 string and passcode */
  UsernameAndPasscode: 2,
  /** Kerberos Service ticket */
  Kerberos: 3,
  /** SAML Assertion */
  Saml: 4,
  /** JSON Web Token (JWT) */
  Jwt: 5,
} as const;
/** A user identity type: 1 username, 2 username and passcode, 3 Kerberos, 4 SAML, 5 JWT. */
export type UserIdentityTypeCode = 1 | 2 | 3 | 4 | 5;

/** dimse-rx's implementation class UID (a UUID-derived UID, PS3.5 B.2) and version name. */
export const IMPLEMENTATION_CLASS_UID = '2.25.196637866093754276687749664541835802356';
/** dimse-rx's implementation version name, sent in A-ASSOCIATE and written in Part 10 meta information. */
export const IMPLEMENTATION_VERSION_NAME = 'DIMSE_RX_010';
