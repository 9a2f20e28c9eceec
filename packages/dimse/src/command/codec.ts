import { CommandTag, NO_DATA_SET } from './fields.js';
import { commandName, commandSpec } from './table.js';

/**
 * A command set (PS3.7 E.1): every field of every DIMSE-C and DIMSE-N message. Which fields a
 * message needs is checked by `checkCommand`; the codec itself writes what is given.
 */
export interface Command {
  readonly commandField: number;
  readonly messageId?: number;
  readonly messageIdBeingRespondedTo?: number;
  readonly affectedSopClassUid?: string;
  readonly requestedSopClassUid?: string;
  readonly affectedSopInstanceUid?: string;
  readonly requestedSopInstanceUid?: string;
  readonly moveDestination?: string;
  readonly priority?: number;
  /** 0101H: no data set follows; any other value: one does. */
  readonly commandDataSetType: number;
  readonly status?: number;
  readonly offendingElement?: readonly number[];
  readonly errorComment?: string;
  readonly errorId?: number;
  readonly eventTypeId?: number;
  readonly attributeIdentifierList?: readonly number[];
  readonly actionTypeId?: number;
  readonly numberOfRemainingSuboperations?: number;
  readonly numberOfCompletedSuboperations?: number;
  readonly numberOfFailedSuboperations?: number;
  readonly numberOfWarningSuboperations?: number;
  readonly moveOriginatorApplicationEntityTitle?: string;
  readonly moveOriginatorMessageId?: number;
}

type FieldName = Exclude<keyof Command, 'commandField' | 'commandDataSetType'> | 'commandField' | 'commandDataSetType';
type Vr = 'UI' | 'US' | 'AE' | 'LO' | 'AT';

/** The fields in tag order, with their VR (PS3.7 E.1). */
const FIELDS: readonly (readonly [FieldName, number, Vr])[] = [
  ['affectedSopClassUid', CommandTag.AffectedSopClassUid, 'UI'],
  ['requestedSopClassUid', CommandTag.RequestedSopClassUid, 'UI'],
  ['commandField', CommandTag.CommandField, 'US'],
  ['messageId', CommandTag.MessageId, 'US'],
  ['messageIdBeingRespondedTo', CommandTag.MessageIdBeingRespondedTo, 'US'],
  ['moveDestination', CommandTag.MoveDestination, 'AE'],
  ['priority', CommandTag.Priority, 'US'],
  ['commandDataSetType', CommandTag.CommandDataSetType, 'US'],
  ['status', CommandTag.Status, 'US'],
  ['offendingElement', CommandTag.OffendingElement, 'AT'],
  ['errorComment', CommandTag.ErrorComment, 'LO'],
  ['errorId', CommandTag.ErrorId, 'US'],
  ['affectedSopInstanceUid', CommandTag.AffectedSopInstanceUid, 'UI'],
  ['requestedSopInstanceUid', CommandTag.RequestedSopInstanceUid, 'UI'],
  ['eventTypeId', CommandTag.EventTypeId, 'US'],
  ['attributeIdentifierList', CommandTag.AttributeIdentifierList, 'AT'],
  ['actionTypeId', CommandTag.ActionTypeId, 'US'],
  ['numberOfRemainingSuboperations', CommandTag.NumberOfRemainingSuboperations, 'US'],
  ['numberOfCompletedSuboperations', CommandTag.NumberOfCompletedSuboperations, 'US'],
  ['numberOfFailedSuboperations', CommandTag.NumberOfFailedSuboperations, 'US'],
  ['numberOfWarningSuboperations', CommandTag.NumberOfWarningSuboperations, 'US'],
  ['moveOriginatorApplicationEntityTitle', CommandTag.MoveOriginatorApplicationEntityTitle, 'AE'],
  ['moveOriginatorMessageId', CommandTag.MoveOriginatorMessageId, 'US'],
];
const BY_TAG = new Map(FIELDS.map(([name, tag, vr]) => [tag, [name, vr] as const]));
const BY_NAME: ReadonlyMap<string, readonly [FieldName, number, Vr]> = new Map(FIELDS.map((field) => [field[0], field]));

