/**
 * `dimse-rx store` as a storescu user expects it: warnings count as stored, files that are not
 * DICOM are reported once and do not fail the run, folders are recursed into only with -r,
 * DICOMDIR files are skipped, every file gets exactly one result line.
 */
import { mkdir, mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodeDataset, encodeFileMetaInformation, TransferSyntax } from '@dimse-rx/dimse';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { main } from '../src/main.js';
import { answering, capture, jsonLines, startScp, startStorescp, writeStudy } from './support.js';

describe('dimse-rx store: results as storescu users expect them', () => {
  let work: string;
  const stops: (() => unknown)[] = [];

  beforeEach(async () => {
    work = await mkdtemp(join(tmpdir(), 'dimse-rx-store-'));
  });
  afterEach(async () => {
    for (const stop of stops.splice(0)) await stop();
    await rm(work, { recursive: true, force: true });
  });

  it('counts a warning status (0xB000, 0xB007) as stored: exit 0, a warning line for each', async () => {
    const files = await writeStudy(work, 3, 1);
    const peer = await startScp(answering((n) => [0xb000, 0x0000, 0xb007][n - 1]!));
    stops.push(peer.stop);
    const c = capture();
    expect(await main(['store', '127.0.0.1', String(peer.port), ...files.map((f) => f.path)], c.io)).toBe(0);
    expect(c.out.filter((l) => l.startsWith('warning '))).toEqual([
      expect.stringMatching(/^warning .*image-0\.dcm: .*\(0xb000\)$/),
      expect.stringMatching(/^warning .*image-2\.dcm: .*\(0xb007\)$/),
    ]);
    expect(c.out.at(-1)).toMatch(/^1 stored, 2 with warnings, 0 failed, 0 not sent, 0 skipped; /);
  });

  it('reports each file that is not DICOM once, its path once, and exits 0 when the DICOM files are stored', async () => {
    const files = await writeStudy(work, 2, 2);
    const text = join(work, 'notes.txt');
    const empty = join(work, 'empty.dcm');
    await writeFile(text, 'these are not the images you are looking for');
    await writeFile(empty, '');
    const scp = await startStorescp(['--discard']);
    stops.push(scp.stop);

    const c = capture();
    expect(await main(['store', '127.0.0.1', String(scp.port), work], c.io)).toBe(0);
    const all = [...c.out, ...c.err];
    for (const path of [text, empty]) {
      const mentions = all.filter((l) => l.includes(path));
      expect(mentions).toHaveLength(1);
      expect(mentions[0]).toMatch(/^skipped /);
      expect(mentions[0]!.split(path)).toHaveLength(2); // the path once in its line
    }
    expect(c.out.filter((l) => l.startsWith('stored '))).toHaveLength(files.length);
    expect(c.out.at(-1)).toMatch(/^2 stored, 0 with warnings, 0 failed, 0 not sent, 2 skipped; /);

    const j = capture();
    expect(await main(['store', '127.0.0.1', String(scp.port), text, files[0]!.path, '--json'], j.io)).toBe(0);
    expect(jsonLines(j.out)[0]).toEqual({
      command: 'store',
      file: text,
      result: 'skipped',
      reason: expect.stringMatching(/not DICOM/),
      code: 'NOT_DICOM',
    });
  });

  it('sends a file named twice once, with one line', async () => {
    const [file] = await writeStudy(work, 1, 8);
    const received: string[] = [];
    const peer = await startScp((info, data) => {
      received.push(info.sopInstanceUid);
      return answering(() => 0)(info, data);
    });
    stops.push(peer.stop);
    const c = capture();
    expect(await main(['store', '127.0.0.1', String(peer.port), file!.path, work, join(work, '.', 'image-0.dcm')], c.io)).toBe(0);
    expect(received).toEqual([file!.uid]);
    expect(c.out.filter((l) => l.includes('image-0.dcm'))).toHaveLength(1);
    expect(c.out.at(-1)).toMatch(/^1 stored, /);
  });

  it('exits 1 without connecting when nothing is DICOM', async () => {
    await writeFile(join(work, 'a.txt'), 'text');
    const c = capture();
    // Port 9 (discard) is never reached: nothing to send.
    expect(await main(['store', '127.0.0.1', '9', join(work, 'a.txt')], c.io)).toBe(1);
    expect(c.err).toContain('dimse-rx store: no DICOM file to send');
    expect(c.out.at(-1)).toMatch(/^0 stored, 0 with warnings, 0 failed, 0 not sent, 1 skipped; /);
  });

  it('sends the files of sub-folders only with --recursive, -r or +r', async () => {
    const source = join(work, 'source');
    await mkdir(join(source, 'series', 'deeper'), { recursive: true });
    const top = await writeStudy(source, 2, 3, 'top');
    const nested = [
      ...(await writeStudy(join(source, 'series'), 1, 4, 'mid')),
      ...(await writeStudy(join(source, 'series', 'deeper'), 1, 5, 'deep')),
    ];

    for (const flag of [undefined, '--recursive', '-r', '+r']) {
      const out = join(work, `received-${flag ?? 'none'}`);
      const scp = await startStorescp(['--out', out]);
      const c = capture();
      expect(await main(['store', '127.0.0.1', String(scp.port), source, ...(flag ? [flag] : [])], c.io)).toBe(0);
      await scp.stop();
      const stored = (await readdir(out)).sort();
      if (flag === undefined) {
        expect(stored).toEqual(top.map((f) => `${f.uid}.dcm`).sort());
        expect(c.err).toEqual([expect.stringMatching(/^1 sub-folder not scanned \(--recursive sends their files too\): .*series$/)]);
      } else {
        expect(stored).toEqual([...top, ...nested].map((f) => `${f.uid}.dcm`).sort());
        expect(c.err).toEqual([]);
      }
      await rm(out, { recursive: true });
    }
  });

  it('skips DICOMDIR files, by name and by SOP class, with one line each', async () => {
    const files = await writeStudy(work, 1, 6);
    const directory = Buffer.concat([
      encodeFileMetaInformation({
        mediaStorageSopClassUid: '1.2.840.10008.1.3.10',
        mediaStorageSopInstanceUid: '1.2.3.4.5',
        transferSyntaxUid: TransferSyntax.ExplicitVrLittleEndian,
      }),
      encodeDataset({ SOPClassUID: '1.2.840.10008.1.3.10', SOPInstanceUID: '1.2.3.4.5' }, TransferSyntax.ExplicitVrLittleEndian),
    ]);
    await writeFile(join(work, 'DICOMDIR'), directory);
    await writeFile(join(work, 'index.dcm'), directory);
    const scp = await startStorescp(['--discard', '--json']);
    stops.push(scp.stop);
    const c = capture();
    expect(await main(['store', '127.0.0.1', String(scp.port), work, '--json'], c.io)).toBe(0);
    const results = jsonLines(c.out);
    expect(results.filter((r) => r.code === 'DICOMDIR').map((r) => r.file)).toEqual([join(work, 'DICOMDIR'), join(work, 'index.dcm')]);
    expect(results.filter((r) => r.result === 'stored').map((r) => r.file)).toEqual([files[0]!.path]);
    // storescp received only the image.
    expect(jsonLines(scp.lines).filter((l) => typeof l.sopInstanceUid === 'string')).toHaveLength(1);
  });

  it('gives every file one JSON line with its size, the bytes sent, seconds to the millisecond, and a code when it failed', async () => {
    const files = await writeStudy(work, 3, 7);
    const peer = await startScp(answering((n) => (n === 2 ? 0xa700 : 0)));
    stops.push(peer.stop);
    const c = capture();
    expect(
      await main(['store', '127.0.0.1', String(peer.port), ...files.map((f) => f.path), join(work, 'missing.dcm'), '--json'], c.io),
    ).toBe(1);
    const results = jsonLines(c.out);
    const perFile = results.filter((r) => typeof r.file === 'string');
    expect(perFile.map((r) => r.file).sort()).toEqual([...files.map((f) => f.path), join(work, 'missing.dcm')].sort());
    expect(perFile.find((r) => r.file === join(work, 'missing.dcm'))).toMatchObject({ result: 'failed', code: 'ENOENT', bytesSent: 0 });
    for (const [i, file] of files.entries()) {
      const line = perFile.find((r) => r.file === file.path)!;
      expect(line).toMatchObject({
        result: i === 1 ? 'failed' : 'stored',
        sopInstanceUid: file.uid,
        fileSize: (await stat(file.path)).size,
        bytesSent: file.dataSet.length,
        association: 1,
      });
      const seconds = line.seconds as number;
      expect(Math.round(seconds * 1000) / 1000).toBe(seconds);
      if (i === 1) expect(line).toMatchObject({ status: 0xa700, code: 'STATUS' });
    }
    expect(results.at(-1)).toMatchObject({ summary: true, stored: 2, failed: 2, notSent: 0, associations: 1 });
    expect(results.at(-1)!.bytesSent).toBe(files.reduce((n, f) => n + f.dataSet.length, 0));
  });
});
