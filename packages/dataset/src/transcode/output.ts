/**
 * The bytes the element rewriter produces for one input chunk. Headers and small values are
 * written into an arena (no allocation per element); large values pass as slices of the input.
 * Bytes handed out are never written again: the arena only grows forward, then is replaced.
 */
const ARENA_SIZE = 64 * 1024;
/** Values up to this size are copied into the arena rather than kept as separate slices. */
const SMALL = 512;

export class OutputBuilder {
  #pieces: Buffer[] = [];
  #arena = Buffer.allocUnsafe(0);
  /** Start of the arena bytes not yet sealed into a piece. */
  #start = 0;
  #end = 0;

  /** The arena that the last reserve() was made in. */
  get arena(): Buffer {
    return this.#arena;
  }

  /** Room for n bytes at the end of the arena (see `arena`); returns where to write them. */
  reserve(n: number): number {
    if (this.#end + n > this.#arena.length) {
      this.#seal();
      this.#arena = Buffer.allocUnsafe(Math.max(n, ARENA_SIZE));
      this.#start = 0;
      this.#end = 0;
    }
    const offset = this.#end;
    this.#end += n;
    return offset;
  }

  /** Appends bytes[start, end): copied when small, kept as a slice (not copied) when large. */
  append(bytes: Buffer, start = 0, end = bytes.length): void {
    if (end - start <= SMALL) {
      const offset = this.reserve(end - start);
      bytes.copy(this.#arena, offset, start, end);
      return;
    }
    this.#seal();
    this.#pieces.push(start === 0 && end === bytes.length ? bytes : bytes.subarray(start, end));
  }

  /** All bytes since the last take, as one Buffer (undefined when there are none). */
  take(): Buffer | undefined {
    this.#seal();
    const pieces = this.#pieces;
    if (pieces.length === 0) return undefined;
    this.#pieces = [];
    return pieces.length === 1 ? pieces[0] : Buffer.concat(pieces);
  }

  #seal(): void {
    if (this.#end > this.#start) this.#pieces.push(this.#arena.subarray(this.#start, this.#end));
    this.#start = this.#end;
  }
}
