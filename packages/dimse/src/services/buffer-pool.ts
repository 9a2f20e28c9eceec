/**
 * Buffers for file reads and writes, kept for reuse: sending or receiving a large data set then
 * allocates nothing per chunk, and memory does not wait for the garbage collector to come back.
 */

/** Buffers of one size kept at most: enough for a few associations sending at once (each holds about four). */
const POOL_LIMIT = 16;
const pool = new Map<number, ArrayBuffer[]>();
/** The buffers that are the pool's own (a view of anything else is never taken back). */
const pooled = new WeakSet<ArrayBuffer>();

/** A buffer of `size` bytes: a recycled one when there is one. Its content is not cleared. */
export function takeBuffer(size: number): Buffer {
  const free = pool.get(size)?.pop();
  if (free) return Buffer.from(free);
  const buffer = Buffer.allocUnsafeSlow(size);
  pooled.add(buffer.buffer);
  return buffer;
}

/** Takes back the buffer `view` is a view of, once nothing reads or writes it any more. */
export function giveBack(view: Uint8Array): void {
  const memory = view.buffer;
  if (!(memory instanceof ArrayBuffer) || !pooled.has(memory)) return;
  let free = pool.get(memory.byteLength);
  if (!free) {
    free = [];
    pool.set(memory.byteLength, free);
  }
  if (free.length < POOL_LIMIT && !free.includes(memory)) free.push(memory);
}
