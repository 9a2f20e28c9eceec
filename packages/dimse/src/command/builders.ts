import type { ResponseSpec } from '../channel.js';
import type { Command } from './codec.js';
import { CommandField, Priority } from './fields.js';

/** A request as `invoke()` sends it: its Message ID and data set type are the channel's to set. */
export type RequestCommand = Omit<Command, 'messageId' | 'commandDataSetType'>;

/** Sub-operation counts of C-GET and C-MOVE responses (PS3.7 9.3.3.2, 9.3.4.2). */
export interface SubOperationCounts {
  readonly remaining?: number;
  readonly completed: number;
  readonly failed: number;
  readonly warning: number;
}

/** Priority (0000,0700): Medium, High or Low. */
type PriorityValue = number;

/**
 * Builders of every DIMSE request, each asking for what its row of PS3.7 makes mandatory (a
 * C-MOVE-RQ cannot be built without its Move Destination).
 */
export const Requests = {
  /** C-ECHO-RQ (Verification unless another SOP class is given). */
  cEcho: (affectedSopClassUid = '1.2.840.10008.1.1'): RequestCommand => ({ commandField: CommandField.CEchoRq, affectedSopClassUid }),
  /** C-STORE-RQ. */
  cStore: (p: {
    readonly affectedSopClassUid: string;
    readonly affectedSopInstanceUid: string;
    readonly priority?: PriorityValue;
    readonly moveOriginatorApplicationEntityTitle?: string;
    readonly moveOriginatorMessageId?: number;
  }): RequestCommand => ({ commandField: CommandField.CStoreRq, priority: Priority.Medium, ...p }),
  /** C-FIND-RQ; its identifier goes as the data set. */
  cFind: (p: { readonly affectedSopClassUid: string; readonly priority?: PriorityValue }): RequestCommand => ({
    commandField: CommandField.CFindRq,
    priority: Priority.Medium,
    ...p,
  }),
  /** C-GET-RQ; its identifier goes as the data set. */
  cGet: (p: { readonly affectedSopClassUid: string; readonly priority?: PriorityValue }): RequestCommand => ({
    commandField: CommandField.CGetRq,
    priority: Priority.Medium,
    ...p,
  }),
  /** C-MOVE-RQ, with its Move Destination. */
  cMove: (p: {
    readonly affectedSopClassUid: string;
    readonly moveDestination: string;
    readonly priority?: PriorityValue;
  }): RequestCommand => ({
    commandField: CommandField.CMoveRq,
    priority: Priority.Medium,
    ...p,
  }),
  /** N-EVENT-REPORT-RQ. */
  nEventReport: (p: {
    readonly affectedSopClassUid: string;
    readonly affectedSopInstanceUid: string;
    readonly eventTypeId: number;
  }): RequestCommand => ({
    commandField: CommandField.NEventReportRq,
    ...p,
  }),
  /** N-GET-RQ. */
  nGet: (p: {
    readonly requestedSopClassUid: string;
    readonly requestedSopInstanceUid: string;
    readonly attributeIdentifierList?: readonly number[];
  }): RequestCommand => ({ commandField: CommandField.NGetRq, ...p }),
  /** N-SET-RQ; the modification list goes as the data set. */
  nSet: (p: { readonly requestedSopClassUid: string; readonly requestedSopInstanceUid: string }): RequestCommand => ({
    commandField: CommandField.NSetRq,
    ...p,
  }),
  /** N-ACTION-RQ. */
  nAction: (p: {
    readonly requestedSopClassUid: string;
    readonly requestedSopInstanceUid: string;
    readonly actionTypeId: number;
  }): RequestCommand => ({
    commandField: CommandField.NActionRq,
    ...p,
  }),
  /** N-CREATE-RQ. */
  nCreate: (p: { readonly affectedSopClassUid: string; readonly affectedSopInstanceUid?: string }): RequestCommand => ({
    commandField: CommandField.NCreateRq,
    ...p,
  }),
  /** N-DELETE-RQ. */
  nDelete: (p: { readonly requestedSopClassUid: string; readonly requestedSopInstanceUid: string }): RequestCommand => ({
    commandField: CommandField.NDeleteRq,
    ...p,
  }),
} as const;

const counts = (c: SubOperationCounts | undefined) =>
  c === undefined
    ? {}
    : {
        ...(c.remaining === undefined ? {} : { numberOfRemainingSuboperations: c.remaining }),
        numberOfCompletedSuboperations: c.completed,
        numberOfFailedSuboperations: c.failed,
        numberOfWarningSuboperations: c.warning,
      };

/** The error details a response may carry (PS3.7 C: Error Comment, Offending Element, Error ID). */
export interface ErrorDetail {
  readonly errorComment?: string;
  readonly offendingElement?: readonly number[];
  readonly errorId?: number;
}
const detail = (d: ErrorDetail | undefined) => (d === undefined ? {} : d);

/**
 * Builders of the responses a handler gives (the channel adds the command field, Message ID
 * Being Responded To and data set type). Retrieve responses carry their sub-operation counts.
 */
export const Responses = {
  /** C-ECHO-RSP. */
  cEcho: (status: number, d?: ErrorDetail): ResponseSpec => ({ status, fields: detail(d) }),
  /** C-STORE-RSP, naming the SOP instance. */
  cStore: (
    status: number,
    p: { readonly affectedSopClassUid: string; readonly affectedSopInstanceUid: string } & ErrorDetail,
  ): ResponseSpec => ({
    status,
    fields: p,
  }),
  /** C-FIND-RSP; a pending one carries a match as its identifier. */
  cFind: (status: number, p: { readonly identifier?: Uint8Array } & ErrorDetail = {}): ResponseSpec => {
    const { identifier, ...rest } = p;
    return identifier === undefined ? { status, fields: rest } : { status, fields: rest, dataSet: identifier };
  },
  /** C-GET-RSP with its sub-operation counts. */
  cGet: (status: number, c?: SubOperationCounts, p: { readonly identifier?: Uint8Array } & ErrorDetail = {}): ResponseSpec => {
    const { identifier, ...rest } = p;
    const fields = { ...counts(c), ...rest };
    return identifier === undefined ? { status, fields } : { status, fields, dataSet: identifier };
  },
  /** C-MOVE-RSP with its sub-operation counts. */
  cMove: (status: number, c?: SubOperationCounts, p: { readonly identifier?: Uint8Array } & ErrorDetail = {}): ResponseSpec =>
    Responses.cGet(status, c, p),
  /** Any DIMSE-N response. */
  n: (
    status: number,
    p: {
      readonly affectedSopClassUid?: string;
      readonly affectedSopInstanceUid?: string;
      readonly dataSet?: Uint8Array;
    } & ErrorDetail = {},
  ): ResponseSpec => {
    const { dataSet, ...fields } = p;
    return dataSet === undefined ? { status, fields } : { status, fields, dataSet };
  },
} as const;
