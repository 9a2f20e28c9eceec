/**
 * The element rewriter: an incremental parser of data set elements (PS3.5 7) that re-encodes each
 * element header from one uncompressed encoding into another and streams values through, swapping
 * byte order by VR when the endianness changes (PS3.5 7.3). Chunks may be cut anywhere: between
 * chunks it keeps at most one partial element header (12 bytes) and one partial swap unit (8 bytes),
 * never a value.
 *
 * Lengths: an element header is 8 bytes in Implicit VR and 8 or 12 in Explicit VR, so a defined
 * length sequence or item would be wrong after conversion. Every sequence and item is therefore
 * written with undefined length and closed by its delimitation item (PS3.5 7.5.1, 7.5.2); the
 * input side keeps a stack of open sequences and items with where each defined-length one ends.
 */
import { Transform, type TransformCallback } from 'node:stream';
import { TranscodeError } from './error.js';
import { OutputBuilder } from './output.js';
import { hasLongHeader, implicitVr, swapUnit, vrFromBytes } from './vr.js';

/** The byte layout of an uncompressed data set (deflate is undone before and redone after). */
export interface Encoding {
  readonly explicitVr: boolean;
  readonly littleEndian: boolean;
}

const UNDEFINED_LENGTH = 0xffffffff;
/** Item tags (PS3.5 7.5): never carry a VR, whatever the transfer syntax. */
const ITEM = 0xfffee000;
const ITEM_DELIMITATION = 0xfffee00d;
const SEQUENCE_DELIMITATION = 0xfffee0dd;
const ITEM_GROUP = 0xfffe;
const PIXEL_DATA = 0x7fe00010;
const PIXEL_REPRESENTATION = 0x00280103;
/** Swapped values up to this size go into the output arena, larger ones into their own buffer. */
const SMALL_SWAP = 256;
/** Largest even value length a 16-bit length field holds. */
const MAX_SHORT_LENGTH = 0xfffe;

interface Frame {
  readonly kind: 'dataset' | 'sequence' | 'item';
  /** Input offset where a defined-length frame ends; undefined until its delimitation item. */
  readonly end: number | undefined;
  /** The nearest defined end of this frame or of any frame around it: nothing may go past it. */
  readonly limit: number;
  /**
   * Contents copied as they are: the value of UN with undefined length, which stays in Implicit VR
   * Little Endian whatever the transfer syntax (PS3.5 6.2.2).
   */
  readonly verbatim: boolean;
  /** (0028,0103) of this data set or item, for 'xs' VRs (US or SS) read in Implicit VR. */
  pixelRepresentation?: number;
}

const tagText = (tag: number) =>
  `(${(tag >>> 16).toString(16).toUpperCase().padStart(4, '0')},${(tag & 0xffff).toString(16).toUpperCase().padStart(4, '0')})`;

export class ElementRewriter extends Transform {
  readonly #source: Encoding;
  readonly #target: Encoding;
  readonly #swap: boolean;
  readonly #stack: Frame[] = [{ kind: 'dataset', end: undefined, limit: Number.POSITIVE_INFINITY, verbatim: false }];
  /** Input offset of the next byte. */
  #position = 0;

  // Partial element header carried between chunks.
  readonly #header = Buffer.alloc(12);
  readonly #headerView = new DataView(this.#header.buffer, this.#header.byteOffset, 12);
  #headerLength = 0;

  // The value being streamed.
  #remaining = 0;
  #unit: 1 | 2 | 4 | 8 = 1;
  #drop = false;
  /** A swap unit cut by a chunk boundary. */
  readonly #carry = Buffer.alloc(8);
  #carryLength = 0;
  /** Pixel Representation is captured (2 bytes) as it streams by. */
  #capture: Buffer | undefined;
  #captureLength = 0;

  readonly #out = new OutputBuilder();

  constructor(source: Encoding, target: Encoding) {
    super();
    this.#source = source;
    this.#target = target;
    this.#swap = source.littleEndian !== target.littleEndian;
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    try {
      this.#process(chunk);
    } catch (error) {
      callback(error as Error);
      return;
    }
    this.#flushOut();
    callback();
  }

