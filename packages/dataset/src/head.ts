/**
 * Chosen attributes from the head of a data set, read as its bytes stream past (PS3.5 7.1):
 * the SOP Class and Instance UIDs of a file being sent, the patient and study of an image being
 * received. Element headers are walked and values skipped, never decoded; only the values asked
 * for are copied (at most MAX_VALUE bytes each). Sequences of undefined length are walked item
 * by item to their delimiter; those of defined length are skipped whole. The walk also checks
 * the structure it passes (known VRs, top-level tags in ascending order, lengths within the
 * data set), which is how a data set that does not parse as its transfer syntax is told apart.
 */
import { constants, inflateRawSync } from 'node:zlib';
import { dcmjs } from './dcmjs.js';
import { transferSyntaxProperties } from './transfer-syntax.js';

/** The data set does not parse as its transfer syntax. */
export class DataSetHeadError extends Error {
  override readonly name = 'DataSetHeadError';
  /** Byte offset in the (inflated) data set where the walk failed. */
  readonly offset: number;
  constructor(message: string, offset: number) {
    super(message);
    this.offset = offset;
  }
}

/** Tags by keyword that the head is usually asked for (others are looked up in the dcmjs dictionary). */
const COMMON_TAGS: Readonly<Record<string, number>> = {
  SpecificCharacterSet: 0x00080005,
  ImageType: 0x00080008,
  SOPClassUID: 0x00080016,
  SOPInstanceUID: 0x00080018,
  StudyDate: 0x00080020,
  SeriesDate: 0x00080021,
  StudyTime: 0x00080030,
  AccessionNumber: 0x00080050,
  Modality: 0x00080060,
  StudyDescription: 0x00081030,
  SeriesDescription: 0x0008103e,
  PatientName: 0x00100010,
  PatientID: 0x00100020,
  PatientBirthDate: 0x00100030,
  PatientSex: 0x00100040,
  StudyInstanceUID: 0x0020000d,
  SeriesInstanceUID: 0x0020000e,
  StudyID: 0x00200010,
  SeriesNumber: 0x00200011,
  InstanceNumber: 0x00200013,
};

/** The tag of a keyword (`PatientName`) or of a number (`0x00100010`); throws RangeError for an unknown keyword. */
export function tagOf(attribute: string | number): number {
  if (typeof attribute === 'number') return attribute >>> 0;
  const common = COMMON_TAGS[attribute];
  if (common !== undefined) return common;
  if (/^[0-9A-Fa-f]{8}$/.test(attribute)) return Number.parseInt(attribute, 16) >>> 0;
  const entry = dcmjs().data.DicomMetaDictionary.nameMap[attribute] as { tag?: string } | undefined;
  const match = entry?.tag && /^\(([0-9A-F]{4}),([0-9A-F]{4})\)$/i.exec(entry.tag);
  if (!match) throw new RangeError(`Unknown attribute keyword '${attribute}'`);
  return ((Number.parseInt(match[1]!, 16) << 16) | Number.parseInt(match[2]!, 16)) >>> 0;
}

const TAG = { SpecificCharacterSet: 0x00080005, Item: 0xfffee000, ItemDelimitation: 0xfffee00d, SequenceDelimitation: 0xfffee0dd };

/** Values longer than this are not copied (a head attribute is a few dozen bytes). */
const MAX_VALUE = 4096;
/** Nesting of undefined-length sequences and items past which the data set is taken as broken. */
const MAX_DEPTH = 64;

const KNOWN_VRS = new Set(
  'AE AS AT CS DA DS DT FD FL IS LO LT OB OD OF OL OV OW PN SH SL SQ SS ST SV TM UC UI UL UN UR US UT UV'.split(' '),
);
/** Explicit VRs with a 2-byte reserved field and a 4-byte length (PS3.5 7.1.2). */
const LONG_VRS = new Set('OB OD OF OL OV OW SQ SV UC UN UR UT UV'.split(' '));

/** What the walk found: the values asked for, and whether the data set parsed as far as it went. */
export interface DataSetHead {
  /** True once the walk passed the last attribute asked for, or reached the end of the data set. */
  readonly complete: boolean;
  /** Set when the data set does not parse as its transfer syntax. */
  readonly error: DataSetHeadError | undefined;
  /** The raw value of an attribute asked for (undefined when absent). */
  bytes(attribute: string | number): Uint8Array | undefined;
  /** The value as text, padding trimmed, decoded as UTF-8 when the data set says ISO_IR 192, else as Latin-1. */
  string(attribute: string | number): string | undefined;
}

class Head implements DataSetHead {
  readonly values = new Map<number, Uint8Array>();
  complete = false;
  error: DataSetHeadError | undefined;

  bytes(attribute: string | number): Uint8Array | undefined {
    return this.values.get(tagOf(attribute));
  }

