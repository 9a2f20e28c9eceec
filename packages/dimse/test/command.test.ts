import {
  COMMANDS,
  type Command,
  CommandError,
  CommandField,
  commandName,
  commandSpec,
  decodeCommand,
  encodeCommand,
  FindStatus,
  Requests,
  Responses,
  RetrieveStatus,
  Status,
  StoreStatus,
  sopClassOf,
  statusKind,
  statusMeaning,
} from '@dimse-rx/dimse';
import { describe, expect, it } from 'vitest';

/** One element of group 0000 in Implicit VR Little Endian: tag (2 + 2), length (4), value. */
function el(element: number, value: Buffer): Buffer {
  const header = Buffer.alloc(8);
  header.writeUInt16LE(0x0000, 0);
  header.writeUInt16LE(element, 2);
  header.writeUInt32LE(value.length, 4);
  return Buffer.concat([header, value]);
}
const us = (n: number) => Buffer.from([n & 0xff, n >> 8]);
const ui = (s: string) => Buffer.from(s.length % 2 ? `${s}\0` : s, 'latin1');
const text = (s: string) => Buffer.from(s.length % 2 ? `${s} ` : s, 'latin1');
const at = (...tags: number[]) =>
  Buffer.concat(tags.map((t) => Buffer.from([(t >> 16) & 0xff, (t >> 24) & 0xff, t & 0xff, (t >> 8) & 0xff])));
/** A command set: (0000,0000) group length UL, then the elements. */
function commandSet(...elements: Buffer[]): Buffer {
  const body = Buffer.concat(elements);
  const length = Buffer.alloc(4);
  length.writeUInt32LE(body.length);
  return Buffer.concat([el(0x0000, length), body]);
}

const CT = '1.2.840.10008.5.1.4.1.1.2';
const INSTANCE = '1.2.3.4.5.6.7.8.9';
const FIND = '1.2.840.10008.5.1.4.1.2.2.1';
const MPPS = '1.2.840.10008.3.1.2.3.3';

