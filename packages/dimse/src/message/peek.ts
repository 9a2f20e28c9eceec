import { type DataSetHead, DataSetHeadReader } from '@dimse-rx/dataset';
import { DataSetStream } from './data-set-stream.js';

/** What `peekHead` gives: the head once read, and the whole data set still to be read by someone else. */
export interface PeekedDataSet {
  /**
   * Resolves as soon as the attributes asked for have passed (or at the end of the data set,
   * with `error` set when it does not parse); rejects when the association ends first.
   */
  readonly head: Promise<DataSetHead>;
  /** Every byte of the data set, the head included, for a storage handler (a file sink) to read. */
  readonly data: DataSetStream;
}

/**
 * Reads chosen attributes from the head of a data set as it arrives, without holding or
 * decoding it, and hands the same bytes on: a storage handler logs the patient and study of an
 * image (or decides on them) while the file sink writes it. Backpressure passes through: when
 * the reader of `data` holds, the association's reading is held.
 */
export function peekHead(data: DataSetStream, transferSyntaxUid: string, attributes: readonly (string | number)[]): PeekedDataSet {
  const reader = new DataSetHeadReader(transferSyntaxUid, attributes);
  const copy = new DataSetStream(() => data.hold());
  let settle!: { resolve: (head: DataSetHead) => void; reject: (error: Error) => void };
  const head = new Promise<DataSetHead>((resolve, reject) => {
    settle = { resolve, reject };
  });
  // Nobody may wait for it: a rejection is not to be reported as unhandled.
  head.catch(() => undefined);
  let told = false;
  data.chunks.subscribe({
    next: (chunk) => {
      if (!told && reader.push(chunk)) {
        told = true;
        settle.resolve(reader.head);
      }
      copy.push(chunk);
    },
    complete: () => {
      if (!told) settle.resolve(reader.end());
      copy.end();
    },
    error: (error: Error) => {
      if (!told) settle.reject(error);
      copy.fail(error);
    },
  });
  return { head, data: copy };
}
