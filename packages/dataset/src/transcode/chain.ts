/**
 * Several Transform stages (inflate, element rewriter, deflate) seen from outside as one Transform,
 * with backpressure end to end: writes wait for the first stage to drain, and the last stage is
 * paused while the reader of this stream does not want more.
 */
import { type Duplex, Transform, type TransformCallback } from 'node:stream';
import { TranscodeError } from './error.js';

export class StageChain extends Transform {
  readonly #stages: readonly Duplex[];
  readonly #head: Duplex;
  readonly #tail: Duplex;
  /** Bytes written into the chain, for the offset of errors that zlib reports without one. */
  #written = 0;
  #tailEnded = false;
  #onTailEnd: (() => void) | undefined;

  constructor(stages: readonly Duplex[]) {
    super();
    if (stages.length === 0) throw new TypeError('StageChain needs at least one stage');
    this.#stages = stages;
    this.#head = stages[0]!;
    this.#tail = stages[stages.length - 1]!;
    for (let i = 0; i + 1 < stages.length; i++) stages[i]!.pipe(stages[i + 1]!);
    for (const stage of stages) {
      stage.on('error', (error: Error) => {
        this.destroy(
          error instanceof TranscodeError
            ? error
            : new TranscodeError(`Cannot convert the data set: ${error.message}`, this.#written, { cause: error }),
        );
      });
    }
    this.#tail.on('data', (chunk: Buffer) => {
      if (!this.push(chunk)) this.#tail.pause();
    });
    this.#tail.on('end', () => {
      this.#tailEnded = true;
      this.#onTailEnd?.();
    });
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.#written += chunk.length;
    if (this.#head.write(chunk)) callback();
    else this.#head.once('drain', () => callback());
  }

  override _flush(callback: TransformCallback): void {
    if (this.#tailEnded) {
      callback();
      return;
    }
    this.#onTailEnd = () => callback();
    this.#head.end();
  }

  override _read(size: number): void {
    // The reader wants more: let the last stage flow again, then let Transform do its part.
    if (this.#tail.isPaused()) this.#tail.resume();
    super._read(size);
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    for (const stage of this.#stages) stage.destroy();
    callback(error);
  }
}
