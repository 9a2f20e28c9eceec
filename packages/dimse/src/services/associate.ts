import { type AssociateInternals, type AssociateOptions, type Association, associate as associateUl } from '@dimse-rx/association';
import { Observable, type Subscription, TimeoutError, tap } from 'rxjs';
import { dimse } from '../channel.js';

/**
 * Requests an association, as `associate()` of @dimse-rx/association does, with its DIMSE
 * channel created before the association is emitted: what the peer sends from the first
 * moment (an N-EVENT-REPORT, a request nobody here handles) is read and answered.
 */
export function associate(options: AssociateOptions, internals: AssociateInternals = {}): Observable<Association> {
  return associateUl(options, internals).pipe(tap((association) => dimse(association)));
}

/**
 * Scoped use: associates (with the DIMSE channel created at once), runs `work` on the
 * association, and ends it: released when the work completes (once what it queued, a C-CANCEL
 * say, is written; the result completes once the release is done) or errors, aborted when it errors with a TimeoutError (a peer that stopped
 * answering is not asked to release) or is unsubscribed before the association is established.
 * The work's error is the result's, not the end of the association it causes.
 */
export function withAssociation<T>(
  options: AssociateOptions,
  work: (association: Association) => Observable<T>,
  internals: AssociateInternals = {},
): Observable<T> {
  return new Observable<T>((subscriber) => {
    let inner: Subscription | undefined;
    /** The work ended: what the association does after that is not the result's business. */
    let settled = false;
    const outer = associate(options, internals).subscribe({
      next: (association) => {
        inner = work(association).subscribe({
          next: (value) => subscriber.next(value),
          error: (error: unknown) => {
            settled = true;
            if (error instanceof TimeoutError) association.abort();
            subscriber.error(error);
          },
          complete: () => {
            settled = true;
            dimse(association)
              .release()
              .subscribe({ error: (error: unknown) => subscriber.error(error), complete: () => subscriber.complete() });
          },
        });
      },
      error: (error: unknown) => {
        if (!settled) subscriber.error(error);
      },
      complete: () => {
        if (!settled) subscriber.complete();
      },
    });
    return () => {
      inner?.unsubscribe();
      // Releases an established association still open, aborts one being negotiated.
      outer.unsubscribe();
    };
  });
}
