import { describeAbort, describeRejection } from './negotiation/reasons.js';

/** The peer (or its provider) rejected the association: A-ASSOCIATE-RJ, PS3.8 9.3.4. */
export class AssociationRejectedError extends Error {
  override readonly name = 'AssociationRejectedError';
  constructor(
    /** 1 rejected-permanent, 2 rejected-transient. */
    readonly result: number,
    /** 1 service-user, 2 service-provider (ACSE), 3 service-provider (presentation). */
    readonly source: number,
    /** Reason/Diag., by source (see RejectReason). */
    readonly reason: number,
  ) {
    super(`Association rejected: ${describeRejection(result, source, reason)}`);
  }
}

/** The association was aborted: A-ABORT received or sent, or A-P-ABORT (PS3.8 7.3, 7.4). */
export class AssociationAbortedError extends Error {
  override readonly name = 'AssociationAbortedError';
  constructor(
    /** 0 service-user, 2 service-provider. */
    readonly source: number,
    /** A-ABORT reason (PS3.8 9.3.8); not significant for the service-user. */
    readonly reason: number,
    /** What happened, in words. */
    readonly problem: string,
  ) {
    super(`Association aborted: ${problem} (${describeAbort(source, reason)})`);
  }
}

/** Which timer expired. */
export type AssociationTimer = 'connect' | 'acse' | 'artim' | 'idle';

/** A timer of the association expired before what it waits for happened. */
export class AssociationTimeoutError extends Error {
  override readonly name = 'AssociationTimeoutError';
  constructor(
    readonly timer: AssociationTimer,
    readonly milliseconds: number,
    what: string,
  ) {
    super(`${timer} timeout: ${what} within ${milliseconds} ms`);
  }
}

/** The transport connection could not be made, or failed. */
export class ConnectionError extends Error {
  override readonly name = 'ConnectionError';
  constructor(
    message: string,
    /** The system error code (ECONNREFUSED, ...), when there is one. */
    readonly code: string | undefined,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** The association was accepted but none of the proposed presentation contexts was. */
export class NoPresentationContextAcceptedError extends Error {
  override readonly name = 'NoPresentationContextAcceptedError';
  constructor(readonly results: readonly { readonly abstractSyntax: string; readonly result: number }[]) {
    super(
      `The peer accepted the association but none of its ${results.length} presentation contexts: ${results
        .map((r) => `${r.abstractSyntax} ${describeContextResult(r.result)}`)
        .join('; ')}`,
    );
  }
}

/** A local primitive the state machine does not allow in its current state (PS3.8 Table 9-10). */
export class InvalidPrimitiveError extends Error {
  override readonly name = 'InvalidPrimitiveError';
  constructor(
    readonly primitive: string,
    readonly state: string,
  ) {
    super(`${primitive} is not allowed in state ${state}`);
  }
}

function describeContextResult(result: number): string {
  switch (result) {
    case 1:
      return 'rejected by the user';
    case 2:
      return 'rejected, no reason';
    case 3:
      return 'abstract syntax not supported';
    case 4:
      return 'transfer syntaxes not supported';
    default:
      return `result ${result}`;
  }
}
