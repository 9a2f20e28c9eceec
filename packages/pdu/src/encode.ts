import { normalizeAeTitle, trimAeTitle } from './ae-title.js';
import { ItemType, PduType } from './constants.js';
import type { AssociateAc, AssociateRq, PDataTf, Pdu, UserInformationSubItem } from './model.js';

/**
 * A growing output buffer. Nested length-prefixed items reserve their length field and fill
 * it in once the body is written, so every body is written once and never copied again.
 */
class Writer {
  private buf: Buffer;
  private pos = 0;

  constructor(size: number) {
    this.buf = Buffer.allocUnsafe(size);
  }

  private ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.pos + n) size *= 2;
    const next = Buffer.allocUnsafe(size);
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
  }

  u8(v: number): void {
    this.ensure(1);
    this.buf[this.pos++] = v;
  }

  u16(v: number): void {
    this.ensure(2);
    this.buf.writeUInt16BE(v, this.pos);
    this.pos += 2;
  }

  u32(v: number): void {
    this.ensure(4);
    this.buf.writeUInt32BE(v, this.pos);
    this.pos += 4;
  }

  zeros(n: number): void {
    this.ensure(n);
    this.buf.fill(0, this.pos, this.pos + n);
    this.pos += n;
  }

  bytes(v: Uint8Array): void {
    this.ensure(v.length);
    this.buf.set(v, this.pos);
    this.pos += v.length;
  }

  /** Latin-1 text, one byte per character: UIDs and names are ASCII on the wire. */
  text(v: string): void {
    this.ensure(v.length);
    this.pos += this.buf.write(v, this.pos, 'latin1');
  }

  /** Writes `body` behind a big-endian length field of `width` bytes, filled in afterwards. */
  lengthPrefixed(width: 2 | 4, what: string, body: () => void): void {
    this.ensure(width);
    const at = this.pos;
    this.pos += width;
    body();
    const length = this.pos - at - width;
    if (width === 2) {
      if (length > 0xffff) throw new RangeError(`${what} is ${length} bytes long, more than the 65535 its length field can say`);
      this.buf.writeUInt16BE(length, at);
    } else {
      this.buf.writeUInt32BE(length, at);
    }
  }

  /** An item: type (1), reserved (1), length (2), value. PS3.8 9.3.2. */
  item(type: number, what: string, body: () => void, reserved = 0): void {
    this.u8(type);
    this.u8(reserved);
    this.lengthPrefixed(2, what, body);
  }

  finish(): Buffer {
    return this.buf.subarray(0, this.pos);
  }
}

function checkByte(value: number, what: string, min = 0, max = 0xff): void {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new RangeError(`${what} must be an integer from ${min} to ${max}, got ${value}`);
  }
}

function checkContextId(id: number): void {
  checkByte(id, 'Presentation context ID', 1, 255);
  if (id % 2 === 0) throw new RangeError(`Presentation context ID must be odd, got ${id}`);
}

function checkAscii(value: string, what: string): void {
  for (let i = 0; i < value.length; i++) {
    if (value.charCodeAt(i) > 0x7f) throw new RangeError(`${what} ${JSON.stringify(value)} is not ASCII`);
  }
}

/** The 16-byte AE title field, space padded. */
function writeAeTitle(w: Writer, title: string, strict: boolean): void {
  const value = strict ? normalizeAeTitle(title) : trimAeTitle(title);
  if (value.length > 16) throw new RangeError(`AE title ${JSON.stringify(title)} is longer than 16 characters`);
  checkAscii(value, 'AE title');
  w.text(value.padEnd(16, ' '));
}

function writeUid(w: Writer, type: number, uid: string, what: string): void {
  checkAscii(uid, what);
  w.item(type, what, () => w.text(uid));
}

function writeUidField(w: Writer, uid: string, what: string): void {
  checkAscii(uid, what);
  w.lengthPrefixed(2, what, () => w.text(uid));
}

