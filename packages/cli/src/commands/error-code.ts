import {
  AssociationAbortedError,
  AssociationRejectedError,
  AssociationTimeoutError,
  ConnectionError,
  NoPresentationContextAcceptedError,
} from '@dimse-rx/association';
import { NoPresentationContextError, Part10Error } from '@dimse-rx/dimse';
import { TimeoutError } from 'rxjs';

/**
 * A code for scripts, for an error that kept a file from being stored: the system's (ENOENT,
 * ECONNRESET...) when there is one, else the kind of failure.
 */
export function errorCode(error: unknown): string {
  if (error instanceof AssociationAbortedError) return 'ABORTED';
  if (error instanceof AssociationRejectedError) return 'REJECTED';
  if (error instanceof AssociationTimeoutError) return 'ASSOCIATION_TIMEOUT';
  if (error instanceof ConnectionError) return error.code ?? 'CONNECTION_CLOSED';
  if (error instanceof TimeoutError) return 'DIMSE_TIMEOUT';
  if (error instanceof NoPresentationContextError || error instanceof NoPresentationContextAcceptedError) return 'NO_PRESENTATION_CONTEXT';
  if (error instanceof Part10Error) return 'NOT_DICOM';
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  return typeof code === 'string' ? code : 'ERROR';
}
