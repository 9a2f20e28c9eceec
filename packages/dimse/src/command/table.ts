import type { Command } from './codec.js';
import { CommandField } from './fields.js';
import { type DimseService, FindStatus, RetrieveStatus, Status, StoreStatus } from './status.js';

/** Whether a message carries a data set: always, never, or as the case may be (PS3.7 tables 9.3-x, 10.3-x). */
export type DataSetRule = 'required' | 'allowed' | 'forbidden';

/** One DIMSE command, request or response, as PS3.7 9.3 and 10.3 define it. */
export interface CommandSpec {
  readonly field: number;
  /** The standard's name: 'C-STORE-RQ'. */
  readonly name: string;
  /** The operation it belongs to: 'C-STORE'. */
  readonly service: DimseService;
  readonly family: 'DIMSE-C' | 'DIMSE-N';
  readonly kind: 'request' | 'response';
  /** The response's command field, for a request that has one (C-CANCEL has none). */
  readonly response?: number;
  /** Which UID names the SOP class the message is about (requests and C-CANCEL aside). */
  readonly sopClass?: 'affectedSopClassUid' | 'requestedSopClassUid';
  /** Fields the message must carry (M in the standard's tables). */
  readonly required: readonly (keyof Command)[];
  readonly dataSet: DataSetRule;
  /** A C-CANCEL-RQ may end it (PS3.7 9.3.2.3, 9.3.3.3, 9.3.4.3). */
  readonly cancelable: boolean;
  /** What a request is answered when nothing on this side performs it for its SOP class. */
  readonly notSupported: number;
  /** What a request is answered when the handler performing it fails. */
  readonly handlerFailure: number;
}

const RSP: readonly (keyof Command)[] = ['messageIdBeingRespondedTo', 'status'];

type Row = Omit<CommandSpec, 'name' | 'service' | 'kind' | 'family' | 'field' | 'response' | 'notSupported' | 'handlerFailure'> & {
  readonly handlerFailure?: number;
};

/** A request and its response from one description; DIMSE-N rows get 0x0118 and processing failure. */
function pair(service: DimseService, request: number, response: number | undefined, row: Row, responseDataSet: DataSetRule): CommandSpec[] {
  const family = service.startsWith('N-') ? 'DIMSE-N' : 'DIMSE-C';
  const notSupported = family === 'DIMSE-C' ? Status.SopClassNotSupported : Status.NoSuchSopClass;
  const handlerFailure = row.handlerFailure ?? Status.ProcessingFailure;
  const rows: CommandSpec[] = [
    {
      ...row,
      field: request,
      name: `${service}-RQ`,
      service,
      family,
      kind: 'request',
      ...(response === undefined ? {} : { response }),
      notSupported,
      handlerFailure,
    },
  ];
  if (response !== undefined)
    rows.push({
      field: response,
      name: `${service}-RSP`,
      service,
      family,
      kind: 'response',
      required: RSP,
      dataSet: responseDataSet,
      cancelable: false,
      notSupported,
      handlerFailure,
    });
  return rows;
}

const AFFECTED = 'affectedSopClassUid' as const;
const REQUESTED = 'requestedSopClassUid' as const;

/**
 * Every DIMSE command, one row each (PS3.7 Tables 9.3-1 to 9.3-12 and 10.3-1 to 10.3-12, and
 * the status codes of PS3.7 C and PS3.4). The codec's checks, the channel's routing and refusals
 * and the invoking side's cancel all read it.
 */
