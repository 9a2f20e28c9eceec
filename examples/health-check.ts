/**
 * A health check: C-ECHO to a peer every few seconds, each one inside its own association.
 * Timeout and retry are RxJS operators around `withAssociation`; typed errors become words;
 * when the peer comes back, the next check says so.
 *
 *   node examples/dist/health-check.js HOST PORT [--every SECONDS] [--count N] [--aec AE]
 */

import { pathToFileURL } from 'node:url';
import { AssociationAbortedError, AssociationRejectedError, AssociationTimeoutError, ConnectionError } from '@dimse-rx/association';
import { echo, NoPresentationContextError, VERIFICATION_SOP_CLASS, withAssociation } from '@dimse-rx/dimse';
import { catchError, exhaustMap, map, type Observable, of, retry, TimeoutError, take, timeout, timer } from 'rxjs';

export interface Target {
  readonly host: string;
  readonly port: number;
  readonly calledAeTitle?: string;
}

/** One check: up with the round trip, or down with the reason in words. */
export type Health = { readonly up: true; readonly ms: number; readonly status: number } | { readonly up: false; readonly reason: string };

/** What went wrong, as an operator reads it. */
export function describe(error: unknown): string {
  if (error instanceof ConnectionError) return `cannot connect (${error.code ?? error.message})`;
  if (error instanceof AssociationRejectedError) return `association rejected: ${error.message}`;
  if (error instanceof AssociationAbortedError) return `association aborted: ${error.message}`;
  if (error instanceof AssociationTimeoutError) return `no answer in time (${error.timer})`;
  if (error instanceof TimeoutError) return 'no C-ECHO response in time';
  if (error instanceof NoPresentationContextError) return 'the peer does not accept Verification';
  return error instanceof Error ? error.message : String(error);
}

/** C-ECHO every `everyMs`; a check that fails is retried twice before it counts as down. */
export function healthCheck(target: Target, everyMs = 5_000, timeoutMs = 3_000): Observable<Health> {
  const check = (): Observable<Health> => {
    const started = performance.now();
    return withAssociation(
      {
        host: target.host,
        port: target.port,
        callingAeTitle: 'HEALTH-CHECK',
        calledAeTitle: target.calledAeTitle ?? 'ANY-SCP',
        presentationContexts: [{ abstractSyntax: VERIFICATION_SOP_CLASS, transferSyntaxes: ['1.2.840.10008.1.2'] }],
        timeouts: { connect: timeoutMs, acse: timeoutMs, artim: timeoutMs },
      },
      (association) => echo(association),
    ).pipe(
      timeout(timeoutMs),
      retry({ count: 2, delay: 200 }),
      map((status): Health => ({ up: true, ms: Math.round(performance.now() - started), status: status.code })),
      catchError((error: unknown) => of<Health>({ up: false, reason: describe(error) })),
    );
  };
  // exhaustMap: a check still running when the next is due is not doubled.
  return timer(0, everyMs).pipe(exhaustMap(check));
}

function main(args: string[]): void {
  const [host, port] = args;
  const option = (name: string) => {
    const i = args.indexOf(name);
    return i < 0 ? undefined : args[i + 1];
  };
  if (!host || !port) {
    console.error('usage: health-check HOST PORT [--every SECONDS] [--count N] [--aec AE]');
    process.exit(2);
  }
  const every = Number(option('--every') ?? 5) * 1000;
  const count = Number(option('--count') ?? Number.POSITIVE_INFINITY);
  const aec = option('--aec');
  let last: boolean | undefined;
  healthCheck({ host, port: Number(port), ...(aec ? { calledAeTitle: aec } : {}) }, every)
    .pipe(take(count))
    .subscribe((health) => {
      const changed = last !== undefined && last !== health.up ? (health.up ? ' (back up)' : ' (went down)') : '';
      last = health.up;
      console.log(
        health.up
          ? `UP ${health.ms} ms, status 0x${health.status.toString(16).padStart(4, '0')}${changed}`
          : `DOWN ${health.reason}${changed}`,
      );
    });
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) main(process.argv.slice(2));
