import type { Association } from '@dimse-rx/association';
import { describeUid } from '@dimse-rx/dataset';
import { concatMap, defer, map, type Observable, of, throwError } from 'rxjs';
import { type DimseChannel, dimse, type RequestOptions } from '../channel.js';
import type { RequestCommand } from '../command/builders.js';
import type { Command } from '../command/codec.js';
import { type DimseStatus, dimseStatus, statusKind } from '../command/status.js';
import { commandName, commandSpec, sopClassOf } from '../command/table.js';
import type { DataSetStream } from '../message/data-set-stream.js';
import type { DimseMessage } from '../message/message.js';

/** A service needs a presentation context the peer did not accept. */
export class NoPresentationContextError extends Error {
  override readonly name = 'NoPresentationContextError';
}

/**
 * What becomes of a response's data set: read and dropped, collected whole (the bytes, in the
 * context's transfer syntax), or handed on as a stream to read at one's own pace.
 */
export type DataSetPolicy = 'discard' | 'collect' | 'stream';

/** The data set a response carries under each policy (undefined when it has none). */
export interface PolicyDataSet {
  readonly discard: undefined;
  readonly collect: Buffer | undefined;
  readonly stream: DataSetStream | undefined;
}

/** One response to an invoked operation: pending ones, then the final one. */
export interface DimseResponse<D = undefined> {
  /** The status, with its meaning for the operation's service. */
  readonly status: DimseStatus;
  /** The last response of the operation (any status but pending). */
  readonly final: boolean;
  /** Every field of the response command (sub-operation counts, Affected SOP Instance UID...). */
  readonly command: Command;
  readonly dataSet: D;
}

export interface InvokeOptions<P extends DataSetPolicy = 'discard'> extends RequestOptions {
  /** The presentation context to send it on; by default the first accepted for the request's SOP class. */
  readonly presentationContextId?: number;
  /** Of the contexts of the SOP class, the first with one of these transfer syntaxes. */
  readonly transferSyntaxes?: readonly string[];
  /** What to do with the responses' data sets: 'discard' unless set. */
  readonly dataSets?: P;
}

/**
 * Invokes one DIMSE operation and emits its responses as typed values, pending ones then the
 * final one, after which it completes. It waits for a place in the asynchronous operations
 * window; unsubscribing before the end cancels (C-CANCEL-RQ where the command table allows
 * one) and the association is aborted if the peer does not end it within `cancelGrace`.
 * Errors with NoPresentationContextError when no accepted context fits, RoleNotNegotiatedError
 * when this side may not invoke it, and with the association's end when that comes first.
 */
export function invoke<P extends DataSetPolicy = 'discard'>(
  target: DimseChannel | Association,
  request: RequestCommand,
  options: InvokeOptions<P> = {},
): Observable<DimseResponse<PolicyDataSet[P]>> {
  return defer(() => {
    const channel = 'request' in target ? target : dimse(target);
    const row = commandSpec(request.commandField);
    if (row?.kind !== 'request') return throwError(() => new RangeError(`${commandName(request.commandField)} is not a request`));
    const sopClassUid = sopClassOf(request);
    const contextId =
      options.presentationContextId ?? (sopClassUid === undefined ? undefined : channel.context(sopClassUid, options.transferSyntaxes)?.id);
    if (contextId === undefined) {
      const what = sopClassUid === undefined ? 'a SOP class' : describeUid(sopClassUid);
      return throwError(
        () =>
          new NoPresentationContextError(
            `The peer did not accept ${what}${options.transferSyntaxes ? ' in the transfer syntaxes asked for' : ''}`,
          ),
      );
    }
    const policy: DataSetPolicy = options.dataSets ?? 'discard';
    const typed = (message: DimseMessage, dataSet: unknown): DimseResponse<PolicyDataSet[P]> => {
      const { command } = message;
      const code = command.status ?? 0;
      return {
        status: dimseStatus(code, command, row.service),
        final: statusKind(code) !== 'pending',
        command,
        dataSet: dataSet as PolicyDataSet[P],
      };
    };
    return channel.request(contextId, request, options).pipe(
      policy === 'collect'
        ? concatMap((message) =>
            message.dataSet ? message.dataSet.collect().pipe(map((bytes) => typed(message, bytes))) : of(typed(message, undefined)),
          )
        : map((message) => {
            if (policy === 'discard') {
              message.dataSet?.discard();
              return typed(message, undefined);
            }
            return typed(message, message.dataSet);
          }),
    );
  });
}
