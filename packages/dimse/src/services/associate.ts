import {
  type AssociateInternals,
  type AssociateOptions,
  type Association,
  associate as associateUl,
  withAssociation as withAssociationUl,
} from '@dimse-rx/association';
import { type Observable, tap } from 'rxjs';
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
 * Scoped use: associates (with the DIMSE channel created at once), runs `work`, and releases
 * when the work completes (the result completes once the release is done) or errors.
 */
export function withAssociation<T>(options: AssociateOptions, work: (association: Association) => Observable<T>): Observable<T> {
  return withAssociationUl(options, (association) => {
    dimse(association);
    return work(association);
  });
}