function writeUserInformation(w: Writer, subItems: readonly UserInformationSubItem[]): void {
  w.item(ItemType.UserInformation, 'User Information Item', () => {
    for (const sub of subItems) {
      switch (sub.type) {
        case 'MaximumLength':
          w.item(ItemType.MaximumLength, 'Maximum Length Sub-Item', () => {
            if (!Number.isInteger(sub.maximumLength) || sub.maximumLength < 0 || sub.maximumLength > 0xffffffff) {
              throw new RangeError(`Maximum length must be an integer from 0 to 2^32-1, got ${sub.maximumLength}`);
            }
            w.u32(sub.maximumLength);
          });
          break;
        case 'ImplementationClassUid':
          writeUid(w, ItemType.ImplementationClassUid, sub.uid, 'Implementation class UID');
          break;
        case 'ImplementationVersionName':
          checkAscii(sub.name, 'Implementation version name');
          w.item(ItemType.ImplementationVersionName, 'Implementation version name', () => w.text(sub.name));
          break;
        case 'AsynchronousOperationsWindow':
          checkByte(sub.maxOperationsInvoked, 'Maximum number of operations invoked', 0, 0xffff);
          checkByte(sub.maxOperationsPerformed, 'Maximum number of operations performed', 0, 0xffff);
          w.item(ItemType.AsynchronousOperationsWindow, 'Asynchronous Operations Window Sub-Item', () => {
            w.u16(sub.maxOperationsInvoked);
            w.u16(sub.maxOperationsPerformed);
          });
          break;
        case 'RoleSelection':
          w.item(ItemType.RoleSelection, 'SCP/SCU Role Selection Sub-Item', () => {
            writeUidField(w, sub.sopClassUid, 'SOP class UID');
            w.u8(sub.scuRole ? 1 : 0);
            w.u8(sub.scpRole ? 1 : 0);
          });
          break;
        case 'SopClassExtendedNegotiation':
          w.item(ItemType.SopClassExtendedNegotiation, 'SOP Class Extended Negotiation Sub-Item', () => {
            writeUidField(w, sub.sopClassUid, 'SOP class UID');
            w.bytes(sub.serviceClassApplicationInformation);
          });
          break;
        case 'SopClassCommonExtendedNegotiation':
          checkByte(sub.version, 'Sub-item version');
          w.item(
            ItemType.SopClassCommonExtendedNegotiation,
            'SOP Class Common Extended Negotiation Sub-Item',
            () => {
              writeUidField(w, sub.sopClassUid, 'SOP class UID');
              writeUidField(w, sub.serviceClassUid, 'Service class UID');
              w.lengthPrefixed(2, 'Related general SOP class identification', () => {
                for (const uid of sub.relatedGeneralSopClassUids) writeUidField(w, uid, 'Related general SOP class UID');
              });
            },
            sub.version,
          );
          break;
        case 'UserIdentityRq':
          checkByte(sub.identityType, 'User identity type', 1, 5);
          w.item(ItemType.UserIdentityRq, 'User Identity Sub-Item', () => {
            w.u8(sub.identityType);
            w.u8(sub.positiveResponseRequested ? 1 : 0);
            w.lengthPrefixed(2, 'Primary field', () => w.bytes(sub.primaryField));
            w.lengthPrefixed(2, 'Secondary field', () => w.bytes(sub.secondaryField));
          });
          break;
        case 'UserIdentityAc':
          w.item(ItemType.UserIdentityAc, 'User Identity Sub-Item', () => {
            w.lengthPrefixed(2, 'Server response', () => w.bytes(sub.serverResponse));
          });
          break;
        case 'Unknown':
          checkByte(sub.itemType, 'Item type');
          w.item(sub.itemType, `Sub-item 0x${sub.itemType.toString(16)}`, () => w.bytes(sub.data), sub.reserved ?? 0);
          break;
      }
    }
  });
}

function writeAssociate(w: Writer, pdu: AssociateRq | AssociateAc): void {
  const rq = pdu.type === 'AssociateRq';
  checkByte(pdu.protocolVersion, 'Protocol version', 0, 0xffff);
  w.u16(pdu.protocolVersion);
  w.zeros(2);
  // 11-26 called AE title, 27-42 calling AE title (1-based in the standard's tables)
  writeAeTitle(w, pdu.calledAeTitle, rq);
  writeAeTitle(w, pdu.callingAeTitle, rq);
  w.zeros(32);
  writeUid(w, ItemType.ApplicationContext, pdu.applicationContextName, 'Application context name');
  if (rq) {
    if (pdu.presentationContexts.length === 0) throw new RangeError('A-ASSOCIATE-RQ needs at least one presentation context');
    for (const pc of pdu.presentationContexts) {
      checkContextId(pc.id);
      if (pc.transferSyntaxes.length === 0) throw new RangeError(`Presentation context ${pc.id} has no transfer syntax`);
      w.item(ItemType.PresentationContextRq, 'Presentation Context Item', () => {
        w.u8(pc.id);
        const [r1, r2, r3] = pc.reserved ?? [0, 0, 0];
        for (const byte of [r1, r2, r3]) checkByte(byte, 'Reserved byte');
        w.u8(r1);
        w.u8(r2);
        w.u8(r3);
        writeUid(w, ItemType.AbstractSyntax, pc.abstractSyntax, 'Abstract syntax');
        for (const ts of pc.transferSyntaxes) writeUid(w, ItemType.TransferSyntax, ts, 'Transfer syntax');
      });
    }
  } else {
    for (const pc of pdu.presentationContexts) {
      checkContextId(pc.id);
      checkByte(pc.result, 'Presentation context result', 0, 4);
      w.item(ItemType.PresentationContextAc, 'Presentation Context Item', () => {
        w.u8(pc.id);
        w.u8(0);
        w.u8(pc.result);
        w.u8(0);
        // An accepted context always names its transfer syntax; a rejected one may not have come with one.
        if (!(pc.withoutTransferSyntaxItem && pc.result !== 0)) writeUid(w, ItemType.TransferSyntax, pc.transferSyntax, 'Transfer syntax');
      });
    }
  }
  writeUserInformation(w, pdu.userInformation);
  for (const item of pdu.unknownItems ?? []) {
    checkByte(item.itemType, 'Item type');
    w.item(item.itemType, `Item 0x${item.itemType.toString(16)}`, () => w.bytes(item.data), item.reserved ?? 0);
  }
}