/** A command set that cannot be read or lacks what its message type requires. */
export class CommandError extends Error {
  override readonly name = 'CommandError';
  constructor(
    message: string,
    /** The Message ID of the request, when it could be read: the peer can then get a failure response. */
    readonly messageId?: number,
    /**
     * What is wrong: a field the message type requires is missing (or the type is unknown), or
     * only the data set is where it should not be (or missing where it should be).
     */
    readonly problem: 'fields' | 'dataSet' = 'fields',
  ) {
    super(message);
  }
}

/** Length of one field's value in Implicit VR Little Endian, padded to even length (PS3.5 6.2). */
function valueLength(vr: Vr, value: unknown, name: string): number {
  switch (vr) {
    case 'US': {
      const n = value as number;
      if (!Number.isInteger(n) || n < 0 || n > 0xffff) throw new RangeError(`${name} must be an integer 0..65535, got ${n}`);
      return 2;
    }
    case 'AT':
      return 4 * (value as readonly number[]).length;
    default: {
      // Latin-1: one byte per character.
      const length = (value as string).length;
      return length + (length % 2);
    }
  }
}

/** Writes one field's value at `o`; returns the offset after it. */
function writeValue(out: Buffer, o: number, vr: Vr, value: unknown, length: number): number {
  switch (vr) {
    case 'US':
      out.writeUInt16LE(value as number, o);
      return o + 2;
    case 'AT': {
      for (const tag of value as readonly number[]) {
        out.writeUInt16LE(tag >>> 16, o);
        out.writeUInt16LE(tag & 0xffff, o + 2);
        o += 4;
      }
      return o;
    }
    default: {
      const written = out.write(value as string, o, 'latin1');
      // UIDs are padded with NUL, the other texts with a space.
      if (written < length) out[o + written] = vr === 'UI' ? 0x00 : 0x20;
      return o + length;
    }
  }
}

/**
 * Encodes a command set in Implicit VR Little Endian, the only encoding of commands
 * (PS3.7 6.3.1), led by its Command Group Length (0000,0000). One buffer, sized first.
 */
export function encodeCommand(command: Command): Buffer;
/** The same with `fields` set over the command's own (the channel's Message ID and data set type): no copy of the command made. */
export function encodeCommand(command: Partial<Command>, fields: Partial<Command>): Buffer;
export function encodeCommand(command: Partial<Command>, fields?: Partial<Command>): Buffer {
  // The command's own fields (a handful), put in tag order: cheaper than asking for all 23.
  const present: { field: readonly [FieldName, number, Vr]; value: unknown; length: number }[] = [];
  let length = 0;
  const take = (from: Partial<Command>, skip: Partial<Command> | undefined) => {
    for (const name in from) {
      const value = from[name as FieldName];
      if (value === undefined || (skip !== undefined && skip[name as FieldName] !== undefined)) continue;
      const field = BY_NAME.get(name);
      if (field === undefined) continue;
      const n = valueLength(field[2], value, name);
      present.push({ field, value, length: n });
      length += 8 + n;
    }
  };
  take(command, fields);
  if (fields) take(fields, undefined);
  present.sort((x, y) => x.field[1] - y.field[1]);
  const out = Buffer.allocUnsafe(12 + length);
  out.writeUInt32LE(0x00000000, 0);
  out.writeUInt32LE(4, 4);
  out.writeUInt32LE(length, 8);
  let o = 12;
  for (const { field, value, length: n } of present) {
    out.writeUInt16LE(0x0000, o);
    out.writeUInt16LE(field[1] & 0xffff, o + 2);
    out.writeUInt32LE(n, o + 4);
    o = writeValue(out, o + 8, field[2], value, n);
  }
  return out;
}

