/**
 * `dimse-rx store` over several associations: a new one when the peer aborts (--retries), the
 * files split among N at once (--associations).
 */
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Association } from '@dimse-rx/association';
import type { StorageHandler } from '@dimse-rx/dimse';
import { NEVER } from 'rxjs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { main } from '../src/main.js';
import { answering, capture, jsonLines, startScp, startStorescp, writeStudy } from './support.js';

/** Stores (reads and answers success) the first three C-STOREs of each association and aborts it at the fourth. */
function abortingAtTheFourth(): StorageHandler {
  const counts = new Map<Association, number>();
  const succeed = answering(() => 0);
  return (info, data) => {
    const n = (counts.get(info.association) ?? 0) + 1;
    counts.set(info.association, n);
    if (n < 4) return succeed(info, data);
    info.association.abort();
    return NEVER;
  };
}

describe('dimse-rx store over several associations', () => {
  let work: string;
  const stops: (() => unknown)[] = [];

  beforeEach(async () => {
    work = await mkdtemp(join(tmpdir(), 'dimse-rx-assoc-'));
  });
  afterEach(async () => {
    for (const stop of stops.splice(0)) await stop();
    await rm(work, { recursive: true, force: true });
  });

  it('opens a new association when the peer aborts, goes on with the files not sent, one line per file', async () => {
    const files = await writeStudy(work, 10, 1);
    const peer = await startScp(abortingAtTheFourth());
    stops.push(peer.stop);
    const c = capture();
    expect(await main(['store', '127.0.0.1', String(peer.port), ...files.map((f) => f.path)], c.io)).toBe(1);
    // 1-3 stored, 4 failed (aborted); 5-7 stored, 8 failed; 9-10 stored.
    expect(peer.associations).toHaveLength(3);
    for (const [i, file] of files.entries()) {
      const lines = c.out.filter((l) => l.includes(file.path));
      expect(lines, file.path).toHaveLength(1);
      expect(lines[0]).toMatch(i === 3 || i === 7 ? /^failed .*: Association aborted/ : /^stored .*: success \(0x0000\)$/);
    }
    expect(c.out.filter((l) => / ended early /.test(l))).toEqual([
      expect.stringMatching(
        /^association 1 ended early \(Association aborted.*\); a new association for the 6 files left \(retry 1 of 2\)$/,
      ),
      expect.stringMatching(
        /^association 2 ended early \(Association aborted.*\); a new association for the 2 files left \(retry 1 of 2\)$/,
      ),
    ]);
    expect(c.out.at(-1)).toMatch(/^8 stored, 0 with warnings, 2 failed, 0 not sent, 0 skipped; .* over 3 associations$/);
  });

  it('with --retries 0, reports the files left as not sent, with the reason and a code', async () => {
    const files = await writeStudy(work, 6, 2);
    const peer = await startScp(abortingAtTheFourth());
    stops.push(peer.stop);
    const c = capture();
    expect(await main(['store', '127.0.0.1', String(peer.port), ...files.map((f) => f.path), '--retries', '0', '--json'], c.io)).toBe(1);
    expect(peer.associations).toHaveLength(1);
    const results = jsonLines(c.out).filter((r) => typeof r.file === 'string');
    expect(results.map((r) => [r.file, r.result])).toEqual(
      files.map((f, i) => [f.path, i < 3 ? 'stored' : i === 3 ? 'failed' : 'not sent']),
    );
    expect(results[3]).toMatchObject({ code: 'ABORTED', association: 1 });
    expect(results[3]!.bytesSent).toBeGreaterThan(0);
    for (const r of results.slice(4)) {
      expect(r).toMatchObject({ code: 'ABORTED', error: expect.stringMatching(/^association 1 ended early .* --retries 0 are used up$/) });
    }
    expect(jsonLines(c.out).at(-1)).toMatchObject({ summary: true, stored: 3, failed: 1, notSent: 2, associations: 1 });
  });

  it('reports every file as not sent when no association can be had', async () => {
    const files = await writeStudy(work, 2, 3);
    const peer = await startScp(answering(() => 0));
    peer.stop();
    const c = capture();
    expect(await main(['store', '127.0.0.1', String(peer.port), ...files.map((f) => f.path)], c.io)).toBe(1);
    expect(c.out.filter((l) => l.startsWith('not sent '))).toEqual(
      files.map((f) => expect.stringMatching(new RegExp(`^not sent ${f.path}: connection refused \\(.*ECONNREFUSED.*\\)$`))),
    );
    // The reason once for the run, on stderr.
    expect(c.err).toEqual([expect.stringMatching(/^dimse-rx store: connection refused \(.*ECONNREFUSED/)]);
  });

  it('--associations 4 stores every file over four associations at once, each proposing its own files', async () => {
    const files = await writeStudy(work, 10, 4);
    const out = join(work, 'received');
    const scp = await startStorescp(['--out', out]);
    const c = capture();
    try {
      expect(await main(['store', '127.0.0.1', String(scp.port), ...files.map((f) => f.path), '--associations', '4'], c.io)).toBe(0);
    } finally {
      await scp.stop();
    }
    expect((await readdir(out)).sort()).toEqual(files.map((f) => `${f.uid}.dcm`).sort());
    expect(scp.lines.filter((l) => /^association \d+: DIMSE-RX -> ANY-SCP/.test(l))).toHaveLength(4);
    expect(c.out.filter((l) => l.startsWith('stored '))).toHaveLength(10);
    expect(c.out.at(-1)).toMatch(/^10 stored, 0 with warnings, 0 failed, 0 not sent, 0 skipped; .* over 4 associations$/);
  });

  it('--associations 4 into a peer that takes 2 at once: the refused ones hand their files over, every file stored', async () => {
    const files = await writeStudy(work, 12, 6);
    const out = join(work, 'received');
    const scp = await startStorescp(['--out', out, '--max-associations', '2']);
    const c = capture();
    try {
      expect(await main(['store', '127.0.0.1', String(scp.port), ...files.map((f) => f.path), '--associations', '4'], c.io)).toBe(0);
    } finally {
      await scp.stop();
    }
    expect((await readdir(out)).sort()).toEqual(files.map((f) => `${f.uid}.dcm`).sort());
    expect(scp.lines.filter((l) => /^refused association .*local limit exceeded/i.test(l))).toHaveLength(2);
    expect(c.out.filter((l) => /^an association was refused \(.*\): its \d+ files? go over the others$/.test(l))).toHaveLength(2);
    expect(c.out.filter((l) => l.startsWith('stored '))).toHaveLength(12);
  });

  it('--associations 4 has the four open at the same time', async () => {
    const files = await writeStudy(work, 8, 5);
    let open = 0;
    let most = 0;
    const seen = new Set<Association>();
    const peer = await startScp((info, data) => {
      if (!seen.has(info.association)) {
        seen.add(info.association);
        open++;
        most = Math.max(most, open);
        info.association.finished.subscribe(() => open--);
      }
      // Slow answers: the other associations are opened meanwhile.
      return new Promise<number>((resolve, reject) =>
        data.chunks.subscribe({ complete: () => setTimeout(() => resolve(0), 50), error: reject }),
      );
    });
    stops.push(peer.stop);
    const c = capture();
    expect(await main(['store', '127.0.0.1', String(peer.port), ...files.map((f) => f.path), '--associations', '4'], c.io)).toBe(0);
    expect(most).toBe(4);
  });
});
