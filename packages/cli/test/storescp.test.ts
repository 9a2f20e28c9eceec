/**
 * `dimse-rx storescp` as an operator runs it: what it logs, its limits (--max-associations,
 * --idle-timeout), and stopping at the first SIGTERM. The process tests run the built bundle
 * (npm test builds first).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { statSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Association, AssociationRejectedError, associate } from '@dimse-rx/association';
import { echo } from '@dimse-rx/dimse';
import { encodePdu } from '@dimse-rx/pdu';
import { firstValueFrom, type Subscription } from 'rxjs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { associateRq } from '../../association/test/support.js';
import { main } from '../src/main.js';
import { capture, startStorescp, writeStudy } from './support.js';

const BIN = fileURLToPath(new URL('../bin/dimse-rx.js', import.meta.url));
const VERIFICATION = '1.2.840.10008.1.1';

/** The command as a process: its output so far, the port it listens on, its exit. */
async function spawnStorescp(
  args: string[],
): Promise<{ child: ChildProcess; port: number; output: () => string; exit: Promise<number | null> }> {
  const child = spawn(process.execPath, [BIN, 'storescp', '--port', '0', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const exit = new Promise<number | null>((resolve) => child.once('close', resolve));
  const port = await new Promise<number>((resolve, reject) => {
    const read = (chunk: Buffer) => {
      output += chunk.toString();
      const m = /listening on 127\.0\.0\.1:(\d+)/.exec(output);
      if (m) resolve(Number(m[1]));
    };
    child.stdout!.on('data', read);
    child.stderr!.on('data', read);
    void exit.then((code) => reject(new Error(`storescp exited with ${code}: ${output}`)));
  });
  return { child, port, output: () => output, exit };
}

const open = (port: number, overrides: Partial<Parameters<typeof associate>[0]> = {}) =>
  new Promise<{ association: Association; subscription: Subscription }>((resolve, reject) => {
    const subscription: Subscription = associate({
      host: '127.0.0.1',
      port,
      callingAeTitle: 'TESTER',
      calledAeTitle: 'STORESCP',
      presentationContexts: [{ abstractSyntax: VERIFICATION, transferSyntaxes: ['1.2.840.10008.1.2'] }],
      ...overrides,
    }).subscribe({ next: (association) => resolve({ association, subscription }), error: reject });
  });

const finished = (association: Association) => firstValueFrom(association.finished);

describe('dimse-rx storescp', () => {
  let work: string;
  const cleanups: (() => unknown)[] = [];

  beforeEach(async () => {
    work = await mkdtemp(join(tmpdir(), 'dimse-rx-storescp-'));
  });
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
    await rm(work, { recursive: true, force: true });
  });

  it('exits at the first SIGTERM within a second, code 0, idle', async () => {
    const scp = await spawnStorescp(['--out', join(work, 'in')]);
    cleanups.push(() => scp.child.kill('SIGKILL'));
    const started = performance.now();
    scp.child.kill('SIGTERM');
    expect(await scp.exit).toBe(0);
    expect(performance.now() - started).toBeLessThan(1_000);
  });

  it('exits at the first SIGTERM within a second, code 0, with an association whose peer never answers the release', async () => {
    const scp = await spawnStorescp(['--out', join(work, 'in')]);
    cleanups.push(() => scp.child.kill('SIGKILL'));
    // A peer written by hand: it asks for an association, then reads and never answers.
    const socket = connect(scp.port, '127.0.0.1');
    cleanups.push(() => socket.destroy());
    const received: number[] = [];
    socket.on('data', (bytes) => received.push(bytes[0]!));
    socket.on('error', () => {});
    socket.write(encodePdu(associateRq({ calledAeTitle: 'STORESCP', callingAeTitle: 'MUTE' })));
    while (!scp.output().includes('association 1: MUTE -> STORESCP')) await new Promise((resolve) => setTimeout(resolve, 20));
    const started = performance.now();
    scp.child.kill('SIGTERM');
    expect(await scp.exit).toBe(0);
    expect(performance.now() - started).toBeLessThan(1_000);
    // It was asked to release (0x05), then aborted (0x07) when it did not answer.
    expect(received).toEqual([0x02, 0x05, 0x07]);
    expect(scp.output()).toContain('association 1: aborted: storescp is stopping and the peer did not release in time');
  });

  it('logs each association with its AE titles, user identity and contexts, its C-ECHO and its release', async () => {
    const scp = await startStorescp(['--discard']);
    cleanups.push(scp.stop);
    const { association } = await open(scp.port, {
      presentationContexts: [
        { abstractSyntax: VERIFICATION, transferSyntaxes: ['1.2.840.10008.1.2'] },
        { abstractSyntax: '1.2.3.4.5.6', transferSyntaxes: ['1.2.840.10008.1.2'] },
      ],
      userIdentity: { identityType: 2, positiveResponseRequested: false, primaryField: 'alice', secondaryField: 'secret' },
    });
    expect((await firstValueFrom(echo(association))).code).toBe(0);
    await firstValueFrom(association.release(), { defaultValue: undefined });
    await new Promise((resolve) => setTimeout(resolve, 50));
    const lines = scp.lines.filter((l) => l.startsWith('association 1:'));
    expect(lines).toEqual([
      'association 1: TESTER -> STORESCP, user "alice" with a password',
      expect.stringMatching(/^association 1: accepted .*1\.2\.840\.10008\.1\.1.* in .*1\.2\.840\.10008\.1\.2/),
      expect.stringMatching(/^association 1: refused .*1\.2\.3\.4\.5\.6.* \(abstract syntax not supported\)$/),
      'association 1: C-ECHO answered (0x0000)',
      'association 1: released',
    ]);
    expect(scp.lines.join('\n')).not.toContain('secret');
  });

  it('accepts exactly the storage SOP classes and Verification: query/retrieve, worklist and private classes get result 3, Segmentation is accepted', async () => {
    const scp = await startStorescp(['--discard']);
    cleanups.push(scp.stop);
    const proposed = [
      VERIFICATION,
      '1.2.840.10008.5.1.4.1.2.2.1', // Study Root Query/Retrieve - FIND
      '1.2.840.10008.5.1.4.31', // Modality Worklist - FIND
      '1.2.840.10008.5.1.4.1.1.66.4', // Segmentation Storage
      '1.2.840.10008.5.1.4.1.1.6', // Ultrasound Image Storage (Retired), still sent by old machines
      '1.2.840.10008.5.1.4.38.1', // Hanging Protocol Storage (Annex GG)
      '1.2.840.10008.5.1.4.1.1.9999', // under the storage root, but no SOP class
      '1.2.3.4.5.6',
    ];
    const { association } = await open(scp.port, {
      presentationContexts: proposed.map((abstractSyntax) => ({ abstractSyntax, transferSyntaxes: ['1.2.840.10008.1.2'] })),
    });
    expect(association.negotiation.presentationContexts.map((pc) => pc.result)).toEqual([0, 3, 3, 0, 0, 0, 3, 3]);
    await firstValueFrom(association.release(), { defaultValue: undefined });
    await new Promise((resolve) => setTimeout(resolve, 50));
    const lines = scp.lines.filter((l) => l.startsWith('association 1:'));
    expect(lines).toContainEqual(
      'association 1: accepted 1.2.840.10008.1.1 (Verification) in 1.2.840.10008.1.2 (Implicit VR Little Endian); ' +
        '1.2.840.10008.5.1.4.1.1.66.4 (Segmentation Storage) in 1.2.840.10008.1.2 (Implicit VR Little Endian); ' +
        '1.2.840.10008.5.1.4.1.1.6 (Ultrasound Image Storage (Retired)) in 1.2.840.10008.1.2 (Implicit VR Little Endian); ' +
        '1.2.840.10008.5.1.4.38.1 (Hanging Protocol Storage) in 1.2.840.10008.1.2 (Implicit VR Little Endian)',
    );
    expect(lines).toContainEqual(
      'association 1: refused 1.2.840.10008.5.1.4.1.2.2.1 (Study Root Query/Retrieve Information Model - FIND) (abstract syntax not supported); ' +
        '1.2.840.10008.5.1.4.31 (Modality Worklist Information Model - FIND) (abstract syntax not supported); ' +
        '1.2.840.10008.5.1.4.1.1.9999 (abstract syntax not supported); 1.2.3.4.5.6 (abstract syntax not supported)',
    );
  });

  it('logs an association the peer aborts', async () => {
    const scp = await startStorescp(['--discard']);
    cleanups.push(scp.stop);
    const { association } = await open(scp.port);
    association.abort();
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(scp.lines).toContainEqual(expect.stringMatching(/^association 1: aborted: .*source 0/));
  });

  it('--max-associations 2: a third at once is refused (2, 3, 2), and logged with its reason', async () => {
    const scp = await startStorescp(['--discard', '--max-associations', '2']);
    cleanups.push(scp.stop);
    const first = await open(scp.port);
    const second = await open(scp.port);
    cleanups.push(
      () => first.subscription.unsubscribe(),
      () => second.subscription.unsubscribe(),
    );
    const third = await open(scp.port).then(
      () => undefined,
      (error: unknown) => error,
    );
    expect(third).toBeInstanceOf(AssociationRejectedError);
    expect(third).toMatchObject({ result: 2, source: 3, reason: 2 });
    expect(scp.lines).toContainEqual(
      expect.stringMatching(/^refused association TESTER -> STORESCP from 127\.0\.0\.1:\d+: .*local limit exceeded/i),
    );
    // Once one is gone there is room again.
    await firstValueFrom(first.association.release(), { defaultValue: undefined });
    const fourth = await open(scp.port);
    fourth.subscription.unsubscribe();
  });

  it('--idle-timeout ends an association that stays silent, and says so', async () => {
    const scp = await startStorescp(['--discard', '--idle-timeout', '0.3']);
    cleanups.push(scp.stop);
    const started = performance.now();
    const { association, subscription } = await open(scp.port);
    cleanups.push(() => subscription.unsubscribe());
    // Released by the SCP (nothing was in the middle of a message).
    expect(await finished(association)).toBeUndefined();
    expect(performance.now() - started).toBeGreaterThan(250);
    expect(performance.now() - started).toBeLessThan(3_000);
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(scp.lines).toContain('association 1: ended after 0.3 s without a message (--idle-timeout)');
  });

  it('sends a stored file with --username: the SCP logs the user, and storescp --json gives it too', async () => {
    const files = await writeStudy(work, 1, 1);
    const scp = await startStorescp(['--discard', '--json']);
    cleanups.push(scp.stop);
    const c = capture();
    expect(await main(['store', '127.0.0.1', String(scp.port), files[0]!.path, '--username', 'bob'], c.io)).toBe(0);
    const accepted = scp.lines.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l.association === 1 && 'userIdentity' in l);
    expect(accepted).toMatchObject({ callingAeTitle: 'DIMSE-RX', calledAeTitle: 'ANY-SCP', userIdentity: 'user "bob"' });
  });

  it('storescp --json names the file each C-STORE was written to, with its size', async () => {
    const files = await writeStudy(work, 2, 5);
    const out = join(work, 'received');
    const scp = await startStorescp(['--out', out, '--json']);
    cleanups.push(scp.stop);
    const c = capture();
    expect(await main(['store', '127.0.0.1', String(scp.port), ...files.map((f) => f.path)], c.io)).toBe(0);
    const stores = scp.lines.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => 'sopInstanceUid' in l);
    expect(stores).toHaveLength(2);
    for (const line of stores) {
      expect(line.file).toBe(join(out, `${line.sopInstanceUid as string}.dcm`));
      expect(line.fileSize).toBe(statSync(line.file as string).size);
    }
  });

  it('an idle timeout that is not a number of seconds is a usage error', async () => {
    const c = capture();
    expect(await main(['storescp', '--discard', '--idle-timeout', 'soon'], c.io)).toBe(2);
    expect(c.err[0]).toContain('--idle-timeout must be a number of seconds');
  });
});
