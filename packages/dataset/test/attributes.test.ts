/**
 * readAttributes(): chosen attributes from the head of a data set stream, leaving the stream as
 * soon as they are found or `until` is passed, in bounded memory.
 */
import { Readable } from 'node:stream';
import { encodeDataset, readAttributes, TransferSyntax } from '@dimse-rx/dataset';
import { generateSampleStudy } from '@dimse-rx/dataset/sample';
import { describe, expect, it } from 'vitest';

const [image] = generateSampleStudy({ images: 1, rows: 512, columns: 512, seed: 9 });
const bytes = encodeDataset(image!, TransferSyntax.ExplicitVrLittleEndian);

/** The bytes in chunks of `size`, counting how many were taken. */
function chunked(size: number) {
  const taken = { chunks: 0 };
  function* chunks() {
    for (let o = 0; o < bytes.length; o += size) {
      taken.chunks++;
      yield bytes.subarray(o, o + size);
    }
  }
  return { chunks: chunks(), taken };
}

describe('readAttributes', () => {
  it('reads the attributes asked for and stops taking chunks once they are found', async () => {
    const { chunks, taken } = chunked(4096);
    const head = await readAttributes(chunks, ['SOPInstanceUID', 'StudyInstanceUID', 'PatientID']);
    expect(head.error).toBeUndefined();
    expect(head.string('SOPInstanceUID')).toBe(image!.SOPInstanceUID);
    expect(head.string('StudyInstanceUID')).toBe(image!.StudyInstanceUID);
    expect(head.string('PatientID')).toBe(image!.PatientID);
    // 512 × 512 × 2 bytes of pixel data follow: none of it was read.
    expect(bytes.length).toBeGreaterThan(500_000);
    expect(taken.chunks).toBeLessThanOrEqual(2);
  });

  it('stops past `until` even when an attribute asked for is absent, and destroys a Node stream it leaves', async () => {
    const stream = Readable.from(chunked(16_384).chunks, { objectMode: true });
    const head = await readAttributes(stream, ['StudyInstanceUID', 'PixelSpacingCalibrationDescription'], { until: 'Rows' });
    expect(head.string('StudyInstanceUID')).toBe(image!.StudyInstanceUID);
    expect(head.string('PixelSpacingCalibrationDescription')).toBeUndefined();
    expect(head.complete).toBe(true);
    expect(stream.destroyed).toBe(true);
  });

  it('reads a whole stream to its end when an attribute is absent and no `until` is given, and says what broke', async () => {
    const { chunks, taken } = chunked(65_536);
    const head = await readAttributes(chunks, ['PixelSpacingCalibrationDescription'], {
      transferSyntaxUid: TransferSyntax.ExplicitVrLittleEndian,
    });
    expect(head.string('PixelSpacingCalibrationDescription')).toBeUndefined();
    expect(taken.chunks).toBe(Math.ceil(bytes.length / 65_536));
    const broken = await readAttributes([Buffer.from('this is not a data set at all')], ['PatientName']);
    expect(broken.error?.name).toBe('DataSetHeadError');
  });
});
