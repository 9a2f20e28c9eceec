/**
 * The data set codec: naturalized data sets to and from the bytes a DIMSE message carries (a
 * data set without the Part 10 preamble and meta header, PS3.7 6.3.1), over dcmjs 0.51.1.
 *
 * dcmjs does the value encoding: `DicomMessage.write` (public) writes the elements of a data
 * set, `DicomMessage._read` (the reader behind `readFile`; `read` is the same, deprecated and
 * noisy) reads them. Where dcmjs falls short this module does the work itself:
 * - Big endian (PS3.5 A.3): dcmjs writes tags, lengths and numeric VRs big endian but copies
 *   OW, OF and OD values verbatim, and reads them back verbatim; those values are byte-swapped
 *   here, word by word, on the way in and out (PS3.5 7.3).
 * - Deflate (PS3.5 A.5): dcmjs never deflates when writing (`DicomDict.write` labels a file
 *   deflated and writes it plain); here the explicit VR little endian encoding is raw-deflated
 *   (RFC 1951, no zlib header) with node:zlib, and inflated before reading.
 * - Naturalizing: dcmjs's `denaturalizeDataset` drops keys it does not know (private elements)
 *   with only a log line, truncates over-long values, and turns numbers into strings before
 *   the DS writer can format them; its `naturalizeDataset` forgets the VR of private elements
 *   and gives every group of a repeating group the same keyword. Both are replaced by small
 *   walks that keep every element and reject what they cannot place.
 * - Reading: dcmjs silently cuts short values that run past the end, and decodes text in
 *   sequence items as latin1 whatever the Specific Character Set; the structure is checked
 *   before dcmjs reads, and items are given the character set of their data set.
 * dcmjs's log output is silenced while it works for this module; failures come out as
 * `DatasetCodecError` instead.
 */
import { deflateRawSync, inflateRawSync } from 'node:zlib';
import type { DicomDataset, DicomElement, DictionaryEntry } from 'dcmjs';
import { dcmjs, quietly, withItemCharacterSets } from './dcmjs.js';
import { TransferSyntax, transferSyntaxProperties } from './transfer-syntax.js';

/**
 * A data set by dcmjs's conventions for naturalized data sets (`naturalizeDataset`), as plain
 * objects and arrays: what `decodeDataset` returns and `encodeDataset` takes.
 *
 * - Keys are the keywords of the DICOM dictionary (`PatientName`, `PixelData`). Elements the
 *   dictionary does not name (private elements, unknown tags) are keyed by their tag as eight
 *   hex digits, `'00091010'`; so are the groups of a repeating group after the first (a keyword
 *   such as `OverlayData` means group 6000, `'60023000'` is the next overlay).
 * - `_vrMap` maps a key to its VR where that is not the dictionary's single VR: `PixelData`
 *   (`OB` or `OW`), US-or-SS elements, private elements, elements received as UN. Decoding fills
 *   it in, in every item too. When encoding without it: pixel data is OB if `BitsAllocated` is 8
 *   or less, else OW; other OB-or-OW elements OW; US-or-SS elements SS if `PixelRepresentation`
 *   is 1, else US (both looked up in the item, then in the data sets holding it); group lengths
 *   UL; private creators (gggg,0010-00FF) LO; other unknown tags UN.
 * - One value stands alone (`Rows: 512`), several make an array
 *   (`ImageType: ['ORIGINAL', 'PRIMARY']`, `PixelSpacing: [0.5, 0.5]`). `null` or `[]` is an
 *   empty element. An empty text element decodes as `''`, an empty PN or SQ as `[]`, an empty
 *   US/UL/SS/SL/FL/FD as `0` (dcmjs's default value).
 * - Text VRs are strings without their padding. DS and IS decode as numbers and encode from
 *   numbers (formatted by dcmjs to fit 16 and 12 characters) or strings. DA, TM, DT stay strings.
 * - PN decodes as `[{ Alphabetic: 'DOE^JOHN' }]` (the DICOM JSON model, with `Ideographic` and
 *   `Phonetic` when present); encoding takes that, one such object, or a string `'DOE^JOHN'`.
 * - US, SS, UL, SL, FL, FD are numbers; UV is a bigint. AT is a number, `(group << 16 | element) >>> 0`
 *   (encoding also takes `'GGGGEEEE'`).
 * - SQ is an array of naturalized items (encoding also takes a single item).
 * - OB, OW, OF, OD and UN decode as `[ArrayBuffer]`; encoding takes an ArrayBuffer or any
 *   ArrayBufferView (Buffer, Uint16Array...), alone or in an array. Multi-byte words are always
 *   in little endian order, whatever the transfer syntax. For encapsulated (compressed) syntaxes
 *   pixel data is an array of frames.
 * - Text is written as UTF-8 (dcmjs ignores the declared character set when writing); a data set
 *   with non-ASCII text must declare `SpecificCharacterSet: 'ISO_IR 192'`. Decoding honours the
 *   declared character set and then reports `'ISO_IR 192'` (dcmjs does), so a decoded data set
 *   re-encodes consistently.
 * - dcmjs 0.51.1 has no OL, OV or SV: such elements are read and written as UN, bytes unchanged.
 * - Group lengths are kept as they are: a data set changed after decoding should drop them.
 */