export const COMMANDS: readonly CommandSpec[] = [
  ...pair(
    'C-STORE',
    CommandField.CStoreRq,
    CommandField.CStoreRsp,
    {
      sopClass: AFFECTED,
      required: ['messageId', 'affectedSopClassUid', 'affectedSopInstanceUid', 'priority'],
      dataSet: 'required',
      cancelable: false,
      handlerFailure: StoreStatus.OutOfResources,
    },
    'forbidden',
  ),
  ...pair(
    'C-FIND',
    CommandField.CFindRq,
    CommandField.CFindRsp,
    {
      sopClass: AFFECTED,
      required: ['messageId', 'affectedSopClassUid', 'priority'],
      dataSet: 'required',
      cancelable: true,
      handlerFailure: FindStatus.UnableToProcess,
    },
    'allowed',
  ),
  ...pair(
    'C-GET',
    CommandField.CGetRq,
    CommandField.CGetRsp,
    {
      sopClass: AFFECTED,
      required: ['messageId', 'affectedSopClassUid', 'priority'],
      dataSet: 'required',
      cancelable: true,
      handlerFailure: RetrieveStatus.UnableToProcess,
    },
    'allowed',
  ),
  ...pair(
    'C-MOVE',
    CommandField.CMoveRq,
    CommandField.CMoveRsp,
    {
      sopClass: AFFECTED,
      required: ['messageId', 'affectedSopClassUid', 'priority', 'moveDestination'],
      dataSet: 'required',
      cancelable: true,
      handlerFailure: RetrieveStatus.UnableToProcess,
    },
    'allowed',
  ),
  ...pair(
    'C-ECHO',
    CommandField.CEchoRq,
    CommandField.CEchoRsp,
    { sopClass: AFFECTED, required: ['messageId', 'affectedSopClassUid'], dataSet: 'forbidden', cancelable: false },
    'forbidden',
  ),
  ...pair(
    'C-CANCEL',
    CommandField.CCancelRq,
    undefined,
    { required: ['messageIdBeingRespondedTo'], dataSet: 'forbidden', cancelable: false },
    'forbidden',
  ),
  ...pair(
    'N-EVENT-REPORT',
    CommandField.NEventReportRq,
    CommandField.NEventReportRsp,
    {
      sopClass: AFFECTED,
      required: ['messageId', 'affectedSopClassUid', 'affectedSopInstanceUid', 'eventTypeId'],
      dataSet: 'allowed',
      cancelable: false,
    },
    'allowed',
  ),
  ...pair(
    'N-GET',
    CommandField.NGetRq,
    CommandField.NGetRsp,
    {
      sopClass: REQUESTED,
      required: ['messageId', 'requestedSopClassUid', 'requestedSopInstanceUid'],
      dataSet: 'forbidden',
      cancelable: false,
    },
    'allowed',
  ),
  ...pair(
    'N-SET',
    CommandField.NSetRq,
    CommandField.NSetRsp,
    {
      sopClass: REQUESTED,
      required: ['messageId', 'requestedSopClassUid', 'requestedSopInstanceUid'],
      dataSet: 'required',
      cancelable: false,
    },
    'allowed',
  ),
  ...pair(
    'N-ACTION',
    CommandField.NActionRq,
    CommandField.NActionRsp,
    {
      sopClass: REQUESTED,
      required: ['messageId', 'requestedSopClassUid', 'requestedSopInstanceUid', 'actionTypeId'],
      dataSet: 'allowed',
      cancelable: false,
    },
    'allowed',
  ),
  ...pair(
    'N-CREATE',
    CommandField.NCreateRq,
    CommandField.NCreateRsp,
    { sopClass: AFFECTED, required: ['messageId', 'affectedSopClassUid'], dataSet: 'allowed', cancelable: false },
    'allowed',
  ),
  ...pair(
    'N-DELETE',
    CommandField.NDeleteRq,
    CommandField.NDeleteRsp,
    {
      sopClass: REQUESTED,
      required: ['messageId', 'requestedSopClassUid', 'requestedSopInstanceUid'],
      dataSet: 'forbidden',
      cancelable: false,
    },
    'forbidden',
  ),
];

const BY_FIELD: ReadonlyMap<number, CommandSpec> = new Map(COMMANDS.map((row) => [row.field, row]));

/** The table's row of a command field, or undefined for one PS3.7 does not define. */
export const commandSpec = (field: number | undefined): CommandSpec | undefined => (field === undefined ? undefined : BY_FIELD.get(field));

/** The SOP class a request names, by the UID its row says (Affected or Requested). */
export function sopClassOf(command: Partial<Command>): string | undefined {
  const row = commandSpec(command.commandField);
  return row?.sopClass === undefined ? undefined : command[row.sopClass];
}

/** The standard's name of a command field ('C-STORE-RQ'), or a hex number for unknown ones. */
export function commandName(field: number | undefined): string {
  if (field === undefined) return 'a command without Command Field';
  return BY_FIELD.get(field)?.name ?? `command 0x${field.toString(16).padStart(4, '0')}`;
}