  override _flush(callback: TransformCallback): void {
    const fail = (what: string) => callback(new TranscodeError(`Truncated data set: ${what}`, this.#position));
    if (this.#headerLength > 0) {
      fail(`the stream ends inside an element header (${this.#headerLength} bytes of it)`);
      return;
    }
    if (this.#remaining > 0) {
      fail(`the stream ends ${this.#remaining} bytes before the end of a value`);
      return;
    }
    const open = this.#stack.length - 1;
    if (open > 0) {
      fail(`the stream ends inside ${open} sequence(s) or item(s) that were not closed`);
      return;
    }
    callback();
  }

  #flushOut(): void {
    const bytes = this.#out.take();
    if (bytes !== undefined) this.push(bytes);
  }

  #top(): Frame {
    return this.#stack[this.#stack.length - 1]!;
  }

  #fail(message: string, offset = this.#position): never {
    throw new TranscodeError(message, offset);
  }

  #process(chunk: Buffer): void {
    let index = 0;
    while (index < chunk.length) {
      if (this.#remaining > 0) {
        const n = Math.min(this.#remaining, chunk.length - index);
        this.#value(chunk, index, index + n);
        index += n;
        this.#position += n;
        this.#remaining -= n;
        if (this.#remaining === 0) this.#closeFinished();
        continue;
      }
      const needed = this.#headerNeeded();
      const n = Math.min(needed - this.#headerLength, chunk.length - index);
      chunk.copy(this.#header, this.#headerLength, index, index + n);
      this.#headerLength += n;
      index += n;
      this.#position += n;
      // An explicit VR header learns it is 12 bytes long only once its VR is read.
      if (this.#headerLength === needed && this.#headerNeeded() === needed) {
        this.#element();
        this.#headerLength = 0;
        if (this.#remaining === 0) this.#closeFinished();
      }
    }
  }

  /** How long the header being read is, as far as the bytes so far tell. */
  #headerNeeded(): number {
    if (this.#headerLength < 8) return 8;
    if (this.#top().verbatim || !this.#source.explicitVr) return 8;
    if (this.#readUint16(0) === ITEM_GROUP) return 8;
    const vr = vrFromBytes(this.#header[4]!, this.#header[5]!);
    return vr !== undefined && hasLongHeader(vr) ? 12 : 8;
  }

  #readUint16(offset: number, littleEndian = this.#source.littleEndian): number {
    return this.#headerView.getUint16(offset, littleEndian);
  }

  #readUint32(offset: number, littleEndian = this.#source.littleEndian): number {
    return this.#headerView.getUint32(offset, littleEndian);
  }

  /** A whole header is in #header (its value, if any, follows in the input). */
  #element(): void {
    const start = this.#position - this.#headerLength;
    const top = this.#top();
    if (this.#position > top.limit) {
      this.#fail(`Element header runs past the end of its defined-length sequence or item (which ends at byte ${top.limit})`, start);
    }
    if (top.verbatim) {
      this.#verbatimElement(start);
      return;
    }
    const tag = ((this.#readUint16(0) << 16) | this.#readUint16(2)) >>> 0;

    if (tag >>> 16 === ITEM_GROUP) {
      this.#itemTag(tag, this.#readUint32(4), start);
      return;
    }
    if (top.kind === 'sequence') this.#fail(`Element ${tagText(tag)} inside a sequence but outside an item`, start);

    const explicit = this.#source.explicitVr;
    let vr: string;
    let length: number;
    if (explicit) {
      const known = vrFromBytes(this.#header[4]!, this.#header[5]!);
      if (known === undefined) {
        const shown = this.#header.toString('latin1', 4, 6).replace(/[^\x20-\x7e]/g, '?');
        this.#fail(`Element ${tagText(tag)} has an unknown VR '${shown}'`, start);
      }
      vr = known;
      length = this.#headerLength === 12 ? this.#readUint32(8) : this.#readUint16(6);
    } else {
      length = this.#readUint32(4);
      vr = implicitVr(tag, top.pixelRepresentation);
    }

    if (length === UNDEFINED_LENGTH) {
      if (tag === PIXEL_DATA) {
        this.#fail('Encapsulated (compressed) pixel data: only the uncompressed transfer syntaxes can be converted', start);
      }
      if (vr === 'SQ') {
        this.#open('sequence', undefined, false, tag, 'SQ');
        return;
      }
      // Explicit UN, or in Implicit VR any undefined-length element the dictionary does not call
      // SQ (private sequences): UN with undefined length, kept in Implicit VR LE (PS3.5 6.2.2).
      if (vr === 'UN' || !explicit) {
        this.#open('sequence', undefined, true, tag, 'UN');
        return;
      }
      this.#fail(`Element ${tagText(tag)} with VR ${vr} has an undefined length`, start);
    }
    if (length % 2 !== 0) this.#fail(`Element ${tagText(tag)} has an odd length ${length}`, start);
    const end = this.#position + length;
    if (end > top.limit) {
      this.#fail(
        `Element ${tagText(tag)} of ${length} bytes runs past the end of its defined-length sequence or item (byte ${top.limit})`,
        start,
      );
    }
    if (vr === 'SQ') {
      this.#open('sequence', end, false, tag, 'SQ');
      return;
    }

    let unit = swapUnit(vr);
    if (length % unit !== 0) {
      if (explicit) this.#fail(`Element ${tagText(tag)} of VR ${vr} has a length ${length} that is not a multiple of ${unit}`, start);
      // The dictionary VR does not fit the value: keep the bytes as UN rather than misread them.
      vr = 'UN';
      unit = 1;
    }
    // A value too long for a 16-bit length field becomes UN (PS3.5 6.2.2; CP-1066), which is never byte-swapped.
    if (this.#target.explicitVr && !hasLongHeader(vr) && length > MAX_SHORT_LENGTH) {
      vr = 'UN';
      unit = 1;
    }
    this.#remaining = length;
    this.#unit = this.#swap ? unit : 1;
    this.#drop = false;
    this.#capture = undefined;
    // Group lengths (gggg,0000) would be wrong once headers and sequence lengths change; they are
    // retired in data sets (PS3.5 7.2), so they are left out.
    if ((tag & 0xffff) === 0x0000) {
      this.#drop = true;
      return;
    }
    if (tag === PIXEL_REPRESENTATION && length === 2 && !explicit) {
      this.#capture = Buffer.alloc(2);
      this.#captureLength = 0;
    }
    this.#emitHeader(tag, vr, length);
  }

  /** (FFFE,E000) Item, (FFFE,E00D) Item Delimitation, (FFFE,E0DD) Sequence Delimitation (PS3.5 7.5). */
  #itemTag(tag: number, length: number, start: number): void {
    const top = this.#top();
    switch (tag) {
      case ITEM: {
        if (top.kind !== 'sequence') this.#fail('Item (FFFE,E000) outside a sequence', start);
        if (length === UNDEFINED_LENGTH) {
          this.#open('item', undefined, false, ITEM, '');
          return;
        }
        if (length % 2 !== 0) this.#fail(`Item has an odd length ${length}`, start);
        const end = this.#position + length;
        if (end > top.limit)
          this.#fail(`Item of ${length} bytes runs past the end of its defined-length sequence (byte ${top.limit})`, start);
        this.#open('item', end, false, ITEM, '');
        return;
      }
      case ITEM_DELIMITATION:
      case SEQUENCE_DELIMITATION: {
        const kind = tag === ITEM_DELIMITATION ? 'item' : 'sequence';
        const name = tag === ITEM_DELIMITATION ? 'Item Delimitation Item (FFFE,E00D)' : 'Sequence Delimitation Item (FFFE,E0DD)';
        if (top.kind !== kind || top.end !== undefined) this.#fail(`${name} where no undefined-length ${kind} is open`, start);
        if (length !== 0) this.#fail(`${name} has length ${length}, must be 0`, start);
        this.#stack.pop();
        this.#emitHeader(tag, '', 0);
        return;
      }
      default:
        this.#fail(`Unexpected item tag ${tagText(tag)}`, start);
    }
  }

  /**
   * Inside UN of undefined length: Implicit VR Little Endian, copied as it is, up to and with the
   * Sequence Delimitation Item that ends the UN value; only the nesting is followed.
   */
  #verbatimElement(start: number): void {
    const tag = ((this.#readUint16(0, true) << 16) | this.#readUint16(2, true)) >>> 0;
    const length = this.#readUint32(4, true);
    const top = this.#top();
    this.#out.append(this.#header, 0, 8);
    if (tag === ITEM_DELIMITATION || tag === SEQUENCE_DELIMITATION) {
      const kind = tag === ITEM_DELIMITATION ? 'item' : 'sequence';
      if (top.kind !== kind) this.#fail(`${tagText(tag)} where no ${kind} is open in a UN value of undefined length`, start);
      if (length !== 0) this.#fail(`${tagText(tag)} has length ${length}, must be 0`, start);
      this.#stack.pop();
      return;
    }
    if (tag === ITEM && top.kind !== 'sequence') this.#fail('Item (FFFE,E000) outside a sequence in a UN value of undefined length', start);
    if (tag !== ITEM && top.kind === 'sequence')
      this.#fail(`Element ${tagText(tag)} outside an item in a UN value of undefined length`, start);
    if (length === UNDEFINED_LENGTH) {
      this.#push(tag === ITEM ? 'item' : 'sequence', undefined, true);
      return;
    }
    if (length % 2 !== 0) this.#fail(`Element ${tagText(tag)} has an odd length ${length}`, start);
    if (this.#position + length > top.limit) {
      this.#fail(
        `Element ${tagText(tag)} of ${length} bytes runs past the end of its defined-length sequence or item (byte ${top.limit})`,
        start,
      );
    }
    this.#remaining = length;
    this.#unit = 1;
    this.#drop = false;
    this.#capture = undefined;
  }

  #push(kind: Frame['kind'], end: number | undefined, verbatim: boolean): void {
    const parent = this.#top();
    const frame: Frame = { kind, end, limit: end === undefined ? parent.limit : Math.min(end, parent.limit), verbatim };
    // Items of a sequence see the Pixel Representation of their own data set only.
    this.#stack.push(frame);
  }

  /** Opens a sequence or item and writes its header with undefined length. */
  #open(kind: 'sequence' | 'item', end: number | undefined, verbatim: boolean, tag: number, vr: string): void {
    this.#push(kind, end, verbatim);
    this.#emitHeader(tag, vr, UNDEFINED_LENGTH);
  }

  /** Pops the defined-length frames that end here and writes their delimitation items. */
  #closeFinished(): void {
    for (;;) {
      const top = this.#top();
      if (top.end === undefined || this.#position < top.end) return;
      if (this.#position > top.end) this.#fail(`Value runs past the end of its defined-length ${top.kind} (byte ${top.end})`);
      this.#stack.pop();
      this.#emitHeader(top.kind === 'item' ? ITEM_DELIMITATION : SEQUENCE_DELIMITATION, '', 0);
    }
  }

  #emitHeader(tag: number, vr: string, length: number): void {
    const { explicitVr, littleEndian } = this.#target;
    const long = explicitVr && vr !== '' && hasLongHeader(vr);
    const offset = this.#out.reserve(long ? 12 : 8);
    const arena = this.#out.arena;
    const write16 = (value: number, at: number) => (littleEndian ? arena.writeUInt16LE(value, at) : arena.writeUInt16BE(value, at));
    const write32 = (value: number, at: number) => (littleEndian ? arena.writeUInt32LE(value, at) : arena.writeUInt32BE(value, at));
    write16(tag >>> 16, offset);
    write16(tag & 0xffff, offset + 2);
    if (!explicitVr || vr === '') {
      write32(length, offset + 4);
    } else {
      arena[offset + 4] = vr.charCodeAt(0);
      arena[offset + 5] = vr.charCodeAt(1);
      if (long) {
        write16(0, offset + 6);
        write32(length, offset + 8);
      } else {
        write16(length, offset + 6);
      }
    }
  }

  /** A piece of the current value: chunk[start, end). */
  #value(chunk: Buffer, start: number, end: number): void {
    if (this.#capture !== undefined) {
      const n = Math.min(end - start, 2 - this.#captureLength);
      chunk.copy(this.#capture, this.#captureLength, start, start + n);
      this.#captureLength += n;
      if (this.#captureLength === 2) this.#top().pixelRepresentation = this.#capture.readUInt16LE(0);
    }
    if (this.#drop) return;
    const unit = this.#unit;
    if (unit === 1) {
      this.#out.append(chunk, start, end);
      return;
    }
    const carried = this.#carryLength;
    const total = carried + end - start;
    const whole = total - (total % unit);
    if (whole === 0) {
      chunk.copy(this.#carry, carried, start, end);
      this.#carryLength = total;
      return;
    }
    const used = start + whole - carried;
    // Swapped bytes are a copy (the input is not ours to change): in the arena when small, byte
    // by byte; in their own buffer, swapped by Buffer#swapNN, when large.
    if (whole <= SMALL_SWAP) {
      const offset = this.#out.reserve(whole);
      const arena = this.#out.arena;
      const carry = this.#carry;
      for (let i = 0; i < whole; i++) {
        const from = i - (i % unit) + unit - 1 - (i % unit);
        arena[offset + i] = from < carried ? carry[from]! : chunk[start + from - carried]!;
      }
    } else {
      const out = Buffer.allocUnsafe(whole);
      this.#carry.copy(out, 0, 0, carried);
      chunk.copy(out, carried, start, used);
      if (unit === 2) out.swap16();
      else if (unit === 4) out.swap32();
      else out.swap64();
      this.#out.append(out);
    }
    chunk.copy(this.#carry, 0, used, end);
    this.#carryLength = end - used;
  }
}
