/**
 * DICOM Part 10 files (PS3.10 7.1): the 128-byte preamble, 'DICM', then the File Meta
 * Information group (0002,xxxx), always Explicit VR Little Endian (PS3.10 7.1), then the data set
 * in the transfer syntax the meta group names. Only the start of a file is ever read: the data
 * set is streamed by whoever uses `dataSetOffset`.
 */
import { IMPLEMENTATION_CLASS_UID, IMPLEMENTATION_VERSION_NAME } from '@dimse-rx/pdu';

/** The File Meta Information elements dimse-rx reads and writes (PS3.10 Table 7.1-1). */
export interface FileMetaInformation {
  /** (0002,0002) Media Storage SOP Class UID. */
  readonly mediaStorageSopClassUid: string;
  /** (0002,0003) Media Storage SOP Instance UID. */
  readonly mediaStorageSopInstanceUid: string;
  /** (0002,0010) Transfer Syntax UID of the data set that follows. */
  readonly transferSyntaxUid: string;
  /** (0002,0012) Implementation Class UID. Empty when a (non-conformant) file lacks it. */
  readonly implementationClassUid: string;
  /** (0002,0013) Implementation Version Name. */
  readonly implementationVersionName?: string;
  /** (0002,0016) Source Application Entity Title. */
  readonly sourceApplicationEntityTitle?: string;
}

/** The preamble and meta information group of a Part 10 file, and where its data set starts. */
export interface Part10Header {
  readonly meta: FileMetaInformation;
  /** Where the data set starts: the first byte after the meta group. */
  readonly dataSetOffset: number;
  /** Size of the whole file (or of the bytes given). */
  readonly fileSize: number;
}

/** A file that is not a readable DICOM Part 10 file, or meta information that cannot be encoded. */
export class Part10Error extends Error {
  override readonly name = 'Part10Error';
}

const PREAMBLE_LENGTH = 128;
/** 128-byte preamble + 'DICM' (PS3.10 7.1). */
const META_START = PREAMBLE_LENGTH + 4;
const META_GROUP = 0x0002;

/** Explicit VRs with a 2-byte reserved field and a 4-byte length (PS3.5 7.1.2, Table 7.1-1). */
const LONG_HEADER_VRS = new Set(['OB', 'OD', 'OF', 'OL', 'OV', 'OW', 'SQ', 'SV', 'UC', 'UN', 'UR', 'UT', 'UV']);

const Tag = {
  /** (0002,0000) File Meta Information Group Length, UL. */
  GroupLength: 0x0000,
  /** (0002,0001) File Meta Information Version, OB 00\01. */
  Version: 0x0001,
  MediaStorageSopClassUid: 0x0002,
  MediaStorageSopInstanceUid: 0x0003,
  TransferSyntaxUid: 0x0010,
  ImplementationClassUid: 0x0012,
  ImplementationVersionName: 0x0013,
  SourceApplicationEntityTitle: 0x0016,
} as const;

/** "Not enough bytes yet": the parse needs at least `needed` bytes from the start of the file. */
export interface NeedMore {
  readonly needed: number;
}

/** Trailing NUL (UI padding) and space (other string VRs) are not part of the value (PS3.5 6.2). */
function trimValue(bytes: Uint8Array): string {
  let end = bytes.length;
  while (end > 0 && (bytes[end - 1] === 0x00 || bytes[end - 1] === 0x20)) end--;
  return Buffer.from(bytes.buffer, bytes.byteOffset, end).toString('latin1');
}

/**
 * Parses the meta group from the start of a file. `available` bytes are at hand out of a file of
 * `fileSize`; returns what more it needs when the meta group goes past what is at hand.
 */
