import type { PDataTf } from '@dimse-rx/pdu';
import { Observable, type OperatorFunction } from 'rxjs';
import { type Command, CommandError, checkCommand, parseCommand } from '../command/codec.js';
import { NO_DATA_SET } from '../command/fields.js';
import { DataSetStream } from './data-set-stream.js';
import type { DimseMessage } from './message.js';

/** Command sets are small; one larger than this is not a command set (PS3.7 E). */
const MAX_COMMAND_LENGTH = 1 << 20;

/** PDVs that break the rules of message fragmentation (PS3.7 Annex E, PS3.8 9.3.5): the association is aborted. */
export class MessageAssemblyError extends Error {
  override readonly name = 'MessageAssemblyError';
}

/**
 * Rebuilds DIMSE messages from P-DATA-TF PDUs (PS3.7 Annex E): the command fragments are
 * gathered and decoded, the data set fragments handed on as they come, as views.
 * `accepted` tells which presentation context IDs were accepted.
 */
export class MessageAssembler {
  readonly #accepted: (id: number) => boolean;
  readonly #hold: () => () => void;
  #command: Uint8Array[] = [];
  #commandLength = 0;
  #contextId: number | undefined;
  #dataSet: DataSetStream | undefined;

  constructor(accepted: (id: number) => boolean, hold: () => () => void) {
    this.#accepted = accepted;
    this.#hold = hold;
  }

  /** Takes one P-DATA-TF; returns the messages whose command completed in it. Throws MessageAssemblyError. */
  push(pdu: PDataTf): DimseMessage[] {
    const out: DimseMessage[] = [];
    for (const pdv of pdu.pdvs) {
      const id = pdv.presentationContextId;
      if (!this.#accepted(id)) throw new MessageAssemblyError(`PDV on presentation context ${id}, which was not accepted`);
      if (this.#contextId !== undefined && id !== this.#contextId) {
        throw new MessageAssemblyError(`PDV on presentation context ${id} inside a message on context ${this.#contextId}`);
      }
      if (pdv.command) {
        if (this.#dataSet) throw new MessageAssemblyError('Command fragment while a data set was being received');
        this.#contextId = id;
        this.#commandLength += pdv.value.length;
        if (this.#commandLength > MAX_COMMAND_LENGTH) throw new MessageAssemblyError(`Command set longer than ${MAX_COMMAND_LENGTH} bytes`);
        this.#command.push(pdv.value);
        if (pdv.last) out.push(this.#commandDone(id));
      } else {
        const dataSet = this.#dataSet;
        if (!dataSet) throw new MessageAssemblyError('Data set fragment without a command announcing one');
        dataSet.push(pdv.value);
        if (pdv.last) {
          this.#dataSet = undefined;
          this.#contextId = undefined;
          dataSet.end();
        }
      }
    }
    return out;
  }

  /** The association ended: a data set still arriving fails with `error`. */
  fail(error: Error): void {
    this.#dataSet?.fail(error);
    this.#dataSet = undefined;
  }

  #commandDone(presentationContextId: number): DimseMessage {
    const bytes = this.#command.length === 1 ? this.#command[0]! : Buffer.concat(this.#command);
    this.#command = [];
    this.#commandLength = 0;
    let fields: Partial<Command>;
    try {
      fields = parseCommand(bytes);
    } catch (error) {
      throw new MessageAssemblyError(`Command set cannot be read: ${(error as Error).message}`);
    }
    const withData = fields.commandDataSetType !== undefined && fields.commandDataSetType !== NO_DATA_SET;
    const dataSet = withData ? new DataSetStream(this.#hold) : undefined;
    if (dataSet) this.#dataSet = dataSet;
    else this.#contextId = undefined;
    let problem: CommandError | undefined;
    try {
      checkCommand(fields);
    } catch (error) {
      if (!(error instanceof CommandError)) throw error;
      problem = error;
    }
    const command = fields as Command;
    return problem ? { presentationContextId, command, dataSet, problem } : { presentationContextId, command, dataSet };
  }
}

/** How reassembly treats what it receives. */
export interface AssembleOptions {
  /** Which presentation context IDs were accepted; PDVs on others error the stream. Default: all. */
  readonly accepted?: (id: number) => boolean;
  /** Pauses the source while a data set's consumer falls behind (`Association.hold`). Default: never pauses. */
  readonly hold?: () => () => void;
}

/**
 * The operator form of MessageAssembler: P-DATA-TF PDUs in, DIMSE messages out, each emitted
 * as soon as its command set is complete, with its data set as a stream that fills as the
 * following PDUs arrive. Errors with MessageAssemblyError when the PDVs break PS3.7 Annex E;
 * when the source ends or errors, a data set still arriving fails.
 */
export function assembleMessages(options: AssembleOptions = {}): OperatorFunction<PDataTf, DimseMessage> {
  return (source) =>
    new Observable<DimseMessage>((subscriber) => {
      const assembler = new MessageAssembler(options.accepted ?? (() => true), options.hold ?? (() => () => undefined));
      return source.subscribe({
        next: (pdu) => {
          let messages: DimseMessage[];
          try {
            messages = assembler.push(pdu);
          } catch (error) {
            assembler.fail(error as Error);
            subscriber.error(error);
            return;
          }
          for (const message of messages) subscriber.next(message);
        },
        error: (error: unknown) => {
          assembler.fail(error instanceof Error ? error : new Error(String(error)));
          subscriber.error(error);
        },
        complete: () => {
          assembler.fail(new MessageAssemblyError('The P-DATA stream ended inside a data set'));
          subscriber.complete();
        },
      });
    });
}
