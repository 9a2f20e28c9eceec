import type { PDataTf } from '@dimse-rx/pdu';

/** PDV item header in the P-DATA-TF length: item length (4), context ID (1), control header (1). */
const PDV_HEADER = 6;
/** PDV value size when the peer sets no maximum length. */
const UNLIMITED_PDV = 1 << 20;
/**
 * The smallest maximum PDU length that can carry a message: one PDV header and a value of 2
 * bytes, since every fragment must have an even length (DCMTK aborts on an odd one).
 */
const MIN_PEER_MAX_PDU_LENGTH = PDV_HEADER + 2;

/** n rounded down to an even number (negative numbers included). */
const even = (n: number) => n - (n & 1);

/** A PDV of the P-DATA-TF being filled; only the command's last fragment is ever a command entry there. */
interface Entry {
  readonly command: boolean;
  readonly value: Uint8Array;
}

/**
 * Cuts a message into P-DATA-TF PDUs that fit the peer's maximum length (PS3.8 9.3.5, PS3.7
 * Annex E): command fragments first, then data set fragments, each flagged last where it ends.
 *
 * Every fragment has an even length, as PS3.5 7 makes every data set but a deflated one, and as
 * DCMTK requires ("DIMSE: Odd Fragment Length"): the room per PDV is rounded down to even, and
 * data arriving in chunks of any size is still sent as views of them. Where a chunk ends at an
 * odd offset of the data set its last byte is carried and sent with the next chunk's first byte
 * as a PDV of 2 bytes of its own (a copy of 2 bytes; a P-DATA-TF holds several PDVs). A data set
 * of odd length (deflated, PS3.5 A.5) ends with one zero byte of padding, as DCMTK and pydicom
 * write it.
 *
 * The last piece is held back until the next chunk or `end()`, since only then is it known to be
 * the last; nothing of a chunk is held past the next `data()` call (the channel reuses a chunk's
 * memory once the PDUs of the chunk after it are written). The command's last fragment and the
 * first data fragment share one PDU when they fit, and no further data fragment joins them.
 */
export class Fragmenter {
  readonly #id: number;
  readonly #maxValue: number;
  readonly #maxPdu: number;
  /**
   * The P-DATA-TF being filled, not handed out yet: the command's last fragment waiting for the
   * first data fragment, a carried pair, the data piece held back (always the last entry).
   */
  #pending: Entry[] = [];
  /** Its length as the PDU length field counts it. */
  #pendingLength = 0;
  /** The last byte of the data so far when there is an odd number of them: sent with the next one. */
  #carry: number | undefined;

  constructor(presentationContextId: number, peerMaxPduLength: number) {
    this.#id = presentationContextId;
    this.#maxPdu = peerMaxPduLength === 0 ? UNLIMITED_PDV + PDV_HEADER : peerMaxPduLength;
    this.#maxValue = even(this.#maxPdu - PDV_HEADER);
    if (this.#maxValue < 2) {
      throw new RangeError(
        `A maximum PDU length of ${peerMaxPduLength} leaves no room for a PDV of even length (${MIN_PEER_MAX_PDU_LENGTH} at least)`,
      );
    }
  }

  /** The command set; with `hasDataSet` its last fragment waits for the first data fragment. */
  command(bytes: Uint8Array, hasDataSet: boolean): PDataTf[] {
    const out: PDataTf[] = [];
    for (let o = 0; o < bytes.length; o += this.#maxValue) {
      const value = bytes.subarray(o, o + this.#maxValue);
      const last = o + this.#maxValue >= bytes.length;
      if (last && hasDataSet) this.#add(true, value);
      else out.push({ type: 'PDataTf', pdvs: [{ presentationContextId: this.#id, command: true, last, value }] });
    }
    return out;
  }

  /** A chunk of the data set. */
  data(chunk: Uint8Array): PDataTf[] {
    if (chunk.length === 0) return [];
    const out: PDataTf[] = [];
    // More data: the piece held back is not the last, and it points into the previous chunk.
    if (this.#holdsData) out.push(this.#take(false));
    let rest = chunk;
    if (this.#carry !== undefined) {
      this.#put(out, Uint8Array.of(this.#carry, chunk[0]!));
      this.#carry = undefined;
      rest = chunk.subarray(1);
    }
    if (rest.length % 2 === 1) {
      this.#carry = rest[rest.length - 1];
      rest = rest.subarray(0, rest.length - 1);
    }
    for (let o = 0; o < rest.length; ) {
      if (this.#room() < 2) out.push(this.#take(false));
      const piece = rest.subarray(o, o + this.#room());
      this.#add(false, piece);
      o += piece.length;
    }
    return out;
  }

  /** The end of the data set (or of a message without one): sends what is held, flagged last. */
  end(): PDataTf[] {
    const out: PDataTf[] = [];
    if (this.#carry !== undefined) {
      this.#put(out, Uint8Array.of(this.#carry, 0));
      this.#carry = undefined;
    }
    if (this.#pending.length === 0) return out;
    // A data set announced but empty: the command ends, followed by an empty last fragment.
    if (!this.#holdsData) this.#put(out, new Uint8Array(0));
    out.push(this.#take(true));
    return out;
  }

  get #holdsData(): boolean {
    const tail = this.#pending[this.#pending.length - 1];
    return tail !== undefined && !tail.command;
  }

  /** The largest even value that still fits the PDU being filled (below 2: none does). */
  #room(): number {
    // Two PDVs at most: DCMTK (3.6.7) misreads the third PDV of some P-DATA-TF ("Different
    // PresIDs inside data set", "Unexpected PDV type"): after a command and a data fragment,
    // and after a 2-byte fragment and another.
    if (this.#pending.length === 2) return 0;
    return even(this.#maxPdu - this.#pendingLength - PDV_HEADER);
  }

  #add(command: boolean, value: Uint8Array): void {
    this.#pending.push({ command, value });
    this.#pendingLength += PDV_HEADER + value.length;
  }

  /** Adds a small value to the PDU being filled, sending that PDU first when the value does not fit. */
  #put(out: PDataTf[], value: Uint8Array): void {
    if (value.length > this.#room()) out.push(this.#take(false));
    this.#add(false, value);
  }

  /** The PDU being filled, handed out; with `last` its final PDV ends the data set. */
  #take(last: boolean): PDataTf {
    const entries = this.#pending;
    this.#pending = [];
    this.#pendingLength = 0;
    const end = entries.length - 1;
    const pdvs = entries.map(({ command, value }, i) => ({
      presentationContextId: this.#id,
      command,
      last: command || (last && i === end),
      value,
    }));
    return { type: 'PDataTf', pdvs };
  }
}

/** A whole message at once: the PDUs for a command and the chunks of its data set. */
export function fragment(
  presentationContextId: number,
  command: Uint8Array,
  dataSet: Iterable<Uint8Array> | undefined,
  peerMaxPduLength: number,
): PDataTf[] {
  const f = new Fragmenter(presentationContextId, peerMaxPduLength);
  const out = f.command(command, dataSet !== undefined);
  if (dataSet) for (const chunk of dataSet) out.push(...f.data(chunk));
  out.push(...f.end());
  return out;
}
