/**
 * What `get` and `move` report: each instance stored here (get, or a move to this process), the
 * pending responses' counts (a bar on a terminal), the summary, and the exit code. The same for
 * both: a C-GET and a C-MOVE differ in where the instances go, not in how they are counted.
 */
import {
  dimseStatus,
  QueryKeyError,
  type RetrieveEvent,
  RetrieveFailedError,
  type RetrieveResult,
  type RetrieveStored,
  type SubOperationCounts,
} from '@dimse-rx/dimse';
import { from, lastValueFrom, type MonoTypeOperatorFunction, type Observable, takeUntil, tap } from 'rxjs';
import { describeError, type Output } from './common.js';
import { errorCode } from './error-code.js';
import { barText, StatusLine } from './progress.js';

const hex = (code: number) => `0x${code.toString(16).padStart(4, '0')}`;
const round3 = (seconds: number) => Math.round(seconds * 1000) / 1000;
const mb = (bytes: number) => (bytes / 1e6).toFixed(1);

/** How a retrieval is reported. */
export interface RetrieveReportOptions {
  readonly command: 'get' | 'move';
  readonly out: Output;
  readonly json: boolean;
  /** Where the progress bar is drawn (a terminal); plain lines without it. Never with --json. */
  readonly bar: ((text: string) => void) | undefined;
  /** The instances are stored by this process (a C-GET, or a C-MOVE to itself): there are files and bytes to count. */
  readonly local: boolean;
  /** Resolves when the operation should be cancelled (SIGINT); never when undefined. */
  readonly stop: Promise<void> | undefined;
}

/** Reports the events of one C-GET or C-MOVE and decides the exit code. */
export class RetrieveReport {
  readonly #options: RetrieveReportOptions;
  readonly #line: StatusLine;
  readonly #service: 'C-GET' | 'C-MOVE';
  readonly #started = performance.now();
  #counts: SubOperationCounts = { completed: 0, failed: 0, warning: 0 };
  #bytes = 0;
  #files = 0;
  #seen = false;
  #cancelled = false;

  constructor(options: RetrieveReportOptions) {
    this.#options = options;
    this.#line = new StatusLine(options.out, options.json ? undefined : options.bar);
    this.#service = options.command === 'get' ? 'C-GET' : 'C-MOVE';
  }

  /**
   * Ends the operation when `stop` resolves: unsubscribing it sends C-CANCEL-RQ, and the
   * association is then released. Goes inside `withAssociation`, around the get or move.
   */
  cancelOnStop<T>(): MonoTypeOperatorFunction<T> {
    const { stop } = this.#options;
    if (!stop) return (source) => source;
    return takeUntil(from(stop).pipe(tap(() => (this.#cancelled = true))));
  }

  /** Runs the retrieval to its end and reports it; resolves with the exit code. */
  async run(events: Observable<RetrieveEvent>): Promise<number> {
    // Set by the tap: the final response (success or 0xB000); a failure is an error instead.
    const ended: { result?: RetrieveResult } = {};
    try {
      await lastValueFrom(
        events.pipe(
          tap((event) => {
            if (event.type === 'result') ended.result = event;
            else if (event.type === 'progress') this.#progress(event);
            else this.#stored(event);
          }),
        ),
        { defaultValue: undefined },
      );
    } catch (error) {
      return this.#failed(error);
    }
    this.#line.finish();
    const { result } = ended;
    if (result === undefined) {
      // Completed without a final response: cancelled by stop (only takeUntil completes it early).
      this.#summary({ cancelled: true });
      return 1;
    }
    this.#counts = result;
    this.#summary({ result });
    return result.failed > 0 || result.failedSopInstanceUids.length > 0 ? 1 : 0;
  }

  #progress(counts: SubOperationCounts): void {
    this.#seen = true;
    this.#counts = counts;
    const { json, out, command, local } = this.#options;
    if (json) out.json({ command, event: 'progress', ...countFields(counts) });
    // The bar shows the counts on a terminal; without one a move elsewhere has only these lines to show.
    else if (!this.#line.interactive && !local) this.#line.say(countText(counts));
    this.#draw(false);
  }

  #stored(event: RetrieveStored): void {
    this.#seen = true;
    const status = dimseStatus(event.status, {}, 'C-STORE');
    const result = status.kind === 'success' ? 'stored' : status.kind === 'warning' ? 'warning' : 'failed';
    if (event.stored) {
      this.#files++;
      this.#bytes += event.stored.size;
    }
    const { json, out, command } = this.#options;
    if (json) {
      out.json({
        command,
        event: 'stored',
        result,
        sopClassUid: event.sopClassUid,
        sopInstanceUid: event.sopInstanceUid,
        transferSyntax: event.transferSyntaxUid,
        status: event.status,
        meaning: status.meaning,
        ...(event.stored ? { file: event.stored.path, fileSize: event.stored.size } : {}),
      });
      return;
    }
    // On a terminal the bar counts the successes; what needs a look is printed.
    if (result === 'stored' && this.#line.interactive) {
      this.#draw(true);
      return;
    }
    const where = event.stored ? `: ${event.stored.path}, ${event.stored.size} bytes` : '';
    const words = result === 'stored' ? where : `: ${status.meaning} (${hex(status.code)})${result === 'warning' ? where : ''}`;
    this.#line.say(`${result} ${event.sopInstanceUid}${words}`);
    this.#draw(false);
  }

  #draw(throttled: boolean): void {
    this.#line.draw(() => {
      const c = this.#counts;
      const done = c.completed + c.failed + c.warning;
      const fraction = c.remaining === undefined ? 0 : done / Math.max(done + c.remaining, 1);
      const bytes = this.#options.local ? `, ${mb(this.#bytes)} MB, ${(this.#bytes / 1e6 / this.#seconds()).toFixed(1)} MB/s` : '';
      return `${barText(fraction)} ${c.completed} completed, ${c.failed} failed, ${c.remaining ?? '?'} remaining${bytes}`;
    }, throttled);
  }