export type NaturalizedDataset = Record<string, unknown>;

/** Why the codec failed. */
export const DatasetCodecErrorKind = {
  /** The transfer syntax is not one this codec can read or write. */
  UnsupportedTransferSyntax: 'unsupported-transfer-syntax',
  /** The bytes are not a data set in the transfer syntax (truncated, inconsistent lengths, bad deflate stream). */
  Malformed: 'malformed',
  /** The naturalized data set cannot be encoded (unknown keyword, value of the wrong kind for its VR). */
  InvalidDataset: 'invalid-dataset',
} as const;
export type DatasetCodecErrorKind = (typeof DatasetCodecErrorKind)[keyof typeof DatasetCodecErrorKind];

/** A data set that cannot be decoded or encoded in the transfer syntax asked for. */
export class DatasetCodecError extends Error {
  override readonly name = 'DatasetCodecError';
  constructor(
    message: string,
    readonly kind: DatasetCodecErrorKind,
    readonly transferSyntaxUid: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

/** How the bytes of a data set are laid out in a transfer syntax, and what dcmjs is told. */
interface Layout {
  /** The syntax dcmjs writes with: it picks implicit/explicit and endianness from it, and encapsulates pixel data unless it is native. */
  readonly writeSyntax: string;
  /** The syntax dcmjs reads with: one of the three native, undeflated ones. */
  readonly readSyntax: string;
  readonly littleEndian: boolean;
  readonly deflated: boolean;
}

const EXPLICIT_LE = TransferSyntax.ExplicitVrLittleEndian;

/**
 * Standard syntaxes whose data set is explicit VR little endian with encapsulated pixel data
 * (PS3.5 A.4): JPEG family, JPEG-LS, JPEG 2000, HTJ2K, MPEG, HEVC (1.2.840.10008.1.2.4.*),
 * RLE (1.2.840.10008.1.2.5), Encapsulated Uncompressed (1.2.840.10008.1.2.1.98), Deflated
 * Image Frame Compression (1.2.840.10008.1.2.8.1).
 */
const isEncapsulatedSyntax = (uid: string) =>
  uid.startsWith('1.2.840.10008.1.2.4.') || ['1.2.840.10008.1.2.5', '1.2.840.10008.1.2.1.98', '1.2.840.10008.1.2.8.1'].includes(uid);

/** JPIP Referenced Deflate and JPIP HTJ2K Referenced Deflate (PS3.5 A.6, A.11.7): deflated explicit VR LE, no pixel data. */
const DEFLATED_JPIP_SYNTAXES: readonly string[] = ['1.2.840.10008.1.2.4.95', '1.2.840.10008.1.2.4.205'];

function layoutOf(uid: string): Layout {
  const deflated = uid === TransferSyntax.DeflatedExplicitVrLittleEndian || DEFLATED_JPIP_SYNTAXES.includes(uid);
  if (deflated) return { writeSyntax: EXPLICIT_LE, readSyntax: EXPLICIT_LE, littleEndian: true, deflated };
  const properties = transferSyntaxProperties(uid);
  if (!properties.encapsulated) return { writeSyntax: uid, readSyntax: uid, littleEndian: properties.littleEndian, deflated };
  if (isEncapsulatedSyntax(uid)) return { writeSyntax: uid, readSyntax: EXPLICIT_LE, littleEndian: true, deflated };
  throw new DatasetCodecError(
    `Transfer syntax ${uid} is not supported by the data set codec: only the native and the standard encapsulated syntaxes are`,
    DatasetCodecErrorKind.UnsupportedTransferSyntax,
    uid,
  );
}

/**
 * Encodes a naturalized data set in a transfer syntax, without Part 10 header. For an
 * encapsulated syntax the pixel data must already be compressed: one ArrayBuffer per frame,
 * each written as one fragment after a basic offset table. Deterministic: the same data set
 * gives the same bytes. The data set is not modified.
 */
export function encodeDataset(dataset: NaturalizedDataset, transferSyntaxUid: string): Buffer {
  const layout = layoutOf(transferSyntaxUid);
  const dict = denaturalize(dataset, '', transferSyntaxUid, NO_IMAGE);
  if (!layout.littleEndian) swapWords(dict, transferSyntaxUid);
  const stream = new (dcmjs().data.WriteBufferStream)(64 * 1024, true);
  try {
    quietly(() =>
      dcmjs().data.DicomMessage.write(dict, stream, layout.writeSyntax, { allowInvalidVRLength: false, fragmentMultiframe: false }),
    );
  } catch (error) {
    throw new DatasetCodecError(
      `Cannot encode the data set in ${transferSyntaxUid}: ${messageOf(error)}`,
      DatasetCodecErrorKind.InvalidDataset,
      transferSyntaxUid,
      { cause: error },
    );
  }
  const bytes = Buffer.from(stream.getBuffer());
  if (!layout.deflated) return bytes;
  // A data set has an even length (PS3.5 7.1): a deflated stream of odd length ends with one zero
  // byte, as DCMTK and pydicom write it, which inflating ignores.
  const deflated = deflateRawSync(bytes);
  return deflated.length % 2 === 0 ? deflated : Buffer.concat([deflated, Buffer.alloc(1)]);
}

/**
 * Decodes the bytes of a data set (no Part 10 header) in a transfer syntax. For encapsulated
 * syntaxes the pixel data stays compressed: one ArrayBuffer per frame when the basic offset
 * table is filled, else one per fragment (dcmjs's reading). The result shares no memory with
 * `bytes`.
 */
export function decodeDataset(bytes: Uint8Array, transferSyntaxUid: string): NaturalizedDataset {
  const layout = layoutOf(transferSyntaxUid);
  const malformed = (what: string, cause?: unknown) =>
    new DatasetCodecError(
      `Cannot decode the data set as ${transferSyntaxUid}: ${what}`,
      DatasetCodecErrorKind.Malformed,
      transferSyntaxUid,
      cause === undefined ? undefined : { cause },
    );
  let body = bytes;
  if (layout.deflated) {
    try {
      body = inflateRawSync(bytes);
    } catch (error) {
      throw malformed(`not a raw deflate stream (${messageOf(error)})`, error);
    }
  }
  checkStructure(body, layout.readSyntax !== TransferSyntax.ImplicitVrLittleEndian, layout.littleEndian, malformed);
  const stream = new (dcmjs().data.ReadBufferStream)(exactArrayBuffer(body), layout.littleEndian);
  let dict: DicomDataset;
  try {
    dict = quietly(() =>
      withItemCharacterSets(() =>
        dcmjs().data.DicomMessage._read(stream, layout.readSyntax, {
          ignoreErrors: false,
          untilTag: null,
          includeUntilTagValue: false,
          stopOnGreaterTag: false,
        }),
      ),
    );
  } catch (error) {
    throw malformed(messageOf(error), error);
  }
  if (stream.offset !== body.byteLength) throw malformed(`dcmjs stopped at byte ${stream.offset} of ${body.byteLength}`);
  if (layout.readSyntax === TransferSyntax.ImplicitVrLittleEndian) resolveImplicitVrs(dict, NO_IMAGE);
  if (!layout.littleEndian) swapWords(dict, transferSyntaxUid);
  trimDatePadding(dict);
  return naturalize(dict);
}

/**
 * dcmjs keeps the space that pads a date of odd length ('20240101-', a range of C-FIND, comes
 * out '20240101- '); the padding is not part of the value (PS3.5 6.2), so it goes, in items too.
 */
function trimDatePadding(dict: DicomDataset): void {
  for (const element of Object.values(dict)) {
    if (element.vr === 'SQ') for (const item of element.Value ?? []) trimDatePadding(item as DicomDataset);
    else if ((element.vr === 'DA' || element.vr === 'DT') && element.Value)
      element.Value = element.Value.map((value) => (typeof value === 'string' ? value.trimEnd() : value));
  }
}

const messageOf = (error: unknown) => (error instanceof Error ? error.message : String(error));

const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof ArrayBuffer) && !ArrayBuffer.isView(value);

const TAG_KEY = /^[0-9A-Fa-f]{8}$/;

/** VRs dcmjs 0.51.1 reads and writes (its `VRinstances`). */
const DCMJS_VRS: ReadonlySet<string> = new Set([
  ...['AE', 'AS', 'AT', 'CS', 'DA', 'DS', 'DT', 'FL', 'FD', 'IS', 'LO', 'LT', 'OB', 'OD', 'OF', 'OW', 'PN'],
  ...['SH', 'SL', 'SQ', 'SS', 'ST', 'TM', 'UC', 'UI', 'UL', 'UN', 'UR', 'US', 'UT', 'UV'],
]);
/** Binary VRs whose value is bytes (PS3.5 6.2). */
const BYTES_VRS: ReadonlySet<string> = new Set(['OB', 'OD', 'OF', 'OW', 'UN']);
/** VRs whose values dcmjs writes as text with `writeAsciiString`/`writeUTF8String`: numbers must be turned into strings first. */
const TEXT_VRS: ReadonlySet<string> = new Set(['AE', 'AS', 'CS', 'DA', 'DT', 'LO', 'LT', 'SH', 'ST', 'TM', 'UC', 'UI', 'UR', 'UT']);

/**
 * What the VR of some elements depends on (PS3.5 A.1 note, PS3.3 C.7.6.3): Bits Allocated and
 * Pixel Representation of the image, found in the data set or, for items, in the data sets
 * that hold them.
 */
interface ImageContext {
  readonly bitsAllocated: number | undefined;
  readonly pixelRepresentation: number | undefined;
}

const PIXEL_DATA_TAG = '7FE00010';

/** The VR of an element the dictionary gives several VRs (`ox`, `xs`, `lt`, `up`), from the image; any other VR as it is. */
function resolveVr(vr: string, tag: string, image: ImageContext, where: string, uid: string): string {
  switch (vr) {
    case 'ox': // OB or OW: pixel data is OB for 8 bits or fewer (PS3.5 8.2), other data (overlays...) OW
      return tag === PIXEL_DATA_TAG && image.bitsAllocated !== undefined && image.bitsAllocated <= 8 ? 'OB' : 'OW';
    case 'xs': // US or SS, by Pixel Representation (PS3.3 C.7.6.3.1.3)
      return image.pixelRepresentation === 1 ? 'SS' : 'US';
    case 'lt': // US or OW (LUT Data): OW, as in implicit VR (PS3.5 A.1)
      return 'OW';
    case 'up': // UL pointing into the file (retired directory offsets)
      return 'UL';
    case 'OL':
    case 'OV':
    case 'SV': // not in dcmjs 0.51.1: kept as bytes
      return 'UN';
    default:
      if (DCMJS_VRS.has(vr)) return vr;
      throw new DatasetCodecError(`${where} has VR ${vr}, which the codec does not know`, DatasetCodecErrorKind.InvalidDataset, uid);
  }
}

/** The VR of a tag the dictionary does not know: group lengths are UL (PS3.5 7.2), private creators LO (PS3.5 7.8.1), anything else UN. */
function unnamedVr(tag: string): string {
  const group = Number.parseInt(tag.slice(0, 4), 16);
  const element = Number.parseInt(tag.slice(4), 16);
  if (element === 0) return 'UL';
  return group % 2 === 1 && element >= 0x10 && element <= 0xff ? 'LO' : 'UN';
}

/** dcmjs's ArrayBuffer reader takes `view.buffer` whole, so views are turned into exact ArrayBuffers (copied if need be). */
function exactArrayBuffer(view: ArrayBuffer | ArrayBufferView): ArrayBuffer {
  if (view instanceof ArrayBuffer) return view;
  const { buffer, byteOffset, byteLength } = view;
  if (buffer instanceof ArrayBuffer && byteOffset === 0 && byteLength === buffer.byteLength) return buffer;
  return new Uint8Array(buffer, byteOffset, byteLength).slice().buffer;
}

/** The DICOM JSON model of a naturalized data set (what dcmjs writes), keyed by `GGGGEEEE` tags. */
function denaturalize(dataset: NaturalizedDataset, path: string, uid: string, outer: ImageContext): DicomDataset {
  const image: ImageContext = {
    bitsAllocated: typeof dataset.BitsAllocated === 'number' ? dataset.BitsAllocated : outer.bitsAllocated,
    pixelRepresentation: typeof dataset.PixelRepresentation === 'number' ? dataset.PixelRepresentation : outer.pixelRepresentation,
  };
  const invalid = (message: string) => new DatasetCodecError(message, DatasetCodecErrorKind.InvalidDataset, uid);
  const vrMap = dataset._vrMap;
  if (vrMap !== undefined && !isRecord(vrMap)) throw invalid(`${path}_vrMap must be an object of VRs`);
  const dict: DicomDataset = {};
  for (const [key, value] of Object.entries(dataset)) {
    if (key === '_vrMap' || key === '_meta' || value === undefined) continue;
    const where = `${path}${key}`;
    const named = Object.hasOwn(dcmjs().data.DicomMetaDictionary.nameMap, key) ? dcmjs().data.DicomMetaDictionary.nameMap[key] : undefined;
    if (!named && !TAG_KEY.test(key)) throw invalid(`${where} is neither a keyword of the DICOM dictionary nor a tag GGGGEEEE`);
    const tag = named ? dcmjs().data.DicomMetaDictionary.unpunctuateTag(named.tag) : key.toUpperCase();
    const entry = named ?? keyOf(tag).entry;
    if (Object.hasOwn(dict, tag)) throw invalid(`${where} gives (${tag.slice(0, 4)},${tag.slice(4)}) a second time`);
    const given = vrMap?.[key];
    if (given !== undefined && typeof given !== 'string') throw invalid(`${path}_vrMap.${key} must be a VR`);
    const vr = resolveVr(given ?? entry?.vr ?? unnamedVr(tag), tag, image, where, uid);
    dict[tag] = { vr, Value: denaturalizeValue(value, vr, where, uid, image) } satisfies DicomElement;
  }
  return dict;
}

function denaturalizeValue(value: unknown, vr: string, where: string, uid: string, image: ImageContext): unknown[] {
  const invalid = (message: string) => new DatasetCodecError(message, DatasetCodecErrorKind.InvalidDataset, uid);
  if (value === null) return [];
  const values: readonly unknown[] = Array.isArray(value) ? value : [value];
  if (vr === 'SQ') {
    return values.map((item, i) => {
      if (!isRecord(item)) throw invalid(`${where}[${i}] must be a data set (an object of keywords)`);
      return denaturalize(item, `${where}[${i}].`, uid, image);
    });
  }
  if (BYTES_VRS.has(vr)) {
    return values.map((bytes, i) => {
      if (bytes instanceof ArrayBuffer || ArrayBuffer.isView(bytes)) return exactArrayBuffer(bytes);
      throw invalid(`${where}${values.length > 1 ? `[${i}]` : ''} is ${vr}: it takes an ArrayBuffer or a typed array, not ${typeof bytes}`);
    });
  }
  if (vr === 'AT') {
    return values.map((tag) => {
      if (typeof tag === 'number') return tag;
      if (typeof tag === 'string' && TAG_KEY.test(tag)) return Number.parseInt(tag, 16);
      throw invalid(`${where} is AT: it takes tags as numbers or GGGGEEEE strings`);
    });
  }
  if (TEXT_VRS.has(vr)) return values.map((text) => (typeof text === 'number' || typeof text === 'bigint' ? String(text) : text));
  return [...values];
}

const NO_IMAGE: ImageContext = { bitsAllocated: undefined, pixelRepresentation: undefined };

const firstNumber = (element: DicomElement | undefined) => {
  const value = element?.Value?.[0];
  return typeof value === 'number' ? value : undefined;
};

/**
 * In implicit VR, dcmjs reads elements with several possible VRs as OW (`ox`), US (`xs`) and UN
 * (`lt`). This gives them the VR the image calls for, as encoding would: OB for pixel data of
 * 8 bits or fewer, SS (values made negative again) for a Pixel Representation of 1, OW for LUT
 * data; and group lengths, which dcmjs reads as UN bytes, UL.
 */
function resolveImplicitVrs(dict: DicomDataset, outer: ImageContext): void {
  const image: ImageContext = {
    bitsAllocated: firstNumber(dict['00280100']) ?? outer.bitsAllocated,
    pixelRepresentation: firstNumber(dict['00280103']) ?? outer.pixelRepresentation,
  };
  for (const [tag, element] of Object.entries(dict)) {
    if (element.vr === 'SQ') {
      for (const item of element.Value ?? []) resolveImplicitVrs(item as DicomDataset, image);
      continue;
    }
    const [bytes] = element.Value ?? [];
    if (tag.endsWith('0000') && element.vr === 'UN' && bytes instanceof ArrayBuffer && bytes.byteLength === 4) {
      // A group length the dictionary does not list: UL (PS3.5 7.2).
      element.vr = 'UL';
      element.Value = [new DataView(bytes).getUint32(0, true)];
      continue;
    }
    const placeholder = keyOf(tag).entry?.vr;
    if (placeholder !== 'ox' && placeholder !== 'xs' && placeholder !== 'lt') continue;
    const vr = resolveVr(placeholder, tag, image, tag, '');
    if (vr === 'SS' && element.Value)
      element.Value = element.Value.map((value) => (typeof value === 'number' && value > 0x7fff ? value - 0x10000 : value));
    element.vr = vr;
  }
}

/** Bytes per word of the VRs that PS3.5 7.3 byte-swaps in big endian and dcmjs copies verbatim. */
const WORD_SIZE: Readonly<Record<string, 2 | 4 | 8>> = { OW: 2, OF: 4, OD: 8 };

/** Byte-swaps every word of the OW, OF and OD values of a DICOM JSON data set, sequences included: little endian order in the model, big endian on the wire. */
function swapWords(dict: DicomDataset, uid: string): void {
  for (const [tag, element] of Object.entries(dict)) {
    const values = element.Value;
    if (!values) continue;
    if (element.vr === 'SQ') {
      for (const item of values) swapWords(item as DicomDataset, uid);
      continue;
    }
    const size = WORD_SIZE[element.vr];
    if (size === undefined) continue;
    element.Value = values.map((value) => {
      const bytes = Buffer.from(new Uint8Array(value as ArrayBuffer));
      if (bytes.length % size !== 0) {
        throw new DatasetCodecError(
          `(${tag.slice(0, 4)},${tag.slice(4)}) ${element.vr} has ${bytes.length} bytes, not a whole number of ${size}-byte words`,
          DatasetCodecErrorKind.InvalidDataset,
          uid,
        );
      }
      const swapped = size === 2 ? bytes.swap16() : size === 4 ? bytes.swap32() : bytes.swap64();
      return exactArrayBuffer(swapped);
    });
  }
}

/** The key of a tag: its keyword when the dictionary names it and the keyword leads back to it, else `GGGGEEEE`. */
function keyOf(tag: string): { readonly key: string; readonly entry: DictionaryEntry | undefined } {
  const entry: DictionaryEntry | undefined = dcmjs().data.DicomMetaDictionary.dictionary[`(${tag.slice(0, 4)},${tag.slice(4)})`];
  // Repeating groups: dcmjs names (6000,3000), (6002,3000)... all OverlayData, but the keyword means (6000,3000).
  const named =
    entry !== undefined &&
    Object.hasOwn(dcmjs().data.DicomMetaDictionary.nameMap, entry.name) &&
    dcmjs().data.DicomMetaDictionary.nameMap[entry.name]?.tag === entry.tag;
  return { key: named ? entry.name : tag, entry };
}

/**
 * The naturalized form of what dcmjs read, by dcmjs's conventions (`naturalizeDataset`) but as
 * plain objects and arrays (dcmjs wraps them in Proxies that add accessors), with every element
 * kept (dcmjs gives the same keyword to all groups of a repeating group, so one overwrites the
 * other) and the VR of every element whose VR is not the dictionary's in `_vrMap` (dcmjs skips
 * private elements), at every level.
 */
function naturalize(dict: DicomDataset): NaturalizedDataset {
  const vrMap: Record<string, string> = {};
  const natural: NaturalizedDataset = { _vrMap: vrMap };
  for (const [tag, element] of Object.entries(dict)) {
    const { key, entry } = keyOf(tag);
    if (entry?.vr !== element.vr) vrMap[key] = element.vr;
    const values = element.Value;
    if (values === undefined || values === null) {
      natural[key] = null;
      continue;
    }
    const plainValues = element.vr === 'SQ' ? values.map((item) => naturalize(item as DicomDataset)) : [...values];
    const [first] = plainValues;
    // One value stands alone, unless it is an object (an item, a person name, bytes): then it stays in its array.
    natural[key] = plainValues.length === 1 && (typeof first !== 'object' || first === null) ? first : plainValues;
  }
  return natural;
}

/** Explicit VRs with 2 reserved bytes and a 32-bit length (PS3.5 7.1.2). */
const LONG_LENGTH_VRS: ReadonlySet<string> = new Set(['OB', 'OD', 'OF', 'OL', 'OV', 'OW', 'SQ', 'SV', 'UC', 'UN', 'UR', 'UT', 'UV']);
const ITEM = 0xfffee000;
const ITEM_DELIMITATION = 0xfffee00d;
const SEQUENCE_DELIMITATION = 0xfffee0dd;
const UNDEFINED_LENGTH = 0xffffffff;

/**
 * Checks that every element, item and delimiter of a data set lies within its bytes (PS3.5 7.1,
 * 7.5), before dcmjs reads it: dcmjs cuts short, without a word, text and bytes whose length
 * runs past the end. Items of sequences are checked too; fragments of encapsulated pixel data
 * only for their lengths.
 */
function checkStructure(bytes: Uint8Array, explicitVr: boolean, littleEndian: boolean, malformed: (what: string) => Error): void {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const u16 = (at: number) => view.getUint16(at, littleEndian);
  const u32 = (at: number) => view.getUint32(at, littleEndian);
  const tagAt = (at: number) => ((u16(at) << 16) | u16(at + 2)) >>> 0;
  const name = (tag: number) => `(${(tag >>> 16).toString(16).padStart(4, '0')},${(tag & 0xffff).toString(16).padStart(4, '0')})`;
  const need = (at: number, count: number, end: number, what: string) => {
    if (at + count > end) throw malformed(`${what} at byte ${at} needs ${count} bytes, ${Math.max(0, end - at)} are left`);
  };

  /** Elements from `at` up to `end`, or in an item of undefined length up to and past its delimiter; returns where they stop. */
  const elements = (at: number, end: number, implicit: boolean, delimited: boolean): number => {
    while (at < end) {
      need(at, 8, end, 'An element header');
      const tag = tagAt(at);
      if (tag === ITEM_DELIMITATION && delimited) return at + 8;
      let vr: string | undefined;
      let length: number;
      if (implicit) {
        length = u32(at + 4);
        at += 8;
      } else {
        vr = String.fromCharCode(view.getUint8(at + 4), view.getUint8(at + 5));
        if (LONG_LENGTH_VRS.has(vr)) {
          need(at, 12, end, `The header of ${name(tag)} ${vr}`);
          length = u32(at + 8);
          at += 12;
        } else {
          length = u16(at + 6);
          at += 8;
        }
      }
      const sequence =
        vr === 'SQ' || (vr === undefined && dcmjs().data.DicomMetaDictionary.dictionary[name(tag).toUpperCase()]?.vr === 'SQ');
      if (length === UNDEFINED_LENGTH) {
        // Undefined length: a sequence, a UN holding one in implicit VR (PS3.5 6.2.2), or encapsulated pixel data (fragments).
        if (vr !== undefined && !['SQ', 'UN', 'OB', 'OW'].includes(vr)) throw malformed(`${name(tag)} ${vr} has an undefined length`);
        at = items(at, end, implicit || vr === 'UN', vr !== 'OB' && vr !== 'OW', true, name(tag));
      } else {
        need(at, length, end, `The value of ${name(tag)}${vr ? ` ${vr}` : ''}`);
        if (sequence) items(at, at + length, implicit, true, false, name(tag));
        at += length;
      }
    }
    if (delimited) throw malformed('An item of undefined length ends without its delimiter');
    return at;
  };

  /** The items of a sequence (or fragments) from `at`, up to `end` or past the sequence delimiter; returns where they stop. */
  const items = (at: number, end: number, implicit: boolean, dataSets: boolean, delimited: boolean, owner: string): number => {
    for (;;) {
      if (!delimited && at === end) return at;
      need(at, 8, end, `An item of ${owner}`);
      const tag = tagAt(at);
      const length = u32(at + 4);
      at += 8;
      if (tag === SEQUENCE_DELIMITATION) return at;
      if (tag !== ITEM) throw malformed(`${owner} holds ${name(tag)} at byte ${at - 8} where an item belongs`);
      if (length === UNDEFINED_LENGTH && dataSets) {
        at = elements(at, end, implicit, true);
      } else {
        need(at, length, end, `An item of ${owner}`);
        if (dataSets) elements(at, at + length, implicit, false);
        at += length;
      }
    }
  };

  elements(0, bytes.byteLength, !explicitVr, false);
}
