/** Status classes of PS3.7 C.1. */
export type StatusKind = 'success' | 'warning' | 'failure' | 'cancel' | 'pending';

/** The DIMSE operations, by the names PS3.7 gives them. */
export type DimseService =
  | 'C-STORE'
  | 'C-FIND'
  | 'C-GET'
  | 'C-MOVE'
  | 'C-ECHO'
  | 'C-CANCEL'
  | 'N-EVENT-REPORT'
  | 'N-GET'
  | 'N-SET'
  | 'N-ACTION'
  | 'N-CREATE'
  | 'N-DELETE';

/** A DIMSE status with its class and meaning, as responses deliver it. */
export interface DimseStatus {
  readonly code: number;
  readonly kind: StatusKind;
  /** The standard's meaning of the code for the service that answered it, in words. */
  readonly meaning: string;
  readonly errorComment?: string;
  readonly offendingElement?: readonly number[];
  readonly errorId?: number;
}

type Definitions = Readonly<Record<string, readonly [code: number, meaning: string]>>;

const codesOf = <const T extends Definitions>(definitions: T): { readonly [K in keyof T]: number } =>
  Object.freeze(Object.fromEntries(Object.entries(definitions).map(([name, [code]]) => [name, code]))) as {
    readonly [K in keyof T]: number;
  };
const meaningsOf = (...definitions: Definitions[]): ReadonlyMap<number, string> =>
  new Map(definitions.flatMap((d) => Object.values(d).map(([code, meaning]) => [code, meaning] as const)));

/** The statuses of PS3.7 C that any service may answer (each service's own follow). */
const GENERAL = {
  Success: [0x0000, 'success'],
  Cancel: [0xfe00, 'cancelled'],
  Pending: [0xff00, 'pending'],
  OptionalAttributesNotSupported: [0x0001, 'warning: requested optional attributes are not supported'],
  AttributeListError: [0x0107, 'warning: attribute list error'],
  AttributeValueOutOfRange: [0x0116, 'warning: attribute value out of range'],
  NoSuchAttribute: [0x0105, 'failure: no such attribute'],
  InvalidAttributeValue: [0x0106, 'failure: invalid attribute value'],
  ProcessingFailure: [0x0110, 'failure: processing failure'],
  DuplicateSopInstance: [0x0111, 'failure: duplicate SOP instance'],
  NoSuchSopInstance: [0x0112, 'failure: no such SOP instance'],
  NoSuchEventType: [0x0113, 'failure: no such event type'],
  NoSuchArgument: [0x0114, 'failure: no such argument'],
  InvalidArgumentValue: [0x0115, 'failure: invalid argument value'],
  /** PS3.7 C.5.9: the SOP Instance UID is not a valid UID. */
  InvalidObjectInstance: [0x0117, 'failure: invalid object instance'],
  NoSuchSopClass: [0x0118, 'failure: no such SOP class'],
  ClassInstanceConflict: [0x0119, 'failure: class-instance conflict'],
  MissingAttribute: [0x0120, 'failure: missing attribute'],
  MissingAttributeValue: [0x0121, 'failure: missing attribute value'],
  SopClassNotSupported: [0x0122, 'failure: SOP class not supported'],
  NoSuchAction: [0x0123, 'failure: no such action'],
  NotAuthorized: [0x0124, 'failure: not authorized'],
  DuplicateInvocation: [0x0210, 'failure: duplicate invocation'],
  UnrecognizedOperation: [0x0211, 'failure: unrecognized operation'],
  MistypedArgument: [0x0212, 'failure: mistyped argument'],
  ResourceLimitation: [0x0213, 'failure: resource limitation'],
} as const;

/** C-STORE's own statuses, PS3.4 B.2.3. */
const STORE = {
  OutOfResources: [0xa700, 'failure: refused, out of resources'],
  DataSetDoesNotMatchSopClass: [0xa900, 'failure: data set does not match SOP class'],
  CannotUnderstand: [0xc000, 'failure: cannot understand'],
  CoercionOfDataElements: [0xb000, 'warning: coercion of data elements'],
  ElementsDiscarded: [0xb006, 'warning: elements discarded'],
  DataSetDoesNotMatchSopClassWarning: [0xb007, 'warning: data set does not match SOP class'],
} as const;

/** C-FIND's own statuses, PS3.4 C.4.1.1.4. */
const FIND = {
  OutOfResources: [0xa700, 'failure: refused, out of resources'],
  IdentifierDoesNotMatchSopClass: [0xa900, 'failure: identifier does not match SOP class'],
  UnableToProcess: [0xc000, 'failure: unable to process'],
  Matching: [0xff00, 'pending: matches are continuing'],
  MatchingOptionalKeysNotSupported: [0xff01, 'pending: matches are continuing, optional keys not supported'],
} as const;

