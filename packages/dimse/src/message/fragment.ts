import type { PDataTf, Pdv } from '@dimse-rx/pdu';

/** PDV item header in the P-DATA-TF length: item length (4), context ID (1), control header (1). */
const PDV_HEADER = 6;
/** PDV value size when the peer sets no maximum length. */
const UNLIMITED_PDV = 1 << 20;

/**
 * Cuts a message into P-DATA-TF PDUs that fit the peer's maximum length (PS3.8 9.3.5, PS3.7
 * Annex E): command fragments first, then data set fragments, each flagged last where it ends.
 * Data arrives in chunks of any size and the values sent are views of them. The last piece is
 * held back until the next chunk or `end()`, since only then is it known to be the last. The
 * command's last fragment and the first data fragment share one PDU when they fit.
 */
export class Fragmenter {
  readonly #id: number;
  readonly #maxValue: number;
  readonly #maxPdu: number;
  /** The command's last fragment, waiting to share a PDU with the first data fragment. */
  #command: Uint8Array | undefined;
  /** The data piece not yet sent. */
  #held: Uint8Array | undefined;
  #sentData = false;

  constructor(presentationContextId: number, peerMaxPduLength: number) {
    this.#id = presentationContextId;
    this.#maxPdu = peerMaxPduLength === 0 ? UNLIMITED_PDV + PDV_HEADER : peerMaxPduLength;
    this.#maxValue = this.#maxPdu - PDV_HEADER;
    if (this.#maxValue < 1) throw new RangeError(`A maximum PDU length of ${peerMaxPduLength} leaves no room for a PDV`);
  }

  /** The command set; with `hasDataSet` its last fragment waits for the first data fragment. */
  command(bytes: Uint8Array, hasDataSet: boolean): PDataTf[] {
    const out: PDataTf[] = [];
    for (let o = 0; o < bytes.length; o += this.#maxValue) {
      const value = bytes.subarray(o, o + this.#maxValue);
      const last = o + this.#maxValue >= bytes.length;
      if (last && hasDataSet) this.#command = value;
      else out.push(this.#one(true, last, value));
    }
    return out;
  }

  /** A chunk of the data set. */
  data(chunk: Uint8Array): PDataTf[] {
    const out: PDataTf[] = [];
    let o = 0;
    while (o < chunk.length) {
      if (this.#held) out.push(this.#flush(false));
      const room = this.#command && !this.#sentData ? this.#maxPdu - 2 * PDV_HEADER - this.#command.length : this.#maxValue;
      if (room <= 0) {
        // No room beside the command's last fragment: it goes alone.
        out.push(this.#one(true, true, this.#command!));
        this.#command = undefined;
        continue;
      }
      this.#held = chunk.subarray(o, o + room);
      o += this.#held.length;
    }
    return out;
  }

  /** The end of the data set (or of a message without one): flushes what is held, flagged last. */
  end(): PDataTf[] {
    if (this.#held) return [this.#flush(true)];
    if (this.#command) {
      // A data set announced but empty: the command ends alone, followed by an empty last fragment.
      const command = this.#command;
      this.#command = undefined;
      return [
        this.#pdu([
          { command: true, last: true, value: command },
          { command: false, last: true, value: new Uint8Array(0) },
        ]),
      ];
    }
    return [];
  }

  #flush(last: boolean): PDataTf {
    const value = this.#held!;
    this.#held = undefined;
    const data = { command: false, last, value };
    if (this.#command && !this.#sentData) {
      const command = this.#command;
      this.#command = undefined;
      this.#sentData = true;
      return this.#pdu([{ command: true, last: true, value: command }, data]);
    }
    this.#sentData = true;
    return this.#one(false, last, value);
  }

  #pdu(pdvs: readonly Omit<Pdv, 'presentationContextId'>[]): PDataTf {
    return { type: 'PDataTf', pdvs: pdvs.map((pdv) => ({ presentationContextId: this.#id, ...pdv })) };
  }

  /** A P-DATA-TF of one PDV, built directly: the path every data fragment takes. */
  #one(command: boolean, last: boolean, value: Uint8Array): PDataTf {
    return { type: 'PDataTf', pdvs: [{ presentationContextId: this.#id, command, last, value }] };
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