/** A request and a response of every DIMSE-C and DIMSE-N message type (PS3.7 9.3 and 10.3). */
const vectors: { name: string; command: Command; bytes: Buffer }[] = [
  {
    name: 'C-ECHO-RQ',
    command: { commandField: 0x0030, messageId: 1, affectedSopClassUid: '1.2.840.10008.1.1', commandDataSetType: 0x0101 },
    bytes: commandSet(el(0x0002, ui('1.2.840.10008.1.1')), el(0x0100, us(0x0030)), el(0x0110, us(1)), el(0x0800, us(0x0101))),
  },
  {
    name: 'C-ECHO-RSP',
    command: {
      commandField: 0x8030,
      messageIdBeingRespondedTo: 1,
      affectedSopClassUid: '1.2.840.10008.1.1',
      commandDataSetType: 0x0101,
      status: 0,
    },
    bytes: commandSet(
      el(0x0002, ui('1.2.840.10008.1.1')),
      el(0x0100, us(0x8030)),
      el(0x0120, us(1)),
      el(0x0800, us(0x0101)),
      el(0x0900, us(0)),
    ),
  },
  {
    name: 'C-STORE-RQ with move originator',
    command: {
      commandField: 0x0001,
      messageId: 7,
      affectedSopClassUid: CT,
      affectedSopInstanceUid: INSTANCE,
      priority: 0,
      commandDataSetType: 0x0001,
      moveOriginatorApplicationEntityTitle: 'MOVESCU',
      moveOriginatorMessageId: 3,
    },
    bytes: commandSet(
      el(0x0002, ui(CT)),
      el(0x0100, us(0x0001)),
      el(0x0110, us(7)),
      el(0x0700, us(0)),
      el(0x0800, us(0x0001)),
      el(0x1000, ui(INSTANCE)),
      el(0x1030, text('MOVESCU')),
      el(0x1031, us(3)),
    ),
  },
  {
    name: 'C-STORE-RSP with error details',
    command: {
      commandField: 0x8001,
      messageIdBeingRespondedTo: 7,
      affectedSopClassUid: CT,
      affectedSopInstanceUid: INSTANCE,
      commandDataSetType: 0x0101,
      status: 0xa900,
      offendingElement: [0x00100010, 0x7fe00010],
      errorComment: 'bad',
      errorId: 2,
    },
    bytes: commandSet(
      el(0x0002, ui(CT)),
      el(0x0100, us(0x8001)),
      el(0x0120, us(7)),
      el(0x0800, us(0x0101)),
      el(0x0900, us(0xa900)),
      el(0x0901, at(0x00100010, 0x7fe00010)),
      el(0x0902, text('bad')),
      el(0x0903, us(2)),
      el(0x1000, ui(INSTANCE)),
    ),
  },
  {
    name: 'C-FIND-RQ',
    command: { commandField: 0x0020, messageId: 2, affectedSopClassUid: FIND, priority: 2, commandDataSetType: 0x0001 },
    bytes: commandSet(el(0x0002, ui(FIND)), el(0x0100, us(0x0020)), el(0x0110, us(2)), el(0x0700, us(2)), el(0x0800, us(0x0001))),
  },
  {
    name: 'C-FIND-RSP pending',
    command: { commandField: 0x8020, messageIdBeingRespondedTo: 2, affectedSopClassUid: FIND, commandDataSetType: 0x0001, status: 0xff00 },
    bytes: commandSet(el(0x0002, ui(FIND)), el(0x0100, us(0x8020)), el(0x0120, us(2)), el(0x0800, us(0x0001)), el(0x0900, us(0xff00))),
  },
  {
    name: 'C-CANCEL-RQ',
    command: { commandField: 0x0fff, messageIdBeingRespondedTo: 2, commandDataSetType: 0x0101 },
    bytes: commandSet(el(0x0100, us(0x0fff)), el(0x0120, us(2)), el(0x0800, us(0x0101))),
  },
  {
    name: 'C-GET-RQ',
    command: { commandField: 0x0010, messageId: 4, affectedSopClassUid: FIND, priority: 0, commandDataSetType: 0x0001 },
    bytes: commandSet(el(0x0002, ui(FIND)), el(0x0100, us(0x0010)), el(0x0110, us(4)), el(0x0700, us(0)), el(0x0800, us(0x0001))),
  },
  {
    name: 'C-GET-RSP with sub-operation counts',
    command: {
      commandField: 0x8010,
      messageIdBeingRespondedTo: 4,
      commandDataSetType: 0x0101,
      status: 0xff00,
      numberOfRemainingSuboperations: 5,
      numberOfCompletedSuboperations: 3,
      numberOfFailedSuboperations: 1,
      numberOfWarningSuboperations: 0,
    },
    bytes: commandSet(
      el(0x0100, us(0x8010)),
      el(0x0120, us(4)),
      el(0x0800, us(0x0101)),
      el(0x0900, us(0xff00)),
      el(0x1020, us(5)),
      el(0x1021, us(3)),
      el(0x1022, us(1)),
      el(0x1023, us(0)),
    ),
  },
  {
    name: 'C-MOVE-RQ',
    command: {
      commandField: 0x0021,
      messageId: 5,
      affectedSopClassUid: FIND,
      priority: 1,
      moveDestination: 'STORESCP',
      commandDataSetType: 0x0001,
    },
    bytes: commandSet(
      el(0x0002, ui(FIND)),
      el(0x0100, us(0x0021)),
      el(0x0110, us(5)),
      el(0x0600, text('STORESCP')),
      el(0x0700, us(1)),
      el(0x0800, us(0x0001)),
    ),
  },
  {
    name: 'C-MOVE-RSP',
    command: {
      commandField: 0x8021,
      messageIdBeingRespondedTo: 5,
      commandDataSetType: 0x0101,
      status: 0xb000,
      numberOfFailedSuboperations: 2,
    },
    bytes: commandSet(el(0x0100, us(0x8021)), el(0x0120, us(5)), el(0x0800, us(0x0101)), el(0x0900, us(0xb000)), el(0x1022, us(2))),
  },
  {
    name: 'N-EVENT-REPORT-RQ',
    command: {
      commandField: 0x0100,
      messageId: 9,
      affectedSopClassUid: MPPS,
      affectedSopInstanceUid: INSTANCE,
      eventTypeId: 1,
      commandDataSetType: 0x0001,
    },
    bytes: commandSet(
      el(0x0002, ui(MPPS)),
      el(0x0100, us(0x0100)),
      el(0x0110, us(9)),
      el(0x0800, us(0x0001)),
      el(0x1000, ui(INSTANCE)),
      el(0x1002, us(1)),
    ),
  },
  {
    name: 'N-EVENT-REPORT-RSP',
    command: { commandField: 0x8100, messageIdBeingRespondedTo: 9, commandDataSetType: 0x0101, status: 0 },
    bytes: commandSet(el(0x0100, us(0x8100)), el(0x0120, us(9)), el(0x0800, us(0x0101)), el(0x0900, us(0))),
  },
  {
    name: 'N-GET-RQ with an attribute identifier list',
    command: {
      commandField: 0x0110,
      messageId: 10,
      requestedSopClassUid: MPPS,
      requestedSopInstanceUid: INSTANCE,
      attributeIdentifierList: [0x00100010, 0x00100020],
      commandDataSetType: 0x0101,
    },
    bytes: commandSet(
      el(0x0003, ui(MPPS)),
      el(0x0100, us(0x0110)),
      el(0x0110, us(10)),
      el(0x0800, us(0x0101)),
      el(0x1001, ui(INSTANCE)),
      el(0x1005, at(0x00100010, 0x00100020)),
    ),
  },
  {
    name: 'N-GET-RSP',
    command: { commandField: 0x8110, messageIdBeingRespondedTo: 10, commandDataSetType: 0x0001, status: 0, affectedSopClassUid: MPPS },
    bytes: commandSet(el(0x0002, ui(MPPS)), el(0x0100, us(0x8110)), el(0x0120, us(10)), el(0x0800, us(0x0001)), el(0x0900, us(0))),
  },
  {
    name: 'N-SET-RQ',
    command: {
      commandField: 0x0120,
      messageId: 11,
      requestedSopClassUid: MPPS,
      requestedSopInstanceUid: INSTANCE,
      commandDataSetType: 0x0001,
    },
    bytes: commandSet(el(0x0003, ui(MPPS)), el(0x0100, us(0x0120)), el(0x0110, us(11)), el(0x0800, us(0x0001)), el(0x1001, ui(INSTANCE))),
  },
  {
    name: 'N-SET-RSP',
    command: { commandField: 0x8120, messageIdBeingRespondedTo: 11, commandDataSetType: 0x0101, status: 0x0106 },
    bytes: commandSet(el(0x0100, us(0x8120)), el(0x0120, us(11)), el(0x0800, us(0x0101)), el(0x0900, us(0x0106))),
  },
  {
    name: 'N-ACTION-RQ',
    command: {
      commandField: 0x0130,
      messageId: 12,
      requestedSopClassUid: MPPS,
      requestedSopInstanceUid: INSTANCE,
      actionTypeId: 1,
      commandDataSetType: 0x0001,
    },
    bytes: commandSet(
      el(0x0003, ui(MPPS)),
      el(0x0100, us(0x0130)),
      el(0x0110, us(12)),
      el(0x0800, us(0x0001)),
      el(0x1001, ui(INSTANCE)),
      el(0x1008, us(1)),
    ),
  },
  {
    name: 'N-ACTION-RSP',
    command: { commandField: 0x8130, messageIdBeingRespondedTo: 12, commandDataSetType: 0x0101, status: 0, actionTypeId: 1 },
    bytes: commandSet(el(0x0100, us(0x8130)), el(0x0120, us(12)), el(0x0800, us(0x0101)), el(0x0900, us(0)), el(0x1008, us(1))),
  },
  {
    name: 'N-CREATE-RQ',
    command: {
      commandField: 0x0140,
      messageId: 13,
      affectedSopClassUid: MPPS,
      affectedSopInstanceUid: INSTANCE,
      commandDataSetType: 0x0001,
    },
    bytes: commandSet(el(0x0002, ui(MPPS)), el(0x0100, us(0x0140)), el(0x0110, us(13)), el(0x0800, us(0x0001)), el(0x1000, ui(INSTANCE))),
  },
  {
    name: 'N-CREATE-RSP',
    command: {
      commandField: 0x8140,
      messageIdBeingRespondedTo: 13,
      commandDataSetType: 0x0101,
      status: 0,
      affectedSopInstanceUid: INSTANCE,
    },
    bytes: commandSet(el(0x0100, us(0x8140)), el(0x0120, us(13)), el(0x0800, us(0x0101)), el(0x0900, us(0)), el(0x1000, ui(INSTANCE))),
  },
  {
    name: 'N-DELETE-RQ',
    command: {
      commandField: 0x0150,
      messageId: 14,
      requestedSopClassUid: MPPS,
      requestedSopInstanceUid: INSTANCE,
      commandDataSetType: 0x0101,
    },
    bytes: commandSet(el(0x0003, ui(MPPS)), el(0x0100, us(0x0150)), el(0x0110, us(14)), el(0x0800, us(0x0101)), el(0x1001, ui(INSTANCE))),
  },
  {
    name: 'N-DELETE-RSP',
    command: { commandField: 0x8150, messageIdBeingRespondedTo: 14, commandDataSetType: 0x0101, status: 0x0112 },
    bytes: commandSet(el(0x0100, us(0x8150)), el(0x0120, us(14)), el(0x0800, us(0x0101)), el(0x0900, us(0x0112))),
  },
];

