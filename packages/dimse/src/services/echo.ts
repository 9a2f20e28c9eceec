import type { Association } from '@dimse-rx/association';
import { map, type Observable } from 'rxjs';
import { Requests } from '../command/builders.js';
import type { DimseStatus } from '../command/status.js';
import { invoke } from '../operation/invoke.js';

/**
 * C-ECHO (PS3.7 9.1.5): emits the response status once and completes. Errors with
 * NoPresentationContextError when Verification was not accepted.
 */
export function echo(association: Association): Observable<DimseStatus> {
  return invoke(association, Requests.cEcho()).pipe(map((response) => response.status));
}
