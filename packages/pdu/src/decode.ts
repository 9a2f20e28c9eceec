import { normalizeAeTitle, trimAeTitle } from './ae-title.js';
import { AbortReason, type AbortReasonCode, ItemType, PduType, type UserIdentityTypeCode } from './constants.js';
import { PduDecodeError } from './errors.js';
import type {
  Abort,
  AssociateAc,
  AssociateRj,
  AssociateRq,
  PDataTf,
  Pdu,
  Pdv,
  PresentationContextAc,
  PresentationContextRq,
  UnknownItem,
  UserInformationSubItem,
} from './model.js';

/** Bytes of the PDU header: type (1), reserved (1), length (4). PS3.8 9.3.1. */
export const PDU_HEADER_LENGTH = 6;

/** Reads a big-endian 16-bit value; the caller has checked that both bytes are there. */
const u16 = (b: Uint8Array, o: number) => (b[o]! << 8) | b[o + 1]!;
/** Reads a big-endian 32-bit value as an unsigned number. */
export const u32 = (b: Uint8Array, o: number) => b[o]! * 0x1000000 + ((b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!);

const asBuffer = (b: Uint8Array, start: number, end: number) => Buffer.from(b.buffer, b.byteOffset + start, end - start);

/** ASCII text of an item (UIDs): trailing NUL or space padding, which some peers add, is dropped. */
function text(b: Uint8Array, start: number, end: number): string {
  let stop = end;
  while (stop > start && (b[stop - 1] === 0 || b[stop - 1] === 0x20)) stop--;
  return asBuffer(b, start, stop).toString('latin1');
}

/** The 16-byte AE title fields, 9.3.2: leading and trailing spaces are not significant. */
function aeTitle(b: Uint8Array, start: number): string {
  return trimAeTitle(asBuffer(b, start, start + 16).toString('latin1'));
}

/**
 * An A-ASSOCIATE-RQ AE title field: it must hold a valid title (PS3.5 6.2: not only spaces,
 * printable ASCII of the default repertoire without backslash), else the PDU is refused as an
 * invalid parameter value rather than handed on to be compared or echoed.
 */
function checkedAeTitle(ctx: Ctx, start: number, which: 'Called' | 'Calling'): string {
  try {
    return normalizeAeTitle(asBuffer(ctx.b, start, start + 16).toString('latin1'));
  } catch (error) {
    return fail(ctx, `${which}-AE-title: ${(error as Error).message}`, start, AbortReason.InvalidPduParameterValue);
  }
}

/** Decoding context: the PDU being read, for error messages. */
interface Ctx {
  readonly b: Uint8Array;
  readonly pduType: number;
}

function fail(ctx: Ctx, problem: string, offset: number, abortReason: AbortReasonCode, itemType?: number): never {
  throw new PduDecodeError(
    problem,
    itemType === undefined ? { pduType: ctx.pduType, offset, abortReason } : { pduType: ctx.pduType, itemType, offset, abortReason },
  );
}

/** An item header and where its value lies. */
interface Item {
  readonly type: number;
  readonly reserved: number;
  /** Offset of the item's first byte (its type). */
  readonly at: number;
  /** Value bounds. */
  readonly start: number;
  readonly end: number;
}

/**
 * Walks the items of [start, end): type (1), reserved (1), length (2), value. Every length is
 * checked against what is left before the item is handed out. PS3.8 9.3.2.
 */
function* items(ctx: Ctx, start: number, end: number): Generator<Item> {
  let o = start;
  while (o < end) {
    if (end - o < 4) {
      fail(ctx, `Truncated item header: ${end - o} bytes left, 4 needed`, o, AbortReason.InvalidPduParameterValue, ctx.b[o]);
    }
    const type = ctx.b[o]!;
    const length = u16(ctx.b, o + 2);
    if (o + 4 + length > end) {
      fail(ctx, `Item length ${length} runs past its container (${end - o - 4} bytes left)`, o, AbortReason.InvalidPduParameterValue, type);
    }
    yield { type, reserved: ctx.b[o + 1]!, at: o, start: o + 4, end: o + 4 + length };
    o += 4 + length;
  }
}

function unknownItem(ctx: Ctx, item: Item): UnknownItem {
  const data = ctx.b.subarray(item.start, item.end);
  return item.reserved === 0
    ? { type: 'Unknown', itemType: item.type, data }
    : { type: 'Unknown', itemType: item.type, reserved: item.reserved, data };
}

/** A sub-item field prefixed by a 2-byte length, inside [o, end). Returns the field bounds. */
function lengthPrefixed(ctx: Ctx, item: Item, o: number, what: string): { start: number; end: number } {
  if (item.end - o < 2) {
    fail(ctx, `${what} length missing`, o, AbortReason.InvalidPduParameterValue, item.type);
  }
  const length = u16(ctx.b, o);
  if (o + 2 + length > item.end) {
    fail(ctx, `${what} length ${length} runs past the sub-item`, o, AbortReason.InvalidPduParameterValue, item.type);
  }
  return { start: o + 2, end: o + 2 + length };
}

function expectLength(ctx: Ctx, item: Item, length: number, what: string): void {
  if (item.end - item.start !== length) {
    fail(ctx, `${what} has length ${item.end - item.start}, ${length} expected`, item.at, AbortReason.InvalidPduParameterValue, item.type);
  }
}

function userInformationItems(ctx: Ctx, item: Item): UserInformationSubItem[] {
  const out: UserInformationSubItem[] = [];
  const { b } = ctx;
  for (const sub of items(ctx, item.start, item.end)) {
    switch (sub.type) {
      case ItemType.MaximumLength:
        expectLength(ctx, sub, 4, 'Maximum Length Sub-Item');
        out.push({ type: 'MaximumLength', maximumLength: u32(b, sub.start) });
        break;
      case ItemType.ImplementationClassUid:
        out.push({ type: 'ImplementationClassUid', uid: text(b, sub.start, sub.end) });
        break;
      case ItemType.ImplementationVersionName:
        out.push({ type: 'ImplementationVersionName', name: asBuffer(b, sub.start, sub.end).toString('latin1') });
        break;
      case ItemType.AsynchronousOperationsWindow:
        expectLength(ctx, sub, 4, 'Asynchronous Operations Window Sub-Item');
        out.push({
          type: 'AsynchronousOperationsWindow',
          maxOperationsInvoked: u16(b, sub.start),
          maxOperationsPerformed: u16(b, sub.start + 2),
        });
        break;
      case ItemType.RoleSelection: {
        // PS3.7 D.3.3.4: UID-length (2), SOP-class-uid, SCU-role (1), SCP-role (1)
        const uid = lengthPrefixed(ctx, sub, sub.start, 'SOP class UID');
        if (sub.end - uid.end !== 2) {
          fail(
            ctx,
            'SCP/SCU Role Selection Sub-Item must end with the two role bytes',
            uid.end,
            AbortReason.InvalidPduParameterValue,
            sub.type,
          );
        }
        const scu = b[uid.end]!;
        const scp = b[uid.end + 1]!;
        if (scu > 1 || scp > 1) {
          fail(ctx, `Role values must be 0 or 1, got SCU ${scu} and SCP ${scp}`, uid.end, AbortReason.InvalidPduParameterValue, sub.type);
        }
        out.push({ type: 'RoleSelection', sopClassUid: text(b, uid.start, uid.end), scuRole: scu === 1, scpRole: scp === 1 });
        break;
      }
      case ItemType.SopClassExtendedNegotiation: {
        // PS3.7 D.3.3.5: SOP-class-uid-length (2), SOP-class-uid, service-class-application-information
        const uid = lengthPrefixed(ctx, sub, sub.start, 'SOP class UID');
        out.push({
          type: 'SopClassExtendedNegotiation',
          sopClassUid: text(b, uid.start, uid.end),
          serviceClassApplicationInformation: b.subarray(uid.end, sub.end),
        });
        break;
      }
      case ItemType.SopClassCommonExtendedNegotiation: {
        // PS3.7 D.3.3.6: the reserved byte is the sub-item version; SOP class UID, service
        // class UID and the related general SOP class identification, each length-prefixed.
        const sop = lengthPrefixed(ctx, sub, sub.start, 'SOP class UID');
        const service = lengthPrefixed(ctx, sub, sop.end, 'Service class UID');
        const related = lengthPrefixed(ctx, sub, service.end, 'Related general SOP class identification');
        const relatedUids: string[] = [];
        for (let o = related.start; o < related.end; ) {
          if (related.end - o < 2) {
            fail(ctx, 'Related general SOP class UID length missing', o, AbortReason.InvalidPduParameterValue, sub.type);
          }
          const length = u16(b, o);
          if (o + 2 + length > related.end) {
            fail(
              ctx,
              `Related general SOP class UID length ${length} runs past its list`,
              o,
              AbortReason.InvalidPduParameterValue,
              sub.type,
            );
          }
          relatedUids.push(text(b, o + 2, o + 2 + length));
          o += 2 + length;
        }
        if (related.end !== sub.end) {
          fail(
            ctx,
            'Unexpected bytes after the related general SOP class identification',
            related.end,
            AbortReason.InvalidPduParameterValue,
            sub.type,
          );
        }
        out.push({
          type: 'SopClassCommonExtendedNegotiation',
          version: sub.reserved,
          sopClassUid: text(b, sop.start, sop.end),
          serviceClassUid: text(b, service.start, service.end),
          relatedGeneralSopClassUids: relatedUids,
        });
        break;
      }
      case ItemType.UserIdentityRq: {
        // PS3.7 D.3.3.7.1: type (1), positive-response-requested (1), primary (2 + n), secondary (2 + m)
        if (sub.end - sub.start < 2) {
          fail(ctx, 'User Identity Sub-Item too short', sub.at, AbortReason.InvalidPduParameterValue, sub.type);
        }
        const identityType = b[sub.start]!;
        if (identityType < 1 || identityType > 5) {
          fail(ctx, `User identity type ${identityType} is not 1 to 5`, sub.start, AbortReason.InvalidPduParameterValue, sub.type);
        }
        const primary = lengthPrefixed(ctx, sub, sub.start + 2, 'Primary field');
        const secondary = lengthPrefixed(ctx, sub, primary.end, 'Secondary field');
        if (secondary.end !== sub.end) {
          fail(ctx, 'Unexpected bytes after the secondary field', secondary.end, AbortReason.InvalidPduParameterValue, sub.type);
        }
        out.push({
          type: 'UserIdentityRq',
          identityType: identityType as UserIdentityTypeCode,
          positiveResponseRequested: b[sub.start + 1] === 1,
          primaryField: b.subarray(primary.start, primary.end),
          secondaryField: b.subarray(secondary.start, secondary.end),
        });
        break;
      }
      case ItemType.UserIdentityAc: {
        // PS3.7 D.3.3.7.2: server-response-length (2), server-response
        const response = lengthPrefixed(ctx, sub, sub.start, 'Server response');
        if (response.end !== sub.end) {
          fail(ctx, 'Unexpected bytes after the server response', response.end, AbortReason.InvalidPduParameterValue, sub.type);
        }
        out.push({ type: 'UserIdentityAc', serverResponse: b.subarray(response.start, response.end) });
        break;
      }
      default:
        // Sub-items of other types are kept and written back, PS3.7 D.3.3.
        out.push(unknownItem(ctx, sub));
    }
  }
  return out;
}

function presentationContextRq(ctx: Ctx, item: Item): PresentationContextRq {
  // 9.3.2.2: context ID (1), reserved (3), then one abstract syntax and 1..n transfer syntaxes
  if (item.end - item.start < 4) {
    fail(ctx, 'Presentation Context Item too short', item.at, AbortReason.InvalidPduParameterValue, item.type);
  }
  const id = ctx.b[item.start]!;
  if (id % 2 === 0) {
    fail(ctx, `Presentation context ID ${id} is not an odd number 1..255`, item.start, AbortReason.InvalidPduParameterValue, item.type);
  }
  let abstractSyntax: string | undefined;
  const transferSyntaxes: string[] = [];
  for (const sub of items(ctx, item.start + 4, item.end)) {
    if (sub.type === ItemType.AbstractSyntax) {
      if (abstractSyntax !== undefined) {
        fail(ctx, `Presentation context ${id} has a second abstract syntax`, sub.at, AbortReason.UnexpectedPduParameter, sub.type);
      }
      abstractSyntax = text(ctx.b, sub.start, sub.end);
    } else if (sub.type === ItemType.TransferSyntax) {
      transferSyntaxes.push(text(ctx.b, sub.start, sub.end));
    } else {
      fail(ctx, `Presentation context ${id} holds a sub-item of unknown type`, sub.at, AbortReason.UnrecognizedPduParameter, sub.type);
    }
  }
  if (abstractSyntax === undefined || transferSyntaxes.length === 0) {
    fail(
      ctx,
      `Presentation context ${id} lacks ${abstractSyntax === undefined ? 'its abstract syntax' : 'a transfer syntax'}`,
      item.at,
      AbortReason.InvalidPduParameterValue,
      item.type,
    );
  }
  const reserved = [ctx.b[item.start + 1]!, ctx.b[item.start + 2]!, ctx.b[item.start + 3]!] as const;
  return reserved.some((byte) => byte !== 0)
    ? { id, abstractSyntax, transferSyntaxes, reserved }
    : { id, abstractSyntax, transferSyntaxes };
}

function presentationContextAc(ctx: Ctx, item: Item): PresentationContextAc {
  // 9.3.3.2: context ID (1), reserved (1), result/reason (1), reserved (1), one transfer syntax
  if (item.end - item.start < 4) {
    fail(ctx, 'Presentation Context Item too short', item.at, AbortReason.InvalidPduParameterValue, item.type);
  }
  const id = ctx.b[item.start]!;
  const result = ctx.b[item.start + 2]!;
  if (result > 4) {
    fail(ctx, `Presentation context result ${result} is not 0 to 4`, item.start + 2, AbortReason.InvalidPduParameterValue, item.type);
  }
  let transferSyntax: string | undefined;
  for (const sub of items(ctx, item.start + 4, item.end)) {
    if (sub.type !== ItemType.TransferSyntax) {
      fail(
        ctx,
        `Presentation context ${id} holds a sub-item other than a transfer syntax`,
        sub.at,
        AbortReason.UnexpectedPduParameter,
        sub.type,
      );
    }
    if (transferSyntax !== undefined) {
      fail(ctx, `Presentation context ${id} has a second transfer syntax`, sub.at, AbortReason.UnexpectedPduParameter, sub.type);
    }
    transferSyntax = text(ctx.b, sub.start, sub.end);
  }
  if (transferSyntax === undefined && result === 0) {
    fail(ctx, `Accepted presentation context ${id} lacks its transfer syntax`, item.at, AbortReason.InvalidPduParameterValue, item.type);
  }
  const code = result as PresentationContextAc['result'];
  return transferSyntax === undefined
    ? { id, result: code, transferSyntax: '', withoutTransferSyntaxItem: true }
    : { id, result: code, transferSyntax };
}

/** Fixed fields and variable items shared by A-ASSOCIATE-RQ and -AC, 9.3.2 and 9.3.3. */
function associate(ctx: Ctx, start: number, end: number, ac: boolean): AssociateRq | AssociateAc {
  const { b } = ctx;
  // 6-7 protocol version, 8-9 reserved, 10-25 called AE, 26-41 calling AE, 42-73 reserved
  if (end - start < 68) {
    fail(ctx, `Body of ${end - start} bytes is shorter than the 68 fixed bytes`, start, AbortReason.InvalidPduParameterValue);
  }
  const protocolVersion = u16(b, start);
  // In an -AC these fields are reserved, echoed and "not tested" (9.3.3): they are read as given.
  const calledAeTitle = ac ? aeTitle(b, start + 4) : checkedAeTitle(ctx, start + 4, 'Called');
  const callingAeTitle = ac ? aeTitle(b, start + 20) : checkedAeTitle(ctx, start + 20, 'Calling');
  let applicationContextName: string | undefined;
  let userInformation: UserInformationSubItem[] | undefined;
  const rqContexts: PresentationContextRq[] = [];
  const acContexts: PresentationContextAc[] = [];
  const unknownItems: UnknownItem[] = [];
  const wrongContextType = ac ? ItemType.PresentationContextRq : ItemType.PresentationContextAc;
  for (const item of items(ctx, start + 68, end)) {
    switch (item.type) {
      case ItemType.ApplicationContext:
        if (applicationContextName !== undefined) {
          fail(ctx, 'Second Application Context Item', item.at, AbortReason.UnexpectedPduParameter, item.type);
        }
        applicationContextName = text(b, item.start, item.end);
        break;
      case ItemType.PresentationContextRq:
      case ItemType.PresentationContextAc:
        if (item.type === wrongContextType) {
          fail(
            ctx,
            `Presentation Context Item of the ${ac ? 'request' : 'accept'} in this PDU`,
            item.at,
            AbortReason.UnexpectedPduParameter,
            item.type,
          );
        }
        if (ac) acContexts.push(presentationContextAc(ctx, item));
        else rqContexts.push(presentationContextRq(ctx, item));
        break;
      case ItemType.UserInformation:
        if (userInformation !== undefined) {
          fail(ctx, 'Second User Information Item', item.at, AbortReason.UnexpectedPduParameter, item.type);
        }
        userInformation = userInformationItems(ctx, item);
        break;
      case ItemType.AbstractSyntax:
      case ItemType.TransferSyntax:
        fail(ctx, 'Sub-item found outside its Presentation Context Item', item.at, AbortReason.UnexpectedPduParameter, item.type);
        break;
      default:
        unknownItems.push(unknownItem(ctx, item));
    }
  }
  if (applicationContextName === undefined) {
    fail(ctx, 'Application Context Item missing', start + 68, AbortReason.InvalidPduParameterValue, ItemType.ApplicationContext);
  }
  if (userInformation === undefined) {
    fail(ctx, 'User Information Item missing', end, AbortReason.InvalidPduParameterValue, ItemType.UserInformation);
  }
  if (!ac && rqContexts.length === 0) {
    fail(ctx, 'No Presentation Context Item', end, AbortReason.InvalidPduParameterValue, ItemType.PresentationContextRq);
  }
  const common = { protocolVersion, calledAeTitle, callingAeTitle, applicationContextName, userInformation };
  const extra = unknownItems.length > 0 ? { unknownItems } : {};
  return ac
    ? { type: 'AssociateAc', ...common, presentationContexts: acContexts, ...extra }
    : { type: 'AssociateRq', ...common, presentationContexts: rqContexts, ...extra };
}

function pData(ctx: Ctx, start: number, end: number): PDataTf {
  // 9.3.5: one or more PDV items: item length (4), presentation context ID (1),
  // message control header (1, Annex E.2), fragment
  const { b } = ctx;
  const pdvs: Pdv[] = [];
  let o = start;
  while (o < end) {
    if (end - o < 6) {
      fail(ctx, `Truncated PDV item header: ${end - o} bytes left, 6 needed`, o, AbortReason.InvalidPduParameterValue);
    }
    const length = u32(b, o);
    if (length < 2) {
      fail(ctx, `PDV item length ${length} is less than 2`, o, AbortReason.InvalidPduParameterValue);
    }
    if (o + 4 + length > end) {
      fail(ctx, `PDV item length ${length} runs past the PDU (${end - o - 4} bytes left)`, o, AbortReason.InvalidPduParameterValue);
    }
    const header = b[o + 5]!;
    pdvs.push({
      presentationContextId: b[o + 4]!,
      command: (header & 0x01) !== 0,
      last: (header & 0x02) !== 0,
      value: b.subarray(o + 6, o + 4 + length),
    });
    o += 4 + length;
  }
  if (pdvs.length === 0) {
    fail(ctx, 'P-DATA-TF without any PDV item', start, AbortReason.InvalidPduParameterValue);
  }
  return { type: 'PDataTf', pdvs };
}

function fixedFour(ctx: Ctx, start: number, end: number): void {
  if (end - start !== 4) {
    fail(ctx, `Body of ${end - start} bytes, 4 expected`, start, AbortReason.InvalidPduParameterValue);
  }
}

/**
 * Decodes the body [start, end) of a PDU whose header has been read. Offsets in errors are
 * relative to `b`, which begins with the PDU header.
 */
export function decodeBody(b: Uint8Array, pduType: number, start: number, end: number): Pdu {
  const ctx: Ctx = { b, pduType };
  switch (pduType) {
    case PduType.AssociateRq:
      return associate(ctx, start, end, false);
    case PduType.AssociateAc:
      return associate(ctx, start, end, true);
    case PduType.AssociateRj: {
      // 9.3.4: reserved (1), result (1), source (1), reason/diag. (1)
      fixedFour(ctx, start, end);
      const rj: AssociateRj = { type: 'AssociateRj', result: b[start + 1]!, source: b[start + 2]!, reason: b[start + 3]! };
      return rj;
    }
    case PduType.PDataTf:
      return pData(ctx, start, end);
    case PduType.ReleaseRq:
      fixedFour(ctx, start, end);
      return { type: 'ReleaseRq' };
    case PduType.ReleaseRp:
      fixedFour(ctx, start, end);
      return { type: 'ReleaseRp' };
    case PduType.Abort: {
      // 9.3.8: reserved (2), source (1), reason/diag. (1)
      fixedFour(ctx, start, end);
      const abort: Abort = { type: 'Abort', source: b[start + 2]!, reason: b[start + 3]! };
      return abort;
    }
    default:
      throw new PduDecodeError('Unrecognized PDU type', {
        pduType,
        offset: 0,
        abortReason: AbortReason.UnrecognizedPdu,
      });
  }
}

/** True for the PDU type codes PS3.8 defines. */
export const isKnownPduType = (type: number) => type >= PduType.AssociateRq && type <= PduType.Abort;

/**
 * Decodes one whole PDU: `bytes` holds its 6-byte header and exactly the number of bytes the
 * header declares. P-DATA values and other byte fields are views into `bytes`, not copies.
 * Throws only PduDecodeError.
 */
export function decodePdu(bytes: Uint8Array): Pdu {
  if (bytes.length < PDU_HEADER_LENGTH) {
    throw new PduDecodeError(`Truncated PDU: ${bytes.length} bytes, the header alone is 6`, {
      offset: 0,
      abortReason: AbortReason.InvalidPduParameterValue,
    });
  }
  const pduType = bytes[0]!;
  const length = u32(bytes, 2);
  if (isKnownPduType(pduType) && length !== bytes.length - PDU_HEADER_LENGTH) {
    throw new PduDecodeError(`PDU length field says ${length} bytes, ${bytes.length - PDU_HEADER_LENGTH} follow the header`, {
      pduType,
      offset: 2,
      abortReason: AbortReason.InvalidPduParameterValue,
    });
  }
  return decodeBody(bytes, pduType, PDU_HEADER_LENGTH, bytes.length);
}
