/**
 * The results of a `store` run: exactly one line per file (stored, warning, failed, not sent,
 * skipped), as words or as JSON, the counts, and the error codes scripts can test.
 */
import { type DimseStatus, describeUid } from '@dimse-rx/dimse';
import { describeError, type Output } from './common.js';
import { errorCode } from './error-code.js';
import type { Progress } from './progress.js';

/** A file found by the scan and readable as DICOM. */
export interface Job {
  readonly path: string;
  readonly sopClassUid: string;
  readonly sopInstanceUid: string;
  readonly transferSyntaxUid: string;
  /** Size of the file on disk. */
  readonly fileSize: number;
  /** Size of its data set: what is sent unless it is converted. */
  readonly dataSetSize: number;
}

/** How a file ended: one of these per file, and only one. */
export type Result = 'stored' | 'warning' | 'failed' | 'not sent' | 'skipped';

/** A response to a C-STORE, as the command line reports it. */
export interface Answer {
  readonly status: DimseStatus;
  readonly transferSyntaxUid: string;
  readonly converted: boolean;
  readonly warnings: readonly string[];
}

const round3 = (seconds: number) => Math.round(seconds * 1000) / 1000;
const hex = (code: number) => `0x${code.toString(16).padStart(4, '0')}`;

/** What went wrong with a file, without the file's path (which its line already starts with). */
export function fileProblem(path: string, error: unknown): string {
  let text = describeError(error);
  if (text.startsWith(`${path}: `)) text = text.slice(path.length + 2);
  // Node's file system errors end with the call and the path: "ENOENT: no such file..., open '/x'".
  const call = text.lastIndexOf(`, `);
  if (call > 0 && text.endsWith(`'${path}'`)) text = text.slice(0, call);
  return text;
}

/** Counts and prints the results of a run. */
export class Results {
  readonly #out: Output;
  readonly #json: boolean;
  readonly #progress: () => Progress | undefined;
  readonly counts: Record<Result, number> = { stored: 0, warning: 0, failed: 0, 'not sent': 0, skipped: 0 };
  bytesSent = 0;
  /** Paths that have their line: a second one for a file is a bug, never printed. */
  readonly #reported = new Set<string>();

  /** `progress`: the bar lines go around, once the files are known. */
  constructor(out: Output, json: boolean, progress: () => Progress | undefined) {
    this.#out = out;
    this.#json = json;
    this.#progress = progress;
  }

  #say(text: string): void {
    const progress = this.#progress();
    if (progress) progress.say(text);
    else this.#out.line(text);
  }

  #once(path: string): boolean {
    if (this.#reported.has(path)) return false;
    this.#reported.add(path);
    return true;
  }

  /** A file not sent because it is not DICOM, or is a DICOMDIR: reported, not a failure. */
  skipped(path: string, reason: string, code: string): void {
    if (!this.#once(path)) return;
    this.counts.skipped++;
    if (this.#json) this.#out.json({ command: 'store', file: path, result: 'skipped', reason, code });
    else this.#say(`skipped ${path}: ${reason}`);
  }

  /** The peer answered the C-STORE. */
  answered(job: Job, answer: Answer, bytesSent: number, seconds: number, association: number): void {
    if (!this.#once(job.path)) return;
    const { status } = answer;
    const result: Result = status.kind === 'success' ? 'stored' : status.kind === 'warning' ? 'warning' : 'failed';
    this.counts[result]++;
    this.bytesSent += bytesSent;
    if (this.#json) {
      this.#out.json({
        command: 'store',
        file: job.path,
        result,
        sopClassUid: job.sopClassUid,
        sopInstanceUid: job.sopInstanceUid,
        status: status.code,
        kind: status.kind,
        meaning: status.meaning,
        ...(status.errorComment ? { errorComment: status.errorComment } : {}),
        transferSyntax: answer.transferSyntaxUid,
        converted: answer.converted,
        fileSize: job.fileSize,
        bytesSent,
        seconds: round3(seconds),
        association,
        ...(answer.warnings.length > 0 ? { warnings: answer.warnings } : {}),
        ...(result === 'failed' ? { error: `${status.meaning} (${hex(status.code)})`, code: 'STATUS' } : {}),
      });
      return;
    }
    const progress = this.#progress();
    // On a terminal the bar shows the successes; what needs a look is printed.
    if (result === 'stored' && progress?.interactive && answer.warnings.length === 0) return;
    const comment = status.errorComment ? `: ${status.errorComment}` : '';
    const sentAs = answer.converted ? `, sent as ${describeUid(answer.transferSyntaxUid)}` : '';
    const notes = answer.warnings.length > 0 ? `; ${answer.warnings.join('; ')}` : '';
    this.#say(`${result} ${job.path}: ${status.meaning}${comment} (${hex(status.code)})${sentAs}${notes}`);
  }

  /** The file could not be stored: an error while it was sent, or before (it could not be read, no context fits). */
  failed(path: string, error: unknown, bytesSent: number, seconds: number, association?: number): void {
    if (!this.#once(path)) return;
    this.counts.failed++;
    this.bytesSent += bytesSent;
    const reason = fileProblem(path, error);
    if (this.#json) {
      this.#out.json({
        command: 'store',
        file: path,
        result: 'failed',
        error: reason,
        code: errorCode(error),
        bytesSent,
        seconds: round3(seconds),
        ...(association === undefined ? {} : { association }),
      });
    } else this.#say(`failed ${path}: ${reason}`);
  }

  /** The file was never sent: the association it waited for could not be had. */
  notSent(path: string, reason: string, code: string): void {
    if (!this.#once(path)) return;
    this.counts['not sent']++;
    if (this.#json) this.#out.json({ command: 'store', file: path, result: 'not sent', error: reason, code });
    else this.#say(`not sent ${path}: ${reason}`);
  }

  /** Something about the run rather than one file (an association ended early, a new one opened). */
  note(text: string, fields: Record<string, unknown>): void {
    if (this.#json) this.#out.json({ command: 'store', ...fields, message: text });
    else this.#say(text);
  }

  /** Every file sent was stored (with success or a warning): what makes the exit code 0. */
  get allStored(): boolean {
    return this.counts.failed === 0 && this.counts['not sent'] === 0;
  }

  summary(seconds: number, associations: number, errors: readonly string[]): void {
    const c = this.counts;
    if (this.#json) {
      this.#out.json({
        command: 'store',
        summary: true,
        stored: c.stored,
        warnings: c.warning,
        failed: c.failed,
        notSent: c['not sent'],
        skipped: c.skipped,
        bytesSent: this.bytesSent,
        seconds: round3(seconds),
        associations,
        ...(errors.length > 0 ? { error: errors.join('; ') } : {}),
      });
      return;
    }
    for (const error of errors) this.#out.error(`dimse-rx store: ${error}`);
    this.#out.line(
      `${c.stored} stored, ${c.warning} with warnings, ${c.failed} failed, ${c['not sent']} not sent, ${c.skipped} skipped; ` +
        `${(this.bytesSent / 1e6).toFixed(1)} MB in ${seconds.toFixed(1)} s` +
        (associations > 1 ? ` over ${associations} associations` : ''),
    );
  }
}