/** A text value without its padding (trailing NUL or spaces, leading spaces), as Latin-1. */
function text(b: Buffer, start: number, end: number): string {
  while (end > start && (b[end - 1] === 0x00 || b[end - 1] === 0x20)) end--;
  while (start < end && b[start] === 0x20) start++;
  return b.toString('latin1', start, end);
}

/**
 * Decodes a command set (group 0000, Implicit VR Little Endian). Unknown and retired command
 * elements are skipped. Throws CommandError for bytes that are not a command set and for a
 * message type whose required fields are missing (PS3.7 9.3, 10.3).
 */
export function decodeCommand(bytes: Uint8Array): Command {
  const command = parseCommand(bytes);
  checkCommand(command);
  return command;
}

/** Reads the fields of a command set without checking them; throws CommandError only for bytes that are not one. */
export function parseCommand(bytes: Uint8Array): Partial<Command> {
  const fields: Record<string, unknown> = {};
  const view = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length);
  let o = 0;
  while (o < view.length) {
    if (view.length - o < 8)
      throw new CommandError(`Command set truncated at byte ${o}: ${view.length - o} bytes left, an element header is 8`);
    const group = view.readUInt16LE(o);
    const element = view.readUInt16LE(o + 2);
    const length = view.readUInt32LE(o + 4);
    const start = o + 8;
    const end = start + length;
    if (end > view.length)
      throw new CommandError(`Command element (${hex4(group)},${hex4(element)}) of ${length} bytes runs past the command set`);
    o = end;
    if (group !== 0x0000) throw new CommandError(`Command set holds element (${hex4(group)},${hex4(element)}) outside group 0000`);
    const known = BY_TAG.get(element);
    if (!known) continue;
    const [name, vr] = known;
    switch (vr) {
      case 'US':
        if (length !== 2) throw new CommandError(`${name} has length ${length}, 2 expected`);
        fields[name] = view.readUInt16LE(start);
        break;
      case 'AT': {
        if (length % 4 !== 0) throw new CommandError(`${name} has length ${length}, a multiple of 4 expected`);
        const tags: number[] = [];
        for (let i = start; i < end; i += 4) tags.push(((view.readUInt16LE(i) << 16) | view.readUInt16LE(i + 2)) >>> 0);
        fields[name] = tags;
        break;
      }
      default:
        fields[name] = text(view, start, end);
    }
  }
  return fields as Partial<Command>;
}

const hex4 = (n: number) => n.toString(16).padStart(4, '0').toUpperCase();

/** True when a data set follows the command. */
export const hasDataSet = (command: Command) => command.commandDataSetType !== NO_DATA_SET;

/** Throws CommandError when a command lacks a field its message type requires, or has an unknown type. */
export function checkCommand(command: Partial<Command>): asserts command is Command {
  const messageId = command.messageId;
  if (command.commandField === undefined) throw new CommandError('Command Field (0000,0100) missing', messageId);
  if (command.commandDataSetType === undefined) throw new CommandError('Command Data Set Type (0000,0800) missing', messageId);
  const row = commandSpec(command.commandField);
  const name = commandName(command.commandField);
  if (!row) throw new CommandError(`Unrecognized ${name}`, messageId);
  const missing = row.required.filter((field) => command[field] === undefined);
  if (missing.length > 0) throw new CommandError(`${name} lacks ${missing.join(', ')}`, messageId);
  const present = command.commandDataSetType !== NO_DATA_SET;
  if (row.dataSet !== 'allowed' && (row.dataSet === 'required') !== present) {
    throw new CommandError(
      `${name} ${row.dataSet === 'required' ? 'needs' : 'cannot have'} a data set (Command Data Set Type 0x${command.commandDataSetType.toString(16)})`,
      messageId,
      'dataSet',
    );
  }
}