describe('command sets of every DIMSE message type', () => {
  it('covers every command field PS3.7 defines', () => {
    expect(new Set(vectors.map((v) => v.command.commandField))).toEqual(new Set(Object.values(CommandField)));
  });

  for (const v of vectors) {
    it(`encodes ${v.name} in Implicit VR Little Endian with its group length`, () => {
      expect(encodeCommand(v.command).toString('hex')).toBe(v.bytes.toString('hex'));
    });
    it(`decodes ${v.name}`, () => {
      expect(decodeCommand(v.bytes)).toEqual(v.command);
    });
  }

  it('names command fields as the standard does', () => {
    expect(commandName(0x0001)).toBe('C-STORE-RQ');
    expect(commandName(0x8021)).toBe('C-MOVE-RSP');
    expect(commandName(0x0100)).toBe('N-EVENT-REPORT-RQ');
    expect(commandName(0x0fff)).toBe('C-CANCEL-RQ');
    expect(commandName(0x0042)).toBe('command 0x0042');
  });

  it.each([
    [
      'a C-STORE-RQ without its SOP instance',
      { commandField: 0x0001, messageId: 1, affectedSopClassUid: CT, priority: 0, commandDataSetType: 1 },
      /C-STORE-RQ lacks affectedSopInstanceUid/,
    ],
    [
      'a C-MOVE-RQ without destination',
      { commandField: 0x0021, messageId: 1, affectedSopClassUid: FIND, priority: 0, commandDataSetType: 1 },
      /C-MOVE-RQ lacks moveDestination/,
    ],
    [
      'a response without status',
      { commandField: 0x8030, messageIdBeingRespondedTo: 1, commandDataSetType: 0x0101 },
      /C-ECHO-RSP lacks status/,
    ],
    ['an unknown command field', { commandField: 0x0042, messageId: 1, commandDataSetType: 0x0101 }, /Unrecognized command 0x0042/],
    [
      'a C-ECHO-RQ announcing a data set',
      { commandField: 0x0030, messageId: 1, affectedSopClassUid: '1.2', commandDataSetType: 1 },
      /C-ECHO-RQ cannot have a data set/,
    ],
    [
      'a C-STORE-RQ without data set',
      { commandField: 0x0001, messageId: 1, affectedSopClassUid: CT, affectedSopInstanceUid: '1', priority: 0, commandDataSetType: 0x0101 },
      /C-STORE-RQ needs a data set/,
    ],
  ])('refuses %s with CommandError carrying the Message ID', (_, command, message) => {
    const bytes = encodeCommand(command as Command);
    const error = (() => {
      try {
        decodeCommand(bytes);
      } catch (e) {
        return e;
      }
      return undefined;
    })();
    expect(error).toBeInstanceOf(CommandError);
    expect((error as Error).message).toMatch(message);
    expect((error as CommandError).messageId).toBe((command as Command).messageId);
  });

  it('refuses bytes that are not a command set', () => {
    expect(() => decodeCommand(Buffer.from([0, 0, 0, 0, 4, 0]))).toThrow(/truncated at byte 0/);
    expect(() => decodeCommand(Buffer.from([0, 0, 0, 1, 200, 0, 0, 0, 1]))).toThrow(/runs past the command set/);
    expect(() => decodeCommand(commandSet(el(0x0100, us(0x30)), Buffer.from([8, 0, 0x10, 0, 0, 0, 0, 0])))).toThrow(/outside group 0000/);
  });

  it('skips retired and unknown elements of group 0000', () => {
    const bytes = commandSet(
      el(0x0100, us(0x8030)),
      el(0x0120, us(1)),
      el(0x0800, us(0x0101)),
      el(0x0900, us(0)),
      el(0x4000, Buffer.from('XY')),
    );
    expect(decodeCommand(bytes)).toEqual({ commandField: 0x8030, messageIdBeingRespondedTo: 1, commandDataSetType: 0x0101, status: 0 });
  });
});

