/** The storage SOP class table: complete enough to accept what PS3.4 Annex B names, exact enough to refuse the rest. */
import { describe, expect, it } from 'vitest';
import { describeUid, isStorageSopClass, STORAGE_SOP_CLASSES, sopClassName, storageSopClass, transferSyntaxName } from '../src/index.js';

describe('STORAGE_SOP_CLASSES', () => {
  it('holds each UID once, well formed, with a name and a keyword', () => {
    const uids = STORAGE_SOP_CLASSES.map((c) => c.uid);
    expect(new Set(uids).size).toBe(uids.length);
    expect(uids.length).toBeGreaterThan(200);
    for (const c of STORAGE_SOP_CLASSES) {
      expect(c.uid).toMatch(/^1\.2\.840\.10008\.5\.1\.4(\.\d+)+$/);
      expect(c.name).toMatch(/Storage/);
      expect(c.keyword).toMatch(/^[A-Za-z0-9]+$/);
    }
  });

  it('has the classes modalities send, the newer ones and the retired ones still met', () => {
    const expected: [string, string, boolean][] = [
      ['1.2.840.10008.5.1.4.1.1.2', 'CT Image Storage', false],
      ['1.2.840.10008.5.1.4.1.1.4', 'MR Image Storage', false],
      ['1.2.840.10008.5.1.4.1.1.7', 'Secondary Capture Image Storage', false],
      ['1.2.840.10008.5.1.4.1.1.66.4', 'Segmentation Storage', false],
      ['1.2.840.10008.5.1.4.1.1.88.22', 'Enhanced SR Storage', false],
      ['1.2.840.10008.5.1.4.1.1.481.5', 'RT Plan Storage', false],
      ['1.2.840.10008.5.1.4.1.1.9.1.1', '12-lead ECG Waveform Storage', false],
      ['1.2.840.10008.5.1.4.1.1.77.1.6', 'VL Whole Slide Microscopy Image Storage', false],
      ['1.2.840.10008.5.1.4.1.1.104.1', 'Encapsulated PDF Storage', false],
      ['1.2.840.10008.5.1.4.1.1.6', 'Ultrasound Image Storage', true],
      ['1.2.840.10008.5.1.4.1.1.5', 'Nuclear Medicine Image Storage', true],
    ];
    for (const [uid, name, retired] of expected) {
      expect(storageSopClass(uid)).toMatchObject({ uid, name, retired, service: 'storage' });
    }
    expect(storageSopClass('CTImageStorage')?.uid).toBe('1.2.840.10008.5.1.4.1.1.2');
    expect(storageSopClass('1.2.840.10008.5.1.4.38.1')).toMatchObject({ name: 'Hanging Protocol Storage', service: 'non-patient' });
  });

  it('is storage only: query/retrieve, worklist, verification, commitment and unknown UIDs are not in it', () => {
    for (const uid of [
      '1.2.840.10008.1.1',
      '1.2.840.10008.1.20.1',
      '1.2.840.10008.5.1.4.1.2.2.1',
      '1.2.840.10008.5.1.4.1.2.1.2',
      '1.2.840.10008.5.1.4.31',
      '1.2.840.10008.5.1.4.1.1.9999',
      '1.2.840.10008.5.1.4.1.1',
      '',
    ]) {
      expect(isStorageSopClass(uid), uid).toBe(false);
    }
    expect(isStorageSopClass('1.2.840.10008.5.1.4.1.1.66.4')).toBe(true);
  });
});

describe('names for messages', () => {
  it('names SOP classes and transfer syntaxes, marks retired ones, and leaves unknown UIDs bare', () => {
    expect(sopClassName('1.2.840.10008.1.1')).toBe('Verification');
    expect(sopClassName('1.2.840.10008.5.1.4.1.2.2.1')).toBe('Study Root Query/Retrieve Information Model - FIND');
    expect(sopClassName('1.2.840.10008.5.1.4.1.1.6')).toBe('Ultrasound Image Storage (Retired)');
    expect(sopClassName('1.2.3.4')).toBeUndefined();
    expect(transferSyntaxName('1.2.840.10008.1.2.1.99')).toBe('Deflated Explicit VR Little Endian');
    expect(transferSyntaxName('1.2.840.10008.1.2.2')).toBe('Explicit VR Big Endian (Retired)');
    expect(transferSyntaxName('1.2.840.10008.1.2.4.90')).toBe('JPEG 2000 Image Compression (Lossless Only)');
    expect(describeUid('1.2.840.10008.5.1.4.1.1.2')).toBe('1.2.840.10008.5.1.4.1.1.2 (CT Image Storage)');
    expect(describeUid('1.2.840.10008.1.2')).toBe('1.2.840.10008.1.2 (Implicit VR Little Endian)');
    expect(describeUid('1.2.3.4')).toBe('1.2.3.4');
  });
});
