/** Status classes of PS3.7 C.1. */
export type StatusKind = 'success' | 'warning' | 'failure' | 'cancel' | 'pending';

/** A DIMSE status with its class and meaning, as responses deliver it. */
export interface DimseStatus {
  readonly code: number;
  readonly kind: StatusKind;
  /** The standard's meaning of the code, in words. */
  readonly meaning: string;
  readonly errorComment?: string;
  readonly offendingElement?: readonly number[];
  readonly errorId?: number;
}

/** Status codes used by name, PS3.7 Annex C and PS3.4 (C-STORE B.2.3, C-FIND/C-MOVE/C-GET C.4). */
export const Status = {
  Success: 0x0000,
  Cancel: 0xfe00,
  Pending: 0xff00,
  PendingWithWarnings: 0xff01,
  /** PS3.4 B.2.3: coercion of data elements. */
  CoercionOfDataElements: 0xb000,
  ElementsDiscarded: 0xb006,
  DataSetDoesNotMatchSopClassWarning: 0xb007,
  SubOperationsCompleteWithFailures: 0xb000,
  RefusedOutOfResources: 0xa700,
  OutOfResourcesSubOperations: 0xa702,
  MoveDestinationUnknown: 0xa801,
  DataSetDoesNotMatchSopClass: 0xa900,
  CannotUnderstand: 0xc000,
  UnableToProcess: 0xc000,
  NoSuchSopClass: 0x0118,
  SopClassNotSupported: 0x0122,
  DuplicateSopInstance: 0x0111,
  InvalidArgumentValue: 0x0115,
  /** PS3.7 C.5.9: the SOP Instance UID is not a valid UID. */
  InvalidObjectInstance: 0x0117,
  MistypedArgument: 0x0212,
  UnrecognizedOperation: 0x0211,
  DuplicateInvocation: 0x0210,
  ProcessingFailure: 0x0110,
  ResourceLimitation: 0x0213,
  NotAuthorized: 0x0124,
} as const;

const MEANINGS: Readonly<Record<number, string>> = {
  0: 'success',
  1: 'warning: requested optional attributes are not supported',
  263: 'warning: attribute list error',
  278: 'warning: attribute value out of range',
  65024: 'cancelled',
  65280: 'pending',
  65281: 'pending, optional keys not supported',
  45056: 'warning: coercion of data elements, or sub-operations completed with failures',
  45062: 'warning: elements discarded',
  45063: 'warning: data set does not match SOP class',
  261: 'failure: no such attribute',
  262: 'failure: invalid attribute value',
  272: 'failure: processing failure',
  273: 'failure: duplicate SOP instance',
  274: 'failure: no such SOP instance',
  276: 'failure: invalid argument value',
  277: 'failure: invalid argument value',
  279: 'failure: invalid object instance',
  280: 'failure: no such SOP class',
  281: 'failure: class-instance conflict',
  288: 'failure: missing attribute',
  289: 'failure: missing attribute value',
  290: 'failure: SOP class not supported',
  291: 'failure: no such action',
  292: 'failure: not authorized',
  528: 'failure: duplicate invocation',
  529: 'failure: unrecognized operation',
  530: 'failure: mistyped argument',
  531: 'failure: resource limitation',
  42752: 'failure: refused, out of resources',
  42753: 'failure: refused, out of resources (unable to calculate number of matches)',
  42754: 'failure: refused, out of resources (unable to perform sub-operations)',
  43009: 'failure: refused, move destination unknown',
  43264: 'failure: data set does not match SOP class',
};

/** The class of a status code, PS3.7 C.1 and the service classes of PS3.4. */
export function statusKind(code: number): StatusKind {
  if (code === 0x0000) return 'success';
  if (code === 0xfe00) return 'cancel';
  if (code === 0xff00 || code === 0xff01) return 'pending';
  if ((code & 0xf000) === 0xb000 || code === 0x0001 || code === 0x0107 || code === 0x0116) return 'warning';
  return 'failure';
}

/** What a status code means, by its exact value, then by its range (0xA7xx, 0xA9xx, 0xCxxx). */
export function statusMeaning(code: number): string {
  const exact = MEANINGS[code];
  if (exact) return exact;
  const high = code & 0xff00;
  if (high === 0xa700) return 'failure: refused, out of resources';
  if (high === 0xa900) return 'failure: data set does not match SOP class';
  if ((code & 0xf000) === 0xc000) return 'failure: cannot understand';
  if ((code & 0xf000) === 0xb000) return 'warning';
  if ((code & 0xf000) === 0xa000) return 'failure: refused';
  return `${statusKind(code)}: status 0x${code.toString(16).padStart(4, '0')}`;
}

/** A status as a typed value, with the error details of the response when it has them. */
export function dimseStatus(
  code: number,
  details: { errorComment?: string | undefined; offendingElement?: readonly number[] | undefined; errorId?: number | undefined } = {},
): DimseStatus {
  return {
    code,
    kind: statusKind(code),
    meaning: statusMeaning(code),
    ...(details.errorComment === undefined ? {} : { errorComment: details.errorComment }),
    ...(details.offendingElement === undefined ? {} : { offendingElement: details.offendingElement }),
    ...(details.errorId === undefined ? {} : { errorId: details.errorId }),
  };
}