/** C-GET's and C-MOVE's own statuses, PS3.4 C.4.2.1.5 and C.4.3.1.4. */
const RETRIEVE = {
  OutOfResourcesNumberOfMatches: [0xa701, 'failure: refused, out of resources (unable to calculate number of matches)'],
  OutOfResourcesSubOperations: [0xa702, 'failure: refused, out of resources (unable to perform sub-operations)'],
  IdentifierDoesNotMatchSopClass: [0xa900, 'failure: identifier does not match SOP class'],
  UnableToProcess: [0xc000, 'failure: unable to process'],
  SubOperationsCompleteWithFailures: [0xb000, 'warning: sub-operations complete, one or more failures or warnings'],
  SubOperationsContinuing: [0xff00, 'pending: sub-operations are continuing'],
} as const;

/** C-MOVE's status beyond C-GET's, PS3.4 C.4.2.1.5. */
const MOVE = {
  MoveDestinationUnknown: [0xa801, 'failure: refused, move destination unknown'],
} as const;

/** The general DIMSE status codes (PS3.7 C) by name. */
export const Status = codesOf(GENERAL);
/** C-STORE status codes by name (PS3.4 B.2.3). */
export const StoreStatus = codesOf(STORE);
/** C-FIND status codes by name (PS3.4 C.4.1.1.4). */
export const FindStatus = codesOf(FIND);
/** C-GET and C-MOVE status codes by name (PS3.4 C.4.2.1.5, C.4.3.1.4). */
export const RetrieveStatus = codesOf({ ...RETRIEVE, ...MOVE });

const GENERAL_MEANINGS = meaningsOf(GENERAL);
const MEANINGS: Readonly<Partial<Record<DimseService, ReadonlyMap<number, string>>>> = {
  'C-STORE': meaningsOf(GENERAL, STORE),
  'C-FIND': meaningsOf(GENERAL, FIND),
  'C-GET': meaningsOf(GENERAL, RETRIEVE),
  'C-MOVE': meaningsOf(GENERAL, RETRIEVE, MOVE),
};

/** The class of a status code, PS3.7 C.1 and the service classes of PS3.4. */
export function statusKind(code: number): StatusKind {
  if (code === 0x0000) return 'success';
  if (code === 0xfe00) return 'cancel';
  if (code === 0xff00 || code === 0xff01) return 'pending';
  if ((code & 0xf000) === 0xb000 || code === 0x0001 || code === 0x0107 || code === 0x0116) return 'warning';
  return 'failure';
}

/**
 * What a status code means for a service ('C-FIND': 0xA900 is an identifier that does not
 * match; for 'C-STORE' a data set), by its exact value, then by its range (0xA7xx, 0xA9xx,
 * 0xCxxx). Without a service, the general meanings of PS3.7 C.
 */
export function statusMeaning(code: number, service?: DimseService): string {
  const table = (service && MEANINGS[service]) ?? GENERAL_MEANINGS;
  const exact = table.get(code);
  if (exact) return exact;
  // A code of a range (0xA7xx, 0xA9xx, 0xCxxx) means what the service's first code of it means.
  const high = code & 0xff00;
  if (high === 0xa700 || high === 0xa900) return table.get(high) ?? MEANINGS['C-STORE']!.get(high)!;
  if ((code & 0xf000) === 0xc000) return table.get(0xc000) ?? MEANINGS['C-STORE']!.get(0xc000)!;
  if ((code & 0xf000) === 0xb000) return 'warning';
  if ((code & 0xf000) === 0xa000) return 'failure: refused';
  return `${statusKind(code)}: status 0x${code.toString(16).padStart(4, '0')}`;
}

/** A status as a typed value, with the error details of the response when it has them. */
export function dimseStatus(
  code: number,
  details: { errorComment?: string | undefined; offendingElement?: readonly number[] | undefined; errorId?: number | undefined } = {},
  service?: DimseService,
): DimseStatus {
  const status: { -readonly [K in keyof DimseStatus]: DimseStatus[K] } = {
    code,
    kind: statusKind(code),
    meaning: statusMeaning(code, service),
  };
  if (details.errorComment !== undefined) status.errorComment = details.errorComment;
  if (details.offendingElement !== undefined) status.offendingElement = details.offendingElement;
  if (details.errorId !== undefined) status.errorId = details.errorId;
  return status;
}
