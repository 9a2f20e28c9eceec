import { AbortReason, type AbortReasonCode } from './constants.js';

const PDU_NAMES: Readonly<Record<number, string>> = {
  1: 'A-ASSOCIATE-RQ',
  2: 'A-ASSOCIATE-AC',
  3: 'A-ASSOCIATE-RJ',
  4: 'P-DATA-TF',
  5: 'A-RELEASE-RQ',
  6: 'A-RELEASE-RP',
  7: 'A-ABORT',
};

const hex = (n: number) => `0x${n.toString(16).padStart(2, '0')}`;

/** Names a PDU type code for messages and logs: 'A-ASSOCIATE-RQ', or 'PDU type 0x42'. */
export function pduTypeName(type: number): string {
  return PDU_NAMES[type] ?? `PDU type ${hex(type)}`;
}

/** Where and why decoding failed, and the A-ABORT reason it calls for. */
export interface PduDecodeErrorDetails {
  /** The PDU type byte, when the header was read. */
  readonly pduType?: number;
  /** The item or sub-item type byte, when the problem is inside an item. */
  readonly itemType?: number;
  /** Offset from the first byte of the PDU where the problem was found. */
  readonly offset: number;
  /** The A-ABORT reason (PS3.8 9.3.8) that a receiver sends for this problem. */
  readonly abortReason: AbortReasonCode;
}

/**
 * The one error that decoding throws. It names the problem, where it was found and which
 * A-ABORT reason applies, so the association layer can answer the peer as PS3.8 says.
 */
export class PduDecodeError extends Error {
  override readonly name = 'PduDecodeError';
  readonly pduType: number | undefined;
  readonly itemType: number | undefined;
  readonly offset: number;
  readonly abortReason: AbortReasonCode;

  constructor(problem: string, details: PduDecodeErrorDetails) {
    const where = [
      details.pduType === undefined ? 'PDU header' : pduTypeName(details.pduType),
      details.itemType === undefined ? undefined : `item ${hex(details.itemType)}`,
      `offset ${details.offset}`,
    ]
      .filter((part) => part !== undefined)
      .join(', ');
    super(`${problem} (${where}; A-ABORT reason ${details.abortReason}: ${ABORT_REASON_NAMES[details.abortReason]})`);
    this.pduType = details.pduType;
    this.itemType = details.itemType;
    this.offset = details.offset;
    this.abortReason = details.abortReason;
  }
}

const ABORT_REASON_NAMES: Readonly<Record<AbortReasonCode, string>> = {
  [AbortReason.NotSpecified]: 'reason not specified',
  [AbortReason.UnrecognizedPdu]: 'unrecognized PDU',
  [AbortReason.UnexpectedPdu]: 'unexpected PDU',
  [AbortReason.Reserved]: 'reserved',
  [AbortReason.UnrecognizedPduParameter]: 'unrecognized PDU parameter',
  [AbortReason.UnexpectedPduParameter]: 'unexpected PDU parameter',
  [AbortReason.InvalidPduParameterValue]: 'invalid PDU parameter value',
};