  #seconds(): number {
    return Math.max((performance.now() - this.#started) / 1000, 0.001);
  }

  #failed(error: unknown): number {
    this.#line.finish();
    const { json, out, command } = this.#options;
    const words = describeError(error);
    if (error instanceof RetrieveFailedError) {
      this.#counts = error.counts;
      this.#summary({ error: words, status: error.status.code, code: 'STATUS', failedSopInstanceUids: error.failedSopInstanceUids });
    } else if (json) this.#summary({ error: words, code: errorCode(error) });
    else {
      out.error(`dimse-rx ${command}: ${words}`);
      if (this.#seen) this.#summary({});
    }
    // The library checks the keys before sending; queryOption did the same checks already.
    return error instanceof QueryKeyError ? 2 : 1;
  }

  #summary(end: {
    readonly result?: RetrieveResult;
    readonly cancelled?: boolean;
    readonly error?: string;
    readonly status?: number;
    readonly code?: string;
    readonly failedSopInstanceUids?: readonly string[];
  }): void {
    const { json, out, command, local } = this.#options;
    const seconds = this.#seconds();
    const failedUids = end.result?.failedSopInstanceUids ?? end.failedSopInstanceUids ?? [];
    const statusCode = end.result?.status.code ?? end.status;
    if (json) {
      out.json({
        command,
        summary: true,
        ...(statusCode === undefined ? {} : { status: statusCode, meaning: dimseStatus(statusCode, {}, this.#service).meaning }),
        ...countFields(this.#counts),
        ...(local ? { files: this.#files, bytes: this.#bytes } : {}),
        seconds: round3(seconds),
        ...(local ? { mbPerSecond: Math.round((this.#bytes / 1e6 / seconds) * 100) / 100 } : {}),
        failedSopInstanceUids: failedUids,
        ...(end.cancelled ? { cancelled: true, error: 'cancelled (C-CANCEL sent)', code: 'CANCELLED' } : {}),
        ...(end.error === undefined ? {} : { error: end.error, code: end.code }),
      });
      return;
    }
    if (end.error !== undefined) out.error(`dimse-rx ${command}: ${end.error}`);
    if (end.cancelled) out.error(`dimse-rx ${command}: cancelled (C-CANCEL sent)`);
    const how =
      statusCode !== undefined
        ? `${dimseStatus(statusCode, {}, this.#service).meaning} (${hex(statusCode)})`
        : end.cancelled
          ? 'cancelled'
          : 'failed';
    const bytes = local ? `; ${this.#files} file${this.#files === 1 ? '' : 's'}, ${mb(this.#bytes)} MB` : '';
    const rate = local ? `, ${(this.#bytes / 1e6 / seconds).toFixed(1)} MB/s` : '';
    out.line(`${this.#service} ${how}: ${countText(this.#counts, false)}${bytes} in ${seconds.toFixed(1)} s${rate}`);
    for (const uid of failedUids) out.line(`not retrieved: ${uid}`);
  }
}

const countFields = (c: SubOperationCounts) => ({
  completed: c.completed,
  failed: c.failed,
  warning: c.warning,
  ...(c.remaining === undefined ? {} : { remaining: c.remaining }),
});

/** The counts in words: `3 completed, 0 failed, 0 warning, 7 remaining`. */
const countText = (c: SubOperationCounts, remaining = true) =>
  `${c.completed} completed, ${c.failed} failed, ${c.warning} warning${remaining && c.remaining !== undefined ? `, ${c.remaining} remaining` : ''}`;
