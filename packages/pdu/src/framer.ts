import { AbortReason, PduType } from './constants.js';
import { decodePdu, isKnownPduType, PDU_HEADER_LENGTH, u32 } from './decode.js';
import { PduDecodeError } from './errors.js';
import type { Pdu } from './model.js';

/** DCMTK's and most peers' default Maximum Length, PS3.8 D.1. */
export const DEFAULT_MAX_PDU_LENGTH = 16384;
/** A-ASSOCIATE-RQ/AC carry no data: 1 MiB holds hundreds of contexts with every transfer syntax. */
export const DEFAULT_MAX_ASSOCIATE_PDU_LENGTH = 1 << 20;

/** Above this size a PDU's buffer is not allocated from its header alone: it grows with the bytes received. */
const GROW_FROM = 1 << 20;

/** Limits of a framer. */
export interface PduFramerOptions {
  /**
   * Largest P-DATA-TF this side receives: the PDU length field, which is what the Maximum
   * Length Sub-Item we send promises (PS3.8 D.1). 0 means no limit other than 2^32-1 (memory
   * then grows with the bytes that actually arrive, never with what a header declares).
   * Defaults to 16384.
   */
  readonly maxPduLength?: number;
  /** Largest A-ASSOCIATE-RQ or -AC accepted. Defaults to 1 MiB. */
  readonly maxAssociatePduLength?: number;
}

/**
 * Turns a byte stream cut anywhere into whole PDUs.
 *
 * A PDU that lies whole inside a chunk is decoded in place, its P-DATA values being views of
 * the chunk. A PDU that spans chunks gets one buffer of its own, sized from its header once the
 * declared length has been checked against the limits, and its values are views of that
 * buffer; no buffer is ever reused, so the views stay valid for as long as the consumer keeps
 * them, and no byte is copied more than once.
 */
export class PduFramer {
  readonly #maxPduLength: number;
  readonly #maxAssociatePduLength: number;
  /** The bytes of an incomplete header. */
  readonly #header = Buffer.alloc(PDU_HEADER_LENGTH);
  #headerFill = 0;
  /**
   * The incomplete PDU (header included), how much of it has arrived and its declared size. The
   * buffer holds the whole PDU when that is at most GROW_FROM bytes; a larger one starts there
   * and doubles as bytes arrive, so a header alone never makes a large allocation.
   */
  #pending: Buffer | undefined;
  #pendingFill = 0;
  #pendingTotal = 0;
  #failure: PduDecodeError | undefined;

  constructor(options: PduFramerOptions = {}) {
    const max = options.maxPduLength ?? DEFAULT_MAX_PDU_LENGTH;
    if (!Number.isInteger(max) || max < 0 || max > 0xffffffff) {
      throw new RangeError(`maxPduLength must be a whole number from 0 to 2^32-1, not ${max}`);
    }
    this.#maxPduLength = max === 0 ? 0xffffffff : max;
    this.#maxAssociatePduLength = options.maxAssociatePduLength ?? DEFAULT_MAX_ASSOCIATE_PDU_LENGTH;
  }

  /** Bytes received that do not make a whole PDU yet. */
  get buffered(): number {
    return this.#headerFill + this.#pendingFill;
  }

  /**
   * Takes the next chunk of the stream and returns the PDUs it completes, in order. Throws
   * PduDecodeError on bad input; after that the framer keeps throwing the same error.
   */
  push(chunk: Uint8Array): Pdu[] {
    if (this.#failure) throw this.#failure;
    try {
      return this.#push(chunk);
    } catch (error) {
      this.#failure = error as PduDecodeError;
      throw error;
    }
  }

  /** Declares the end of the stream: throws if it stopped inside a PDU. */
  end(): void {
    if (this.#failure) throw this.#failure;
    if (this.buffered > 0) {
      this.#failure = new PduDecodeError(`Stream ended inside a PDU, ${this.buffered} bytes received of it`, {
        ...(this.#pending ? { pduType: this.#pending[0]! } : {}),
        offset: this.buffered,
        abortReason: AbortReason.InvalidPduParameterValue,
      });
      throw this.#failure;
    }
  }

  #push(chunk: Uint8Array): Pdu[] {
    const out: Pdu[] = [];
    let o = 0;
    while (o < chunk.length) {
      const pending = this.#pending;
      if (pending) {
        const n = Math.min(this.#pendingTotal - this.#pendingFill, chunk.length - o);
        const target = this.#room(this.#pendingFill + n);
        target.set(chunk.subarray(o, o + n), this.#pendingFill);
        this.#pendingFill += n;
        o += n;
        if (this.#pendingFill === this.#pendingTotal) {
          this.#pending = undefined;
          this.#pendingFill = 0;
          out.push(decodePdu(target));
        }
        continue;
      }
      if (this.#headerFill > 0 || chunk.length - o < PDU_HEADER_LENGTH) {
        const n = Math.min(PDU_HEADER_LENGTH - this.#headerFill, chunk.length - o);
        this.#header.set(chunk.subarray(o, o + n), this.#headerFill);
        this.#headerFill += n;
        o += n;
        if (this.#headerFill === PDU_HEADER_LENGTH) {
          this.#headerFill = 0;
          const length = this.#check(this.#header, 0);
          if (length === 0) {
            out.push(decodePdu(Buffer.from(this.#header)));
          } else {
            this.#start(PDU_HEADER_LENGTH + length, this.#header);
          }
        }
        continue;
      }
      // At a PDU boundary with the whole header in this chunk.
      const length = this.#check(chunk, o);
      const total = PDU_HEADER_LENGTH + length;
      if (chunk.length - o >= total) {
        out.push(decodePdu(chunk.subarray(o, o + total)));
        o += total;
      } else {
        this.#start(total, chunk.subarray(o));
        o = chunk.length;
      }
    }
    return out;
  }

  /** Begins a PDU of `total` bytes with its first bytes (at most `total`). */
  #start(total: number, first: Uint8Array): void {
    this.#pendingTotal = total;
    this.#pending = Buffer.allocUnsafe(Math.min(total, Math.max(GROW_FROM, first.length)));
    this.#pending.set(first);
    this.#pendingFill = first.length;
  }

  /** The pending buffer, grown (doubling, up to the declared size) to hold `needed` bytes. */
  #room(needed: number): Buffer {
    const pending = this.#pending!;
    if (needed <= pending.length) return pending;
    let size = pending.length * 2;
    while (size < needed) size *= 2;
    const grown = Buffer.allocUnsafe(Math.min(size, this.#pendingTotal));
    pending.copy(grown, 0, 0, this.#pendingFill);
    this.#pending = grown;
    return grown;
  }

  /** Checks a header's type and declared length before anything is buffered for its body. */
  #check(b: Uint8Array, o: number): number {
    const pduType = b[o]!;
    const length = u32(b, o + 2);
    if (!isKnownPduType(pduType)) {
      throw new PduDecodeError('Unrecognized PDU type', { pduType, offset: 0, abortReason: AbortReason.UnrecognizedPdu });
    }
    const limit =
      pduType === PduType.PDataTf
        ? this.#maxPduLength
        : pduType === PduType.AssociateRq || pduType === PduType.AssociateAc
          ? this.#maxAssociatePduLength
          : 4;
    if (length > limit) {
      throw new PduDecodeError(`PDU length ${length} exceeds the limit of ${limit}`, {
        pduType,
        offset: 2,
        abortReason: AbortReason.InvalidPduParameterValue,
      });
    }
    return length;
  }
}
