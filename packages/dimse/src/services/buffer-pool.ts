/**
 * Buffers for file reads and writes, kept for reuse: sending or receiving a large data set then
 * allocates nothing per chunk, and memory does not wait for the garbage collector to come back.
 * Each user (a file sink, an association's sender) has a pool of its own.
 */

/** Buffers of one size kept at most: enough for a few associations sending at once (each holds about four). */
const POOL_LIMIT = 16;

export class BufferPool {
  readonly #free = new Map<number, ArrayBuffer[]>();
  /** The buffers that are the pool's own (a view of anything else is never taken back). */
  readonly #own = new WeakSet<ArrayBuffer>();

  /** A buffer of `size` bytes: a recycled one when there is one. Its content is not cleared. */
  take(size: number): Buffer {
    const free = this.#free.get(size)?.pop();
    if (free) return Buffer.from(free);
    const buffer = Buffer.allocUnsafeSlow(size);
    this.#own.add(buffer.buffer);
    return buffer;
  }

  /** Takes back the buffer `view` is a view of, once nothing reads or writes it any more. */
  giveBack(view: Uint8Array): void {
    const memory = view.buffer;
    if (!(memory instanceof ArrayBuffer) || !this.#own.has(memory)) return;
    let free = this.#free.get(memory.byteLength);
    if (!free) {
      free = [];
      this.#free.set(memory.byteLength, free);
    }
    if (free.length < POOL_LIMIT && !free.includes(memory)) free.push(memory);
  }
}
