import type { Association } from '@dimse-rx/association';
import { map, type Observable, throwError } from 'rxjs';
import { dimse } from '../channel.js';
import { CommandField } from '../command/fields.js';
import { type DimseStatus, dimseStatus } from '../command/status.js';

/** The Verification SOP class, PS3.4 A. */
export const VERIFICATION_SOP_CLASS = '1.2.840.10008.1.1';

/** A service needs a presentation context the peer did not accept. */
export class NoPresentationContextError extends Error {
  override readonly name = 'NoPresentationContextError';
}

/**
 * C-ECHO (PS3.7 9.1.5): emits the response status once and completes. Errors with
 * NoPresentationContextError when Verification was not accepted.
 */
export function echo(association: Association): Observable<DimseStatus> {
  const channel = dimse(association);
  const context = channel.context(VERIFICATION_SOP_CLASS);
  if (!context) {
    return throwError(() => new NoPresentationContextError('The peer did not accept Verification (1.2.840.10008.1.1)'));
  }
  return channel.request(context.id, { commandField: CommandField.CEchoRq, affectedSopClassUid: VERIFICATION_SOP_CLASS }).pipe(
    map(({ command }) =>
      dimseStatus(command.status ?? 0, {
        errorComment: command.errorComment,
        offendingElement: command.offendingElement,
        errorId: command.errorId,
      }),
    ),
  );
}
