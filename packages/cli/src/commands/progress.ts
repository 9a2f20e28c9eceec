import type { Output } from './common.js';

const mb = (bytes: number) => (bytes / 1e6).toFixed(1);

/**
 * One line redrawn in place on a terminal (a progress bar), with the lines printed around it;
 * nothing is drawn without a terminal. Shared by store's progress and get's and move's.
 */
export class StatusLine {
  readonly #out: Output;
  readonly #bar: (text: string) => void;
  readonly interactive: boolean;
  #lastDraw = 0;

  /** `bar` writes the line's text (carriage returns and erase-line included); no line when undefined. */
  constructor(out: Output, bar?: (text: string) => void) {
    this.interactive = bar !== undefined;
    this.#bar = bar ?? (() => {});
    this.#out = out;
  }

  /** Draws `text()` now, or only if the last draw is 100 ms old when `throttled`. */
  draw(text: () => string, throttled = false): void {
    if (!this.interactive) return;
    const now = performance.now();
    if (throttled && now - this.#lastDraw <= 100) return;
    this.#lastDraw = now;
    this.#bar(`\r\x1b[2K${text()}`);
  }

  /** A line that must not be overwritten by the bar: the bar is erased, the line printed, the bar drawn by the caller again. */
  say(text: string): void {
    if (this.interactive) this.#bar('\r\x1b[2K');
    this.#out.line(text);
  }

  finish(): void {
    if (this.interactive) this.#bar('\r\x1b[2K');
  }
}

/** A bar of `width` characters, `fraction` of it filled. */
export function barText(fraction: number, width = 24): string {
  const filled = Math.round(Math.min(Math.max(fraction, 0), 1) * width);
  return `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}]`;
}

/**
 * Progress of a store run: a bar redrawn on a terminal, nothing extra otherwise. Several
 * associations may be sending at once, each with the bytes of its file in flight.
 */
export class Progress {
  readonly #files: number;
  readonly #bytes: number;
  readonly #line: StatusLine;
  readonly #started = performance.now();
  readonly interactive: boolean;
  #filesDone = 0;
  #bytesBefore = 0;
  /** Bytes sent of the file in flight, by association. */
  readonly #current = new Map<number, number>();

  /** `bar` writes the bar's text (carriage returns and erase-line included); no bar when undefined. */
  constructor(files: number, bytes: number, out: Output, bar?: (text: string) => void) {
    this.#files = files;
    this.#bytes = bytes;
    this.#line = new StatusLine(out, bar);
    this.interactive = this.#line.interactive;
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
    this.#draw(true);
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
    this.#line.say(text);
    this.#draw();
  }

  finish(): void {
    this.#line.finish();
  }

  #draw(throttled = false): void {
    this.#line.draw(() => {
      const done = this.bytesDone;
      const fraction = this.#bytes === 0 ? 1 : done / this.#bytes;
      const rate = done / 1e6 / Math.max(this.elapsedSeconds(), 0.001);
      return `${barText(fraction)} ${this.#filesDone}/${this.#files} files, ${mb(done)}/${mb(this.#bytes)} MB, ${rate.toFixed(1)} MB/s`;
    }, throttled);
  }
}
