import type { Output } from './common.js';

const mb = (bytes: number) => (bytes / 1e6).toFixed(1);

/**
 * Progress of a store run: a bar redrawn on a terminal, nothing extra otherwise. Several
 * associations may be sending at once, each with the bytes of its file in flight.
 */
export class Progress {
  readonly #files: number;
  readonly #bytes: number;
  readonly #out: Output;
  readonly #bar: (text: string) => void;
  readonly #started = performance.now();
  readonly interactive: boolean;
  #filesDone = 0;
  #bytesBefore = 0;
  /** Bytes sent of the file in flight, by association. */
  readonly #current = new Map<number, number>();
  #lastDraw = 0;

  /** `bar` writes the bar's text (carriage returns and erase-line included); no bar when undefined. */
  constructor(files: number, bytes: number, out: Output, bar?: (text: string) => void) {
    this.#files = files;
    this.#bytes = bytes;
    this.interactive = bar !== undefined;
    this.#bar = bar ?? (() => {});
    this.#out = out;
  }

  get bytesDone(): number {
    let inFlight = 0;
    for (const bytes of this.#current.values()) inFlight += bytes;
    return this.#bytesBefore + inFlight;
  }

  elapsedSeconds(): number {
    return (performance.now() - this.#started) / 1000;
  }

  /** Bytes sent of the file in flight on association `lane`. */
  file(lane: number, bytesSent: number): void {
    this.#current.set(lane, bytesSent);
    const now = performance.now();
    if (now - this.#lastDraw > 100) this.#draw();
  }

  /** A file is done, whatever its result: `bytes` of it count as sent (0 for a file never sent). */
  done(lane: number | undefined, bytes: number): void {
    this.#filesDone++;
    this.#bytesBefore += bytes;
    if (lane !== undefined) this.#current.delete(lane);
    this.#draw();
  }

  /** A line that must not be overwritten by the bar. */
  say(text: string): void {
    if (this.interactive) this.#bar('\r\x1b[2K');
    this.#out.line(text);
    this.#draw();
  }

  finish(): void {
    if (this.interactive) this.#bar('\r\x1b[2K');
  }

  #draw(): void {
    if (!this.interactive) return;
    this.#lastDraw = performance.now();
    const done = this.bytesDone;
    const fraction = this.#bytes === 0 ? 1 : done / this.#bytes;
    const width = 24;
    const filled = Math.round(fraction * width);
    const rate = done / 1e6 / Math.max(this.elapsedSeconds(), 0.001);
    this.#bar(
      `\r\x1b[2K[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${this.#filesDone}/${this.#files} files, ${mb(done)}/${mb(this.#bytes)} MB, ${rate.toFixed(1)} MB/s`,
    );
  }
}