  string(attribute: string | number): string | undefined {
    const value = this.bytes(attribute);
    if (value === undefined) return undefined;
    let end = value.length;
    while (end > 0 && (value[end - 1] === 0x00 || value[end - 1] === 0x20)) end--;
    const charset = this.values.get(TAG.SpecificCharacterSet);
    const utf8 = charset !== undefined && Buffer.from(charset).toString('latin1').includes('ISO_IR 192');
    return Buffer.from(value.buffer, value.byteOffset, end).toString(utf8 ? 'utf8' : 'latin1');
  }
}

/** Walks element headers of an uncompressed (not deflated) data set as its chunks come. */
class Walker {
  readonly head = new Head();
  readonly #explicit: boolean;
  readonly #little: boolean;
  readonly #wanted: ReadonlySet<number>;
  readonly #last: number;
  /** A top-level tag past which the walk stops, whatever was found. */
  readonly #until: number;
  #pending: Uint8Array = new Uint8Array(0);
  #skip = 0;
  #collect: { tag: number; length: number } | undefined;
  /** Undefined-length containers open around the current position. */
  readonly #stack: ('seq' | 'item')[] = [];
  #offset = 0;
  #lastTopTag = -1;

  constructor(explicitVr: boolean, littleEndian: boolean, wanted: ReadonlySet<number>, until = Number.POSITIVE_INFINITY) {
    this.#explicit = explicitVr;
    this.#little = littleEndian;
    this.#wanted = wanted;
    this.#last = Math.max(...wanted);
    this.#until = until;
  }

  get done(): boolean {
    return this.head.complete || this.head.error !== undefined;
  }