describe('status meanings', () => {
  it.each([
    [0x0000, 'success', 'success'],
    [0xff00, 'pending', 'pending'],
    [0xfe00, 'cancel', 'cancelled'],
    [0xb000, 'warning', 'warning'],
    [0xa700, 'failure', 'failure: refused, out of resources'],
    [0xa7f3, 'failure', 'failure: refused, out of resources'],
    [0xa9aa, 'failure', 'failure: data set does not match SOP class'],
    [0xc123, 'failure', 'failure: cannot understand'],
    [0x0122, 'failure', 'failure: SOP class not supported'],
    [0x0001, 'warning', 'warning: requested optional attributes are not supported'],
  ])('classes 0x%s', (code, kind, meaning) => {
    expect(statusKind(code)).toBe(kind);
    expect(statusMeaning(code)).toBe(meaning);
  });

  it.each([
    [0xb000, 'C-STORE', 'warning: coercion of data elements'],
    [0xb000, 'C-GET', 'warning: sub-operations complete, one or more failures or warnings'],
    [0xb000, 'C-MOVE', 'warning: sub-operations complete, one or more failures or warnings'],
    [0xb007, 'C-STORE', 'warning: data set does not match SOP class'],
    [0xa900, 'C-STORE', 'failure: data set does not match SOP class'],
    [0xa900, 'C-FIND', 'failure: identifier does not match SOP class'],
    [0xa9aa, 'C-FIND', 'failure: identifier does not match SOP class'],
    [0xc000, 'C-STORE', 'failure: cannot understand'],
    [0xc001, 'C-FIND', 'failure: unable to process'],
    [0xff00, 'C-FIND', 'pending: matches are continuing'],
    [0xff01, 'C-FIND', 'pending: matches are continuing, optional keys not supported'],
    [0xff00, 'C-GET', 'pending: sub-operations are continuing'],
    [0xa801, 'C-MOVE', 'failure: refused, move destination unknown'],
    [0xa702, 'C-GET', 'failure: refused, out of resources (unable to perform sub-operations)'],
    [0x0122, 'C-FIND', 'failure: SOP class not supported'],
  ] as const)('0x%s means for %s: %s', (code, service, meaning) => {
    expect(statusMeaning(code, service)).toBe(meaning);
  });

  it('names each code once per service: no two names of one table share a code', () => {
    for (const table of [Status, StoreStatus, FindStatus, RetrieveStatus]) {
      const codes = Object.values(table);
      expect(new Set(codes).size).toBe(codes.length);
    }
    expect(StoreStatus.CoercionOfDataElements).toBe(RetrieveStatus.SubOperationsCompleteWithFailures);
    expect(statusMeaning(StoreStatus.CoercionOfDataElements, 'C-STORE')).not.toBe(
      statusMeaning(RetrieveStatus.SubOperationsCompleteWithFailures, 'C-MOVE'),
    );
  });
});

