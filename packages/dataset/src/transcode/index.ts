/**
 * On-the-fly conversion of a data set byte stream between the uncompressed transfer syntaxes
 * (PS3.5 A.1 Implicit VR Little Endian, A.2 Explicit VR Little Endian, A.3 Explicit VR Big Endian,
 * A.5 Deflated Explicit VR Little Endian), chunk by chunk in bounded memory.
 */
import { type Duplex, PassThrough, Transform, type TransformCallback } from 'node:stream';
import { createDeflateRaw, createInflateRaw } from 'node:zlib';
import { transferSyntaxProperties } from '../transfer-syntax.js';
import { StageChain } from './chain.js';
import { TranscodeError } from './error.js';
import { ElementRewriter } from './rewriter.js';

export { TranscodeError } from './error.js';

/**
 * Passes bytes through and ends them with one zero byte when there was an odd number of them: a
 * deflated data set is padded to even length (PS3.5 A.5 leaves the stream as it is, but every
 * P-DATA fragment must be even, and DCMTK and pydicom pad it so); inflating ignores the byte.
 */
class EvenPadding extends Transform {
  #odd = false;

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    if (chunk.length % 2 === 1) this.#odd = !this.#odd;
    callback(null, chunk);
  }

  override _flush(callback: TransformCallback): void {
    callback(null, this.#odd ? Buffer.alloc(1) : undefined);
  }
}

/**
 * A Transform (Buffers in, Buffers out, with backpressure) that converts a data set (no Part 10
 * header) from transfer syntax `from` to `to`. The same syntax in and out gives a pass-through.
 * Deflated data (PS3.5 A.5) is raw deflate of the Explicit VR Little Endian stream: it is inflated
 * before and deflated after the element rewriter, and deflated output is padded to even length.
 *
 * What changes besides the encoding (see rewriter.ts and vr.ts):
 * - every sequence and item is written with undefined length and delimitation items;
 * - group length elements (gggg,0000), retired in data sets, are left out;
 * - from Implicit VR, VRs come from the dcmjs dictionary (UN for private and unknown tags);
 * - values too long for a 16-bit length field become UN (PS3.5 6.2.2).
 *
 * Throws TranscodeError at once for a syntax that is not uncompressed (when `from` and `to`
 * differ); the stream errors with TranscodeError for malformed or encapsulated input.
 */
export function createTranscoder(from: string, to: string): Transform {
  if (from === to) return new PassThrough();
  const source = transferSyntaxProperties(from);
  const target = transferSyntaxProperties(to);
  for (const [uid, properties] of [
    [from, source],
    [to, target],
  ] as const) {
    if (properties.encapsulated) {
      throw new TranscodeError(`Cannot convert from ${from} to ${to}: ${uid} is not an uncompressed transfer syntax`, 0);
    }
  }
  const stages: Duplex[] = [];
  if (source.deflated) stages.push(createInflateRaw());
  if (source.explicitVr !== target.explicitVr || source.littleEndian !== target.littleEndian) {
    stages.push(
      new ElementRewriter(
        { explicitVr: source.explicitVr, littleEndian: source.littleEndian },
        { explicitVr: target.explicitVr, littleEndian: target.littleEndian },
      ),
    );
  }
  if (target.deflated) stages.push(createDeflateRaw(), new EvenPadding());
  const [only] = stages;
  // Deflate errors (corrupt input) are reported as TranscodeError by the chain, even for one stage.
  if (stages.length === 1 && only instanceof ElementRewriter) return only;
  return new StageChain(stages);
}