  #fail(message: string, at = this.#offset): void {
    this.head.error ??= new DataSetHeadError(message, at);
  }

  #allFound(): boolean {
    for (const tag of this.#wanted) if (tag !== TAG.SpecificCharacterSet && !this.head.values.has(tag)) return false;
    return true;
  }

  push(chunk: Uint8Array): void {
    if (this.done || chunk.length === 0) return;
    let data = chunk;
    if (this.#pending.length > 0) {
      data = new Uint8Array(this.#pending.length + chunk.length);
      data.set(this.#pending);
      data.set(chunk, this.#pending.length);
    }
    const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
    const u16 = (at: number) => view.getUint16(at, this.#little);
    const u32 = (at: number) => view.getUint32(at, this.#little);
    let p = 0;
    while (!this.done) {
      if (this.#skip > 0) {
        const n = Math.min(this.#skip, data.length - p);
        p += n;
        this.#offset += n;
        this.#skip -= n;
        if (this.#skip > 0) break;
        continue;
      }
      if (this.#collect) {
        const { tag, length } = this.#collect;
        if (data.length - p < length) break;
        this.head.values.set(tag, data.slice(p, p + length));
        p += length;
        this.#offset += length;
        this.#collect = undefined;
        continue;
      }
      if (data.length - p < 8) break;
      const tag = ((u16(p) << 16) | u16(p + 2)) >>> 0;
      if (tag >>> 16 === 0xfffe) {
        // Item and delimitation tags: tag and 4-byte length in every transfer syntax (PS3.5 7.5).
        const length = u32(p + 4);
        const top = this.#stack[this.#stack.length - 1];
        if (tag === TAG.Item && top === 'seq') {
          if (length === 0xffffffff) this.#stack.push('item');
          else this.#skip = length;
        } else if (tag === TAG.ItemDelimitation && top === 'item') this.#stack.pop();
        else if (tag === TAG.SequenceDelimitation && top === 'seq') this.#stack.pop();
        else {
          this.#fail(`unexpected item tag (FFFE,${hex(tag & 0xffff)}) at byte ${this.#offset}`);
          break;
        }
        p += 8;
        this.#offset += 8;
        if (this.#stack.length > MAX_DEPTH) this.#fail(`sequences nested deeper than ${MAX_DEPTH} at byte ${this.#offset}`);
        continue;
      }
      let vr: string | undefined;
      let header = 8;
      if (this.#explicit) {
        vr = String.fromCharCode(data[p + 4]!, data[p + 5]!);
        if (!KNOWN_VRS.has(vr)) {
          this.#fail(`element ${tagText(tag)} at byte ${this.#offset} has no valid VR`);
          break;
        }
        if (LONG_VRS.has(vr)) header = 12;
      }
      // The whole header first: nothing below may be done twice when it comes in the next chunk.
      if (data.length - p < header) break;
      const length = !this.#explicit || header === 12 ? u32(p + header - 4) : u16(p + 6);
      const top = this.#stack.length === 0;
      if (top) {
        if (tag <= this.#lastTopTag) {
          this.#fail(`element ${tagText(tag)} at byte ${this.#offset} is not in ascending order`);
          break;
        }
        if ((tag > this.#last && this.#allFound()) || tag > this.#until) {
          this.head.complete = true;
          break;
        }
        this.#lastTopTag = tag;
      } else if (this.#stack[this.#stack.length - 1] !== 'item') {
        this.#fail(`element ${tagText(tag)} at byte ${this.#offset} inside a sequence but outside an item`);
        break;
      }
      p += header;
      this.#offset += header;
      if (length === 0xffffffff) {
        // A sequence (or encapsulated pixel data, or UN holding a sequence): items follow to a delimiter.
        if (vr !== undefined && vr !== 'SQ' && vr !== 'UN' && vr !== 'OB' && vr !== 'OW') {
          this.#fail(`element ${tagText(tag)} of VR ${vr} has an undefined length`, this.#offset - header);
          break;
        }
        this.#stack.push('seq');
        if (this.#stack.length > MAX_DEPTH) this.#fail(`sequences nested deeper than ${MAX_DEPTH} at byte ${this.#offset}`);
        continue;
      }
      if (top && this.#wanted.has(tag) && length <= MAX_VALUE) this.#collect = { tag, length };
      else this.#skip = length;
    }
    this.#pending = this.done ? new Uint8Array(0) : data.slice(p);
  }

  /** The data set ended: whatever is still open is a truncation. */
  end(): DataSetHead {
    if (!this.done) {
      if (this.#skip > 0 || this.#collect) {
        this.#fail(`the data set ends inside an element (${this.#skip || this.#collect?.length} bytes missing after byte ${this.#offset})`);
      } else if (this.#pending.length > 0) {
        this.#fail(`the data set ends inside an element header at byte ${this.#offset}`);
      } else if (this.#stack.length > 0) {
        this.#fail('the data set ends inside a sequence');
      } else {
        this.head.complete = true;
      }
    }
    return this.head;
  }
}

/** Compressed bytes of a deflated head kept at most: past this the walk gives up, undecided. */
const MAX_DEFLATED_HEAD = 1 << 20;

/**
 * Reads chosen attributes from the head of a data set in a transfer syntax: `push` each chunk
 * (it returns true once nothing more is needed), then `end()` (or `head` at any time). The
 * walk stops past the last attribute asked for once all have been found; otherwise it goes on to
 * the end of the data set, checking its structure, so a missing attribute and bytes that do not
 * parse are told apart. For encapsulated syntaxes the head is read as explicit VR little endian,
 * as PS3.5 A.4 lays it out.
 */
export class DataSetHeadReader {
  readonly #walker: Walker;
  readonly #deflated: boolean;
  #compressed: Uint8Array[] = [];
  #compressedLength = 0;
  #inflated = 0;
  #gaveUp = false;

  /**
   * `until`: a top-level attribute past which the walk stops even when some asked for were not
   * found (they are then absent), so that no more of a large data set is read than needed.
   */
  constructor(transferSyntaxUid: string, attributes: readonly (string | number)[], until?: string | number) {
    const ts = transferSyntaxProperties(transferSyntaxUid);
    const wanted = new Set(attributes.map(tagOf));
    if (wanted.size === 0) throw new RangeError('DataSetHeadReader: no attribute asked for');
    wanted.add(TAG.SpecificCharacterSet);
    this.#walker = new Walker(ts.explicitVr, ts.littleEndian, wanted, until === undefined ? undefined : tagOf(until));
    this.#deflated = ts.deflated;
  }

  /** True once the walk needs no more bytes (found all, failed, or gave up). */
  get done(): boolean {
    return this.#walker.done || this.#gaveUp;
  }

  get head(): DataSetHead {
    return this.#walker.head;
  }

  /** Walks the next bytes; returns true once no more are needed. */
  push(chunk: Uint8Array): boolean {
    if (this.done) return true;
    if (!this.#deflated) {
      this.#walker.push(chunk);
      return this.done;
    }
    // Raw deflate (PS3.5 A.5): the prefix at hand is inflated again as it grows (heads are a few
    // KiB, found in the first chunk); what it adds past what the walker has seen is walked.
    this.#compressed.push(chunk);
    this.#compressedLength += chunk.length;
    if (this.#compressedLength > MAX_DEFLATED_HEAD) {
      this.#gaveUp = true;
      this.#compressed = [];
      return true;
    }
    let inflated: Buffer;
    try {
      inflated = inflateRawSync(Buffer.concat(this.#compressed), { finishFlush: constants.Z_SYNC_FLUSH });
    } catch (error) {
      this.#walker.head.error = new DataSetHeadError(`the deflated data set does not inflate: ${(error as Error).message}`, 0);
      return true;
    }
    if (inflated.length > this.#inflated) this.#walker.push(inflated.subarray(this.#inflated));
    this.#inflated = inflated.length;
    if (this.done) this.#compressed = [];
    return this.done;
  }

  /** The data set has ended: the head as found (incomplete with an error when it was cut short). */
  end(): DataSetHead {
    if (this.#gaveUp) return this.#walker.head;
    return this.#walker.end();
  }
}

/** The head of a data set held in memory. */
export function readDataSetHead(bytes: Uint8Array, transferSyntaxUid: string, attributes: readonly (string | number)[]): DataSetHead {
  const reader = new DataSetHeadReader(transferSyntaxUid, attributes);
  reader.push(bytes);
  return reader.end();
}

const hex = (n: number) => n.toString(16).toUpperCase().padStart(4, '0');
const tagText = (tag: number) => `(${hex(tag >>> 16)},${hex(tag & 0xffff)})`;