describe('the command table', () => {
  it('has one row per DIMSE command of PS3.7, requests paired with their responses', () => {
    expect(COMMANDS).toHaveLength(23);
    expect(new Set(COMMANDS.map((row) => row.field)).size).toBe(23);
    for (const row of COMMANDS.filter((r) => r.kind === 'request' && r.response !== undefined)) {
      const response = commandSpec(row.response)!;
      expect(response).toMatchObject({ kind: 'response', service: row.service, name: `${row.service}-RSP` });
      expect(response.field).toBe(row.field | 0x8000);
    }
    expect(COMMANDS.filter((r) => r.cancelable).map((r) => r.name)).toEqual(['C-FIND-RQ', 'C-GET-RQ', 'C-MOVE-RQ']);
    expect(commandName(CommandField.NEventReportRsp)).toBe('N-EVENT-REPORT-RSP');
  });

  it('names the SOP class by the UID each request uses, and the status for "not supported" by family', () => {
    const requests = COMMANDS.filter((r) => r.kind === 'request' && r.field !== CommandField.CCancelRq);
    expect(Object.fromEntries(requests.map((r) => [r.name, [r.sopClass, r.notSupported.toString(16)]]))).toEqual({
      'C-STORE-RQ': ['affectedSopClassUid', '122'],
      'C-FIND-RQ': ['affectedSopClassUid', '122'],
      'C-GET-RQ': ['affectedSopClassUid', '122'],
      'C-MOVE-RQ': ['affectedSopClassUid', '122'],
      'C-ECHO-RQ': ['affectedSopClassUid', '122'],
      'N-EVENT-REPORT-RQ': ['affectedSopClassUid', '118'],
      'N-GET-RQ': ['requestedSopClassUid', '118'],
      'N-SET-RQ': ['requestedSopClassUid', '118'],
      'N-ACTION-RQ': ['requestedSopClassUid', '118'],
      'N-CREATE-RQ': ['affectedSopClassUid', '118'],
      'N-DELETE-RQ': ['requestedSopClassUid', '118'],
    });
    expect(sopClassOf({ commandField: CommandField.NGetRq, requestedSopClassUid: '1.2', affectedSopClassUid: '9.9' })).toBe('1.2');
    expect(commandSpec(CommandField.CStoreRq)!.handlerFailure).toBe(StoreStatus.OutOfResources);
    expect(commandSpec(CommandField.CFindRq)!.handlerFailure).toBe(FindStatus.UnableToProcess);
    expect(commandSpec(CommandField.NActionRq)!.handlerFailure).toBe(Status.ProcessingFailure);
  });

  it('drives the codec: a data set where the table forbids one, or none where it requires one, is refused', () => {
    for (const row of COMMANDS) {
      const fields = Object.fromEntries(row.required.map((f) => [f, f.endsWith('Uid') || f === 'moveDestination' ? '1.2' : 1]));
      const bytes = (dataSetType: number) =>
        encodeCommand({ ...fields, commandField: row.field, commandDataSetType: dataSetType } as Command);
      if (row.dataSet === 'required') expect(() => decodeCommand(bytes(0x0101))).toThrow(/needs a data set/);
      else expect(decodeCommand(bytes(0x0101)).commandField).toBe(row.field);
      if (row.dataSet === 'forbidden') expect(() => decodeCommand(bytes(1))).toThrow(/cannot have a data set/);
      else expect(decodeCommand(bytes(1)).commandField).toBe(row.field);
      if (row.required.length > 0)
        expect(() => decodeCommand(encodeCommand({ commandField: row.field, commandDataSetType: 0x0101 }))).toThrow(/lacks/);
    }
  });

  it('builds requests and responses with what their rows require', () => {
    expect(Requests.cMove({ affectedSopClassUid: '1.2', moveDestination: 'ARCHIVE' })).toEqual({
      commandField: CommandField.CMoveRq,
      affectedSopClassUid: '1.2',
      moveDestination: 'ARCHIVE',
      priority: 0,
    });
    // @ts-expect-error: a C-MOVE-RQ cannot be built without its Move Destination.
    Requests.cMove({ affectedSopClassUid: '1.2' });
    expect(Requests.cEcho()).toEqual({ commandField: CommandField.CEchoRq, affectedSopClassUid: '1.2.840.10008.1.1' });
    expect(Responses.cGet(0xff00, { remaining: 3, completed: 1, failed: 0, warning: 2 })).toEqual({
      status: 0xff00,
      fields: {
        numberOfRemainingSuboperations: 3,
        numberOfCompletedSuboperations: 1,
        numberOfFailedSuboperations: 0,
        numberOfWarningSuboperations: 2,
      },
    });
  });
});
