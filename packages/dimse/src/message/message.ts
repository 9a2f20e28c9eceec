import type { Command, CommandError } from '../command/codec.js';
import type { DataSetStream } from './data-set-stream.js';

/** A DIMSE message as it arrives: its command, and its data set as a stream when it has one. */
export interface DimseMessage {
  readonly presentationContextId: number;
  readonly command: Command;
  readonly dataSet: DataSetStream | undefined;
  /**
   * Set when the command could be read but lacks what its type requires: the receiver answers
   * a request with a failure status (PS3.7 C.5), once its data set has been received.
   */
  readonly problem?: CommandError;
}
