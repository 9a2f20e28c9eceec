/**
 * The command line against DCMTK 3.6.7: `dimse-rx store` into storescp (several associations,
 * a peer that aborts, TLS with a client certificate), storescu into `dimse-rx storescp` (with a
 * user identity, and over TLS).
 */
import { mkdir, mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import { describeDcmtk, freePort, LOOPBACK, runDcmtk, startDcmtk } from '../../../test/support/dcmtk.js';
import { makeCertificate } from '../../association/test/support.js';
import { main } from '../src/main.js';
import { capture, startStorescp, writeStudy } from './support.js';

describeDcmtk('dimse-rx store and storescp with DCMTK', () => {
  let work: string;
  let key: string;
  let cert: string;
  const cleanups: (() => unknown)[] = [];

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'dimse-rx-cli-dcmtk-'));
    makeCertificate(work);
    key = join(work, 'key.pem');
    cert = join(work, 'cert.pem');
  });
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });
  afterAll(() => rm(work, { recursive: true, force: true }));

  /** DCMTK's storescp writing into a new folder; its files are named after the SOP instance (CT.<uid>). */
  const storescp = async (name: string, args: string[] = []) => {
    const out = join(work, name);
    await mkdir(out);
    const port = await freePort();
    const peer = await startDcmtk('storescp', [...args, '-od', out, String(port)], { ready: port });
    cleanups.push(peer.stop);
    return { port, out, peer };
  };

  it('store -r --associations 3 of a folder tree: every file in storescp, over three associations', async () => {
    const source = join(work, 'tree');
    await mkdir(join(source, 'series'), { recursive: true });
    const files = [...(await writeStudy(source, 4, 1)), ...(await writeStudy(join(source, 'series'), 5, 2))];
    const { port, out } = await storescp('tree-received');
    const c = capture();
    expect(await main(['store', LOOPBACK, String(port), source, '-r', '--associations', '3', '-aec', 'STORESCP'], c.io)).toBe(0);
    expect((await readdir(out)).sort()).toEqual(files.map((f) => `CT.${f.uid}`).sort());
    expect(c.out.at(-1)).toMatch(/^9 stored, 0 with warnings, 0 failed, 0 not sent, 0 skipped; .* over 3 associations$/);
  });

  it('store into storescp --abort-after: each abort costs the file in flight, a new association takes the next, one line each', async () => {
    const files = await writeStudy(work, 3, 3, 'aborted');
    const { port } = await storescp('abort-received', ['--abort-after']);
    const c = capture();
    expect(await main(['store', LOOPBACK, String(port), ...files.map((f) => f.path), '--retries', '5', '--json'], c.io)).toBe(1);
    const lines = c.out.map((l) => JSON.parse(l) as Record<string, unknown>);
    const perFile = lines.filter((l) => typeof l.file === 'string');
    expect(perFile.map((l) => [l.file, l.result, l.code, l.association])).toEqual(
      files.map((f, i) => [f.path, 'failed', 'ABORTED', i + 1]),
    );
    expect(lines.filter((l) => typeof l.endedEarly === 'string')).toHaveLength(2);
    expect(lines.at(-1)).toMatchObject({ summary: true, stored: 0, failed: 3, notSent: 0, associations: 3 });
  });

  it('storescu with a user name and password into dimse-rx storescp: stored, and the user logged', async () => {
    const files = await writeStudy(work, 2, 4, 'identity');
    const out = join(work, 'identity-received');
    const scp = await startStorescp(['--out', out]);
    cleanups.push(scp.stop);
    const result = await runDcmtk('storescu', [
      '-aet',
      'STORESCU',
      '-usr',
      'dave',
      '-pwd',
      'hunter2',
      LOOPBACK,
      String(scp.port),
      ...files.map((f) => f.path),
    ]);
    expect(result.code, result.stderr).toBe(0);
    expect((await readdir(out)).sort()).toEqual(files.map((f) => `${f.uid}.dcm`).sort());
    expect(scp.lines).toContainEqual(expect.stringMatching(/^association 1: STORESCU -> ANY-SCP, user "dave" with a password$/));
    expect(scp.lines.join('\n')).not.toContain('hunter2');
  });

  it('storescu +tls (client certificate) into dimse-rx storescp --tls-ca: stored', async () => {
    const files = await writeStudy(work, 2, 5, 'tls-in');
    const out = join(work, 'tls-in-received');
    const scp = await startStorescp(['--out', out, '+tls', key, cert, '+cf', cert]);
    cleanups.push(scp.stop);
    const result = await runDcmtk('storescu', ['+tls', key, cert, '+cf', cert, LOOPBACK, String(scp.port), ...files.map((f) => f.path)]);
    expect(result.code, result.stderr).toBe(0);
    expect((await readdir(out)).sort()).toEqual(files.map((f) => `${f.uid}.dcm`).sort());
  });

  it('dimse-rx store +tls KEY CERT +cf CA into storescp +tls (which requires our certificate): stored', async () => {
    const files = await writeStudy(work, 2, 6, 'tls-out');
    const { port, out } = await storescp('tls-out-received', ['+tls', key, cert, '+cf', cert]);
    const c = capture();
    expect(await main(['store', LOOPBACK, String(port), ...files.map((f) => f.path), '+tls', key, cert, '+cf', cert], c.io)).toBe(0);
    expect((await readdir(out)).sort()).toEqual(files.map((f) => `CT.${f.uid}`).sort());
    // Without our certificate storescp refuses the TLS handshake.
    const refused = capture();
    expect(await main(['store', LOOPBACK, String(port), files[0]!.path, '--tls-ca', cert, '--timeout', '5'], refused.io)).toBe(1);
  });
});