/** The length field of a P-DATA-TF (9.3.5): its PDV items, checked to fit 32 bits. */
function pdataLength(pdu: PDataTf): number {
  if (pdu.pdvs.length === 0) throw new RangeError('P-DATA-TF needs at least one PDV');
  let length = 0;
  for (const pdv of pdu.pdvs) length += 6 + pdv.value.length;
  if (length > 0xffffffff) throw new RangeError('P-DATA-TF longer than its 32-bit length field can say');
  return length;
}

/** 9.3.5: PDU type, reserved, PDU length, at the start of `out`. */
function writePDataHeader(out: Buffer, length: number): void {
  out[0] = PduType.PDataTf;
  out[1] = 0;
  out.writeUInt32BE(length, 2);
}

/** 9.3.5.1: a PDV item header at `o`: item length, presentation context ID, message control header. */
function writePdvHeader(out: Buffer, o: number, pdv: PDataTf['pdvs'][number]): void {
  checkContextId(pdv.presentationContextId);
  out.writeUInt32BE(pdv.value.length + 2, o);
  out[o + 4] = pdv.presentationContextId;
  out[o + 5] = (pdv.command ? 0x01 : 0) | (pdv.last ? 0x02 : 0);
}

/** P-DATA-TF is the hot path: its size is known up front, so it is written in one buffer. */
function encodePData(pdu: PDataTf): Buffer {
  const length = pdataLength(pdu);
  const out = Buffer.allocUnsafe(6 + length);
  writePDataHeader(out, length);
  let o = 6;
  for (const pdv of pdu.pdvs) {
    writePdvHeader(out, o, pdv);
    out.set(pdv.value, o + 6);
    o += 6 + pdv.value.length;
  }
  return out;
}

/**
 * P-DATA-TF as the parts a vectored write sends: the PDU header with the first PDV header, each
 * value as the caller's own view, the headers of the other PDVs between them. Nothing of the
 * values is copied: only the headers are allocated (a few bytes, from Node's shared pool).
 */
function encodePDataParts(pdu: PDataTf): Uint8Array[] {
  const headers = Buffer.allocUnsafe(6 + 6 * pdu.pdvs.length);
  writePDataHeader(headers, pdataLength(pdu));
  if (pdu.pdvs.length === 1) {
    // The usual case, a data fragment: one header, one value.
    const pdv = pdu.pdvs[0]!;
    writePdvHeader(headers, 6, pdv);
    return pdv.value.length > 0 ? [headers, pdv.value] : [headers];
  }
  const parts: Uint8Array[] = [];
  let start = 0;
  let o = 6;
  for (const pdv of pdu.pdvs) {
    writePdvHeader(headers, o, pdv);
    o += 6;
    parts.push(headers.subarray(start, o));
    if (pdv.value.length > 0) parts.push(pdv.value);
    start = o;
  }
  return parts;
}

function fourBytes(type: number, b1: number, b2: number, b3: number): Buffer {
  // 9.3.4, 9.3.6 to 9.3.8: a 4-byte body whose last three bytes carry the fields
  const out = Buffer.alloc(10);
  out[0] = type;
  out.writeUInt32BE(4, 2);
  out[7] = b1;
  out[8] = b2;
  out[9] = b3;
  return out;
}

/**
 * Encodes a PDU to its bytes. Throws a RangeError naming the field when the model holds a
 * value the wire format cannot carry (an invalid AE title, an even context ID, ...).
 */
export function encodePdu(pdu: Pdu): Buffer {
  switch (pdu.type) {
    case 'PDataTf':
      return encodePData(pdu);
    case 'AssociateRq':
    case 'AssociateAc': {
      const w = new Writer(1024);
      w.u8(pdu.type === 'AssociateRq' ? PduType.AssociateRq : PduType.AssociateAc);
      w.u8(0);
      w.lengthPrefixed(4, 'PDU', () => writeAssociate(w, pdu));
      return w.finish();
    }
    case 'AssociateRj':
      checkByte(pdu.result, 'Reject result');
      checkByte(pdu.source, 'Reject source');
      checkByte(pdu.reason, 'Reject reason');
      return fourBytes(PduType.AssociateRj, pdu.result, pdu.source, pdu.reason);
    case 'ReleaseRq':
      return fourBytes(PduType.ReleaseRq, 0, 0, 0);
    case 'ReleaseRp':
      return fourBytes(PduType.ReleaseRp, 0, 0, 0);
    case 'Abort':
      checkByte(pdu.source, 'Abort source');
      checkByte(pdu.reason, 'Abort reason');
      return fourBytes(PduType.Abort, 0, pdu.source, pdu.reason);
  }
}

/**
 * Encodes a PDU as a list of byte ranges to be written in order, for a vectored write: a
 * P-DATA-TF's values are not copied (the list holds the caller's views between the headers),
 * any other PDU is one buffer. The bytes are those of `encodePdu`.
 */
export function encodePduParts(pdu: Pdu): Uint8Array[] {
  return pdu.type === 'PDataTf' ? encodePDataParts(pdu) : [encodePdu(pdu)];
}