/** (Internal to the package: dicom-file.ts reads meta groups without a preamble too.) */
export function parseMeta(bytes: Uint8Array, fileSize: number, source: string, metaStart = META_START): Part10Header | NeedMore {
  const fail = (what: string) => new Part10Error(`${source}: ${what}`);
  if (metaStart === META_START) {
    if (fileSize < META_START) throw fail(`too short for a DICOM Part 10 file (${fileSize} bytes, needs at least ${META_START})`);
    if (bytes.length < META_START) return { needed: META_START };
    if (bytes[128] !== 0x44 || bytes[129] !== 0x49 || bytes[130] !== 0x43 || bytes[131] !== 0x4d) {
      throw fail(`no 'DICM' prefix at byte 128: not a DICOM Part 10 file`);
    }
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const values = new Map<number, Uint8Array>();
  /** End of the meta group from (0002,0000), when present. */
  let groupEnd: number | undefined;
  let offset = metaStart;
  for (;;) {
    if (groupEnd !== undefined && offset === groupEnd) break;
    if (groupEnd !== undefined && offset > groupEnd) {
      throw fail(`meta element at byte ${offset - 1} runs past the end of the meta group (${groupEnd}) given by (0002,0000)`);
    }
    if (offset === fileSize) break;
    // Explicit VR Little Endian element header: tag (4), VR (2), then length 2 or reserved 2 + length 4.
    if (offset + 8 > fileSize) throw fail(`truncated meta information: element header at byte ${offset} runs past the end of the file`);
    if (offset + 8 > bytes.length) return { needed: offset + 8 };
    const group = view.getUint16(offset, true);
    const element = view.getUint16(offset + 2, true);
    if (group !== META_GROUP) {
      if (groupEnd !== undefined)
        throw fail(`element (${hex(group)},${hex(element)}) at byte ${offset} inside the meta group given by (0002,0000)`);
      break;
    }
    const vr = String.fromCharCode(bytes[offset + 4]!, bytes[offset + 5]!);
    let headerLength = 8;
    let length: number;
    if (LONG_HEADER_VRS.has(vr)) {
      headerLength = 12;
      if (offset + 12 > fileSize) throw fail(`truncated meta information: element header at byte ${offset} runs past the end of the file`);
      if (offset + 12 > bytes.length) return { needed: offset + 12 };
      length = view.getUint32(offset + 8, true);
    } else {
      length = view.getUint16(offset + 6, true);
    }
    if (length === 0xffffffff) throw fail(`meta element (0002,${hex(element)}) has an undefined length`);
    const valueStart = offset + headerLength;
    const valueEnd = valueStart + length;
    if (valueEnd > fileSize)
      throw fail(
        `truncated meta information: (0002,${hex(element)}) needs ${length} bytes at byte ${valueStart}, the file has ${fileSize}`,
      );
    if (valueEnd > bytes.length) return { needed: valueEnd };
    const value = bytes.subarray(valueStart, valueEnd);
    if (element === Tag.GroupLength && offset === metaStart) {
      if (vr !== 'UL' || length !== 4)
        throw fail(`(0002,0000) File Meta Information Group Length must be UL of 4 bytes, found ${vr} of ${length}`);
      groupEnd = valueEnd + view.getUint32(valueStart, true);
      if (groupEnd > fileSize) {
        throw fail(`truncated meta information: (0002,0000) gives a meta group up to byte ${groupEnd}, the file has ${fileSize}`);
      }
    }
    values.set(element, value);
    offset = valueEnd;
  }

  const text = (element: number) => {
    const value = values.get(element);
    return value === undefined ? undefined : trimValue(value);
  };
  const required = (element: number, name: string) => {
    const value = text(element);
    if (!value) throw fail(`missing (0002,${hex(element)}) ${name} in the file meta information`);
    return value;
  };
  const implementationVersionName = text(Tag.ImplementationVersionName);
  const sourceApplicationEntityTitle = text(Tag.SourceApplicationEntityTitle);
  const meta: FileMetaInformation = {
    mediaStorageSopClassUid: required(Tag.MediaStorageSopClassUid, 'Media Storage SOP Class UID'),
    mediaStorageSopInstanceUid: required(Tag.MediaStorageSopInstanceUid, 'Media Storage SOP Instance UID'),
    transferSyntaxUid: required(Tag.TransferSyntaxUid, 'Transfer Syntax UID'),
    implementationClassUid: text(Tag.ImplementationClassUid) ?? '',
    ...(implementationVersionName === undefined ? {} : { implementationVersionName }),
    ...(sourceApplicationEntityTitle === undefined ? {} : { sourceApplicationEntityTitle }),
  };
  return { meta, dataSetOffset: offset, fileSize };
}

const hex = (n: number) => n.toString(16).toUpperCase().padStart(4, '0');

/** Reads the Part 10 header of bytes in memory (fileSize is their length). Throws Part10Error. */
export function parsePart10Header(bytes: Uint8Array): Part10Header {
  const result = parseMeta(bytes, bytes.length, 'DICOM Part 10 bytes');
  // With every byte of the file at hand, parse never asks for more.
  if ('needed' in result) throw new Part10Error(`DICOM Part 10 bytes: truncated meta information (needs ${result.needed} bytes)`);
  return result;
}

/** UI values are padded with one NUL, other strings with one space, to an even length (PS3.5 6.2). */
function padded(value: string, pad: number): Buffer {
  const bytes = Buffer.from(value, 'latin1');
  if (bytes.length % 2 === 0) return bytes;
  const out = Buffer.alloc(bytes.length + 1, pad);
  bytes.copy(out);
  return out;
}

const UID_PATTERN = /^[0-9]+(\.[0-9]+)*$/;

function checkUid(value: string, name: string): void {
  if (value.length === 0 || value.length > 64 || !UID_PATTERN.test(value)) {
    throw new Part10Error(`Cannot encode file meta information: ${name} '${value}' is not a UID (digits and dots, at most 64 characters)`);
  }
}

function checkShort(value: string, name: string): void {
  // SH and AE: at most 16 characters of the default repertoire, no backslash (PS3.5 Table 6.2-1).
  if (value.length > 16 || /[^\x20-\x7e]|\\/.test(value)) {
    throw new Part10Error(`Cannot encode file meta information: ${name} '${value}' must be at most 16 printable characters without '\\'`);
  }
}

/**
 * Encodes the preamble (128 zero bytes), 'DICM' and the File Meta Information group in Explicit VR
 * Little Endian, with its group length. The data set, in `meta.transferSyntaxUid`, follows.
 * Without an implementation class UID, dimse-rx's own (with its version name) is written.
 */
export function encodeFileMetaInformation(
  given: Omit<FileMetaInformation, 'implementationClassUid'> & { readonly implementationClassUid?: string },
): Buffer {
  const meta: FileMetaInformation =
    given.implementationClassUid === undefined
      ? { implementationVersionName: IMPLEMENTATION_VERSION_NAME, ...given, implementationClassUid: IMPLEMENTATION_CLASS_UID }
      : { ...given, implementationClassUid: given.implementationClassUid };
  checkUid(meta.mediaStorageSopClassUid, 'Media Storage SOP Class UID');
  checkUid(meta.mediaStorageSopInstanceUid, 'Media Storage SOP Instance UID');
  checkUid(meta.transferSyntaxUid, 'Transfer Syntax UID');
  checkUid(meta.implementationClassUid, 'Implementation Class UID');
  const elements: [element: number, vr: string, value: Buffer][] = [
    [Tag.Version, 'OB', Buffer.from([0x00, 0x01])],
    [Tag.MediaStorageSopClassUid, 'UI', padded(meta.mediaStorageSopClassUid, 0x00)],
    [Tag.MediaStorageSopInstanceUid, 'UI', padded(meta.mediaStorageSopInstanceUid, 0x00)],
    [Tag.TransferSyntaxUid, 'UI', padded(meta.transferSyntaxUid, 0x00)],
    [Tag.ImplementationClassUid, 'UI', padded(meta.implementationClassUid, 0x00)],
  ];
  if (meta.implementationVersionName !== undefined) {
    checkShort(meta.implementationVersionName, 'Implementation Version Name');
    elements.push([Tag.ImplementationVersionName, 'SH', padded(meta.implementationVersionName, 0x20)]);
  }
  if (meta.sourceApplicationEntityTitle !== undefined) {
    checkShort(meta.sourceApplicationEntityTitle, 'Source Application Entity Title');
    elements.push([Tag.SourceApplicationEntityTitle, 'AE', padded(meta.sourceApplicationEntityTitle, 0x20)]);
  }
  const headerLength = (vr: string) => (LONG_HEADER_VRS.has(vr) ? 12 : 8);
  const groupLength = elements.reduce((n, [, vr, value]) => n + headerLength(vr) + value.length, 0);
  const out = Buffer.alloc(META_START + 12 + groupLength);
  out.write('DICM', PREAMBLE_LENGTH, 'latin1');
  let offset = META_START;
  const writeHeader = (element: number, vr: string, length: number) => {
    offset = out.writeUInt16LE(META_GROUP, offset);
    offset = out.writeUInt16LE(element, offset);
    offset += out.write(vr, offset, 'latin1');
    if (headerLength(vr) === 12) {
      offset = out.writeUInt16LE(0, offset);
      offset = out.writeUInt32LE(length, offset);
    } else {
      offset = out.writeUInt16LE(length, offset);
    }
  };
  writeHeader(Tag.GroupLength, 'UL', 4);
  offset = out.writeUInt32LE(groupLength, offset);
  for (const [element, vr, value] of elements) {
    writeHeader(element, vr, value.length);
    offset += value.copy(out, offset);
  }
  return out;
}
