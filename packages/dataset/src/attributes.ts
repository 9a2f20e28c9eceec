import type { Readable } from 'node:stream';
import { type DataSetHead, DataSetHeadReader } from './head.js';
import { TransferSyntax } from './transfer-syntax.js';

export interface ReadAttributesOptions {
  /** The data set's transfer syntax; Explicit VR Little Endian unless given. */
  readonly transferSyntaxUid?: string;
  /**
   * A top-level attribute (keyword or tag) past which reading stops, found or not: an index
   * that wants the study's keys stops before Pixel Data without walking it.
   */
  readonly until?: string | number;
}

/**
 * Reads chosen attributes from the head of a data set as its chunks come, in bounded memory:
 * element headers are walked and values skipped, only the values asked for are kept, and the
 * stream is left as soon as they are found (or `until` is passed). Resolves with the head (its
 * `error` set when the bytes do not parse as the transfer syntax, or the data set ended first);
 * rejects only when the stream itself fails. A Node stream left early is destroyed.
 */
export async function readAttributes(
  source: AsyncIterable<Uint8Array> | Iterable<Uint8Array> | Readable,
  attributes: readonly (string | number)[],
  options: ReadAttributesOptions = {},
): Promise<DataSetHead> {
  const reader = new DataSetHeadReader(options.transferSyntaxUid ?? TransferSyntax.ExplicitVrLittleEndian, attributes, options.until);
  const chunks = source as AsyncIterable<Uint8Array> | Iterable<Uint8Array>;
  // Leaving the loop early calls the iterator's return(): a Node stream is destroyed by it.
  for await (const chunk of chunks) {
    if (reader.push(chunk)) return reader.head;
  }
  return reader.end();
}
