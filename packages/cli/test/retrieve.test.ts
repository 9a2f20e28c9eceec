/**
 * `dimse-rx get` and `dimse-rx move` against a query/retrieve SCP of this process: the files
 * written byte for byte as the SCP sent them, the counts of the summary, --json events, the Failed
 * SOP Instance UID List and exit 1 when some sub-operations failed, failure statuses in words,
 * SIGINT cancelling, usage errors with exit 2.
 */

import { spawn } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parsePart10Header } from '@dimse-rx/dimse';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { main } from '../src/main.js';
import { type HeldInstance, heldInstance, type QueryScp, startQueryScp } from './query-scp.js';
import { CT, capture, jsonLines, startStorescp } from './support.js';

const scps: QueryScp[] = [];
let work: string;
beforeEach(async () => {
  work = await mkdtemp(join(tmpdir(), 'dimse-rx-retrieve-'));
});
afterEach(async () => {
  for (const s of scps.splice(0)) s.stop();
  await rm(work, { recursive: true, force: true });
});
const start = async (options: Parameters<typeof startQueryScp>[0]) => {
  const s = await startQueryScp(options);
  scps.push(s);
  return s;
};

const STUDY = '1.2.826.0.1.3680043.9.7777.1';
const OTHER = '1.2.826.0.1.3680043.9.7777.2';
const instances = [1, 2, 3].map((n) => heldInstance(STUDY, n));
const others = [1, 2].map((n) => heldInstance(OTHER, n));

/** Each file of `folder` is `<SOP Instance UID>.dcm` holding exactly the data set the SCP sent, with the meta information of CT. */
async function expectFiles(folder: string, expected: readonly HeldInstance[]): Promise<void> {
  expect((await readdir(folder)).sort()).toEqual(expected.map((i) => `${i.uid}.dcm`).sort());
  for (const instance of expected) {
    const bytes = await readFile(join(folder, `${instance.uid}.dcm`));
    const header = parsePart10Header(bytes);
    expect(header.meta.mediaStorageSopClassUid).toBe(CT);
    expect(header.meta.mediaStorageSopInstanceUid).toBe(instance.uid);
    expect(Buffer.compare(bytes.subarray(header.dataSetOffset), instance.dataSet), instance.uid).toBe(0);
  }
}

/** A port free now on the loopback (the destination's, which the SCP must know before the move). */
const freePort = () =>
  new Promise<number>((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });

const usageError = async (args: string[], message: RegExp) => {
  const c = capture();
  expect(await main(args, c.io), args.join(' ')).toBe(2);
  expect(c.out).toEqual([]);
  const [first, usage] = c.err[0]!.split('\n');
  expect(first).toMatch(message);
  expect(usage).toMatch(new RegExp(`^Usage: dimse-rx ${args[0]} HOST PORT`));
};

describe('dimse-rx get', () => {
  it('writes each instance of the study as storescp names it, byte for byte what the SCP sent; a line each and the summary', async () => {
    const scp = await start({ instances: [...instances, ...others] });
    const out = join(work, 'get');
    const c = capture();
    const code = await main(['get', '127.0.0.1', String(scp.port), '-k', `StudyInstanceUID=${STUDY}`, '--out', out], c.io);
    expect(c.err).toEqual([]);
    expect(code).toBe(0);
    await expectFiles(out, instances);
    expect(scp.identifiers[0]).toMatchObject({ QueryRetrieveLevel: 'STUDY', StudyInstanceUID: STUDY });
    const size = (uid: string) => readFile(join(out, `${uid}.dcm`)).then((b) => b.length);
    const sizes = await Promise.all(instances.map((i) => size(i.uid)));
    expect(c.out.slice(0, 3)).toEqual(instances.map((i, n) => `stored ${i.uid}: ${join(out, `${i.uid}.dcm`)}, ${sizes[n]} bytes`));
    const total = sizes.reduce((a, b) => a + b, 0);
    expect(c.out[3]).toMatch(
      new RegExp(
        `^C-GET success \\(0x0000\\): 3 completed, 0 failed, 0 warning; 3 files, ${(total / 1e6).toFixed(1).replace('.', '\\.')} MB in \\d+\\.\\d s, \\d+\\.\\d MB/s$`,
      ),
    );
    expect(c.out).toHaveLength(4);
  });

  it('--no-fsync (for measurements): the same files, byte for byte', async () => {
    const scp = await start({ instances });
    const out = join(work, 'get-no-fsync');
    const c = capture();
    const args = ['get', '127.0.0.1', String(scp.port), '-k', `StudyInstanceUID=${STUDY}`, '--out', out, '--no-fsync'];
    expect(await main(args, c.io)).toBe(0);
    expect(c.err).toEqual([]);
    await expectFiles(out, instances);
    expect(c.out.at(-1)).toMatch(/^C-GET success \(0x0000\): 3 completed, 0 failed, 0 warning; 3 files/);
  });

  it('--json: a stored event per instance with its file, progress with each pending response, the summary with bytes', async () => {
    const scp = await start({ instances });
    const out = join(work, 'json');
    const c = capture();
    expect(await main(['get', '127.0.0.1', String(scp.port), '-k', `StudyInstanceUID=${STUDY}`, '--out', out, '--json'], c.io)).toBe(0);
    const events = jsonLines(c.out);
    const stored = events.filter((e) => e.event === 'stored');
    expect(stored.map((e) => e.sopInstanceUid)).toEqual(instances.map((i) => i.uid));
    for (const e of stored) {
      expect(e).toMatchObject({ command: 'get', result: 'stored', sopClassUid: CT, status: 0, file: join(out, `${e.sopInstanceUid}.dcm`) });
      expect(e.fileSize).toBe((await readFile(String(e.file))).length);
    }
    expect(events.filter((e) => e.event === 'progress').map((e) => [e.completed, e.remaining])).toEqual([
      [1, 2],
      [2, 1],
      [3, 0],
    ]);
    const summary = events.at(-1)!;
    expect(summary).toMatchObject({ command: 'get', summary: true, status: 0, completed: 3, failed: 0, warning: 0, files: 3 });
    expect(summary.bytes).toBe(stored.reduce((n, e) => n + Number(e.fileSize), 0));
    expect(summary.failedSopInstanceUids).toEqual([]);
    expect(typeof summary.seconds).toBe('number');
    await expectFiles(out, instances);
  });

  it('some sub-operations failed (0xB000): exit 1, the counts, the Failed SOP Instance UID List; the others written', async () => {
    const scp = await start({ instances, notSent: new Set([instances[1]!.uid]) });
    const out = join(work, 'partial');
    const c = capture();
    expect(await main(['get', '127.0.0.1', String(scp.port), '-k', `StudyInstanceUID=${STUDY}`, '--out', out], c.io)).toBe(1);
    expect(c.out.at(-2)).toMatch(
      /^C-GET warning: sub-operations complete, one or more failures or warnings \(0xb000\): 2 completed, 1 failed, 0 warning; 2 files, /,
    );
    expect(c.out.at(-1)).toBe(`not retrieved: ${instances[1]!.uid}`);
    await expectFiles(out, [instances[0]!, instances[2]!]);
    const j = capture();
    expect(
      await main(['get', '127.0.0.1', String(scp.port), '-k', `StudyInstanceUID=${STUDY}`, '--out', join(work, 'j'), '--json'], j.io),
    ).toBe(1);
    expect(jsonLines(j.out).at(-1)).toMatchObject({
      summary: true,
      status: 0xb000,
      completed: 2,
      failed: 1,
      failedSopInstanceUids: [instances[1]!.uid],
    });
  });

  it('a failure status: exit 1 and the status in words with its Error Comment, on stderr; the summary JSON carries it', async () => {
    const scp = await start({ instances, retrieveStatus: 0xa702 });
    const c = capture();
    expect(await main(['get', '127.0.0.1', String(scp.port), '-k', `StudyInstanceUID=${STUDY}`, '--out', join(work, 'x')], c.io)).toBe(1);
    expect(c.err).toEqual([
      'dimse-rx get: C-GET failed: failure: refused, out of resources (unable to perform sub-operations) (0xa702): as the test says',
    ]);
    expect(c.out).toHaveLength(1);
    expect(c.out[0]).toMatch(
      /^C-GET failure: refused, out of resources \(unable to perform sub-operations\) \(0xa702\): 0 completed, 0 failed, 0 warning; 0 files, 0\.0 MB in \d+\.\d s, 0\.0 MB\/s$/,
    );
    const j = capture();
    expect(
      await main(['get', '127.0.0.1', String(scp.port), '-k', `StudyInstanceUID=${STUDY}`, '--out', join(work, 'x'), '--json'], j.io),
    ).toBe(1);
    expect(j.err).toEqual([]);
    expect(jsonLines(j.out)).toEqual([expect.objectContaining({ summary: true, status: 0xa702, code: 'STATUS', completed: 0 })]);
    expect(String(jsonLines(j.out)[0]!.error)).toContain('(0xa702): as the test says');
  });

  it('on a terminal: a bar with completed, failed, remaining and MB/s, erased at the end; no line per stored instance', async () => {
    const scp = await start({ instances });
    const c = capture();
    const code = await main(['get', '127.0.0.1', String(scp.port), '-k', `StudyInstanceUID=${STUDY}`, '--out', join(work, 't')], {
      ...c.io,
      isTerminal: true,
    });
    expect(code).toBe(0);
    expect(
      c.bar.some((t) => t.startsWith('\r\x1b[2K') && /\[#{24}\] 3 completed, 0 failed, 0 remaining, \d+\.\d MB, \d+\.\d MB\/s$/.test(t)),
    ).toBe(true);
    expect(c.bar.at(-1)).toBe('\r\x1b[2K');
    expect(c.out).toHaveLength(1);
    expect(c.out[0]).toMatch(/^C-GET success \(0x0000\): 3 completed/);
  });

  it('SIGINT cancels the C-GET: the SCP sees C-CANCEL, exit 1, the instances stored so far kept', async () => {
    const many = Array.from({ length: 20 }, (_, n) => heldInstance(STUDY, n + 1));
    const scp = await start({ instances: many, instanceDelay: 20 });
    const out = join(work, 'cancel');
    const c = capture();
    let interrupt!: () => void;
    const interrupted = new Promise<void>((resolve) => {
      interrupt = resolve;
    });
    const code = await main(['get', '127.0.0.1', String(scp.port), '-k', `StudyInstanceUID=${STUDY}`, '--out', out], {
      ...c.io,
      out: (line) => {
        c.out.push(line);
        if (line.startsWith('stored ')) interrupt();
      },
      stop: () => interrupted,
    });
    expect(code).toBe(1);
    expect(c.err).toEqual(['dimse-rx get: cancelled (C-CANCEL sent)']);
    expect(c.out.at(-1)).toMatch(/^C-GET cancelled: \d+ completed/);
    await new Promise((r) => setTimeout(r, 100));
    expect(scp.cancels).toHaveLength(1);
    expect(scp.cancels[0]).toBeLessThan(many.length);
    const written = await readdir(out);
    expect(written.length).toBeGreaterThanOrEqual(1);
    expect(written.length).toBeLessThan(many.length);
    await expectFiles(
      out,
      many.filter((i) => written.includes(`${i.uid}.dcm`)),
    );
  });

  it('usage errors (exit 2): no --out, no unique key, the worklist, a bad --sop-classes', async () => {
    await usageError(['get', '127.0.0.1', '104', '-k', `StudyInstanceUID=${STUDY}`], /^dimse-rx get: get needs --out DIR$/);
    await usageError(['get', '127.0.0.1', '104', '--out', work], /a STUDY retrieval needs the unique key StudyInstanceUID/);
    await usageError(['get', '127.0.0.1', '104', '-W', '--out', work], /unknown option -W/);
    await usageError(
      ['get', '127.0.0.1', '104', '-k', `StudyInstanceUID=${STUDY}`, '--out', work, '--sop-classes', 'Nonsense'],
      /--sop-classes: "Nonsense" is neither/,
    );
    await usageError(['get', '127.0.0.1'], /get takes HOST and PORT/);
  });
});

describe('dimse-rx move', () => {
  it('to another AE (a storescp of this test): its files byte for byte, a line per pending response, the summary', async () => {
    const storeOut = join(work, 'storescp');
    const storescp = await startStorescp(['--out', storeOut]);
    try {
      const scp = await start({ instances: [...instances, ...others], destinations: { 'STORE-SCP': storescp.port } });
      const c = capture();
      const code = await main(['move', '127.0.0.1', String(scp.port), '--dest', 'STORE-SCP', '-k', `StudyInstanceUID=${STUDY}`], c.io);
      expect(c.err).toEqual([]);
      expect(code).toBe(0);
      expect(scp.moveDestinations).toEqual(['STORE-SCP']);
      expect(c.out.slice(0, 3)).toEqual([
        '1 completed, 0 failed, 0 warning, 2 remaining',
        '2 completed, 0 failed, 0 warning, 1 remaining',
        '3 completed, 0 failed, 0 warning, 0 remaining',
      ]);
      expect(c.out[3]).toMatch(/^C-MOVE success \(0x0000\): 3 completed, 0 failed, 0 warning in \d+\.\d s$/);
      expect(c.out).toHaveLength(4);
      await expectFiles(storeOut, instances);
    } finally {
      expect(await storescp.stop()).toBe(0);
    }
  });

  it('an unknown destination: exit 1 and the status in words with 0xa801; --json: the summary with status and error', async () => {
    const scp = await start({ instances, destinations: {} });
    const c = capture();
    expect(await main(['move', '127.0.0.1', String(scp.port), '-aem', 'NOWHERE', '-k', `StudyInstanceUID=${STUDY}`], c.io)).toBe(1);
    expect(c.err).toEqual(['dimse-rx move: C-MOVE failed: failure: refused, move destination unknown (0xa801)']);
    expect(c.out).toEqual([expect.stringMatching(/^C-MOVE failure: refused, move destination unknown \(0xa801\): 0 completed/)]);
    expect(scp.moveDestinations).toEqual(['NOWHERE']);
    const j = capture();
    expect(
      await main(['move', '127.0.0.1', String(scp.port), '--dest', 'NOWHERE', '-k', `StudyInstanceUID=${STUDY}`, '--json'], j.io),
    ).toBe(1);
    expect(j.err).toEqual([]);
    expect(jsonLines(j.out)).toEqual([
      expect.objectContaining({
        command: 'move',
        summary: true,
        status: 0xa801,
        code: 'STATUS',
        error: 'C-MOVE failed: failure: refused, move destination unknown (0xa801)',
      }),
    ]);
  });

  it('--port --out: this process is the destination (our AE title by default); the files byte for byte, a line each', async () => {
    const listen = await freePort();
    const scp = await start({ instances: [...instances, ...others], destinations: { 'DIMSE-RX': listen } });
    const out = join(work, 'self');
    const c = capture();
    const code = await main(
      ['move', '127.0.0.1', String(scp.port), '--port', String(listen), '--out', out, '-k', `StudyInstanceUID=${STUDY}`],
      c.io,
    );
    expect(c.err).toEqual([]);
    expect(code).toBe(0);
    expect(scp.moveDestinations).toEqual(['DIMSE-RX']);
    await expectFiles(out, instances);
    const sizes = await Promise.all(instances.map((i) => readFile(join(out, `${i.uid}.dcm`)).then((b) => b.length)));
    expect(c.out.slice(0, 3)).toEqual(instances.map((i, n) => `stored ${i.uid}: ${join(out, `${i.uid}.dcm`)}, ${sizes[n]} bytes`));
    expect(c.out[3]).toMatch(
      /^C-MOVE success \(0x0000\): 3 completed, 0 failed, 0 warning; 3 files, \d+\.\d MB in \d+\.\d s, \d+\.\d MB\/s$/,
    );
  });

  it('--port --out with -aet and --json: the move goes to our AE title, stored events correlated, the summary with bytes', async () => {
    const listen = await freePort();
    const scp = await start({ instances, destinations: { 'MY-WORKSTATION': listen } });
    const out = join(work, 'self-json');
    const c = capture();
    const code = await main(
      [
        'move',
        '127.0.0.1',
        String(scp.port),
        '-aet',
        'MY-WORKSTATION',
        '+P',
        String(listen),
        '-od',
        out,
        '-k',
        `StudyInstanceUID=${STUDY}`,
        '--json',
      ],
      c.io,
    );
    expect(code).toBe(0);
    expect(scp.moveDestinations).toEqual(['MY-WORKSTATION']);
    const events = jsonLines(c.out);
    const stored = events.filter((e) => e.event === 'stored');
    expect(stored.map((e) => e.sopInstanceUid).sort()).toEqual(instances.map((i) => i.uid).sort());
    for (const e of stored)
      expect(e).toMatchObject({ command: 'move', result: 'stored', status: 0, file: join(out, `${e.sopInstanceUid}.dcm`) });
    expect(events.filter((e) => e.event === 'progress')).toHaveLength(3);
    expect(events.at(-1)).toMatchObject({ summary: true, status: 0, completed: 3, failed: 0, files: 3 });
    expect(events.at(-1)!.bytes).toBe(stored.reduce((n, e) => n + Number(e.fileSize), 0));
    await expectFiles(out, instances);
  });

  it('some sub-operations failed (0xB000): exit 1, the Failed SOP Instance UID List, the others at the destination', async () => {
    const storeOut = join(work, 'partial');
    const storescp = await startStorescp(['--out', storeOut]);
    try {
      const scp = await start({ instances, notSent: new Set([instances[0]!.uid]), destinations: { 'STORE-SCP': storescp.port } });
      const c = capture();
      expect(await main(['move', '127.0.0.1', String(scp.port), '--dest', 'STORE-SCP', '-k', `StudyInstanceUID=${STUDY}`], c.io)).toBe(1);
      expect(c.out.at(-2)).toMatch(
        /^C-MOVE warning: sub-operations complete, one or more failures or warnings \(0xb000\): 2 completed, 1 failed/,
      );
      expect(c.out.at(-1)).toBe(`not retrieved: ${instances[0]!.uid}`);
      await expectFiles(storeOut, instances.slice(1));
    } finally {
      await storescp.stop();
    }
  });

  it('SIGINT cancels the C-MOVE (the SCP sees C-CANCEL, exit 1); on a terminal the bar has no MB for a move elsewhere', async () => {
    const storescp = await startStorescp(['--discard']);
    try {
      const many = Array.from({ length: 20 }, (_, n) => heldInstance(STUDY, n + 1));
      const scp = await start({ instances: many, instanceDelay: 20, destinations: { 'STORE-SCP': storescp.port } });
      const c = capture();
      let interrupt!: () => void;
      const interrupted = new Promise<void>((resolve) => {
        interrupt = resolve;
      });
      const code = await main(['move', '127.0.0.1', String(scp.port), '--dest', 'STORE-SCP', '-k', `StudyInstanceUID=${STUDY}`], {
        ...c.io,
        isTerminal: true,
        bar: (text) => {
          c.bar.push(text);
          if (/ 2 completed/.test(text)) interrupt();
        },
        stop: () => interrupted,
      });
      expect(code).toBe(1);
      expect(c.err).toEqual(['dimse-rx move: cancelled (C-CANCEL sent)']);
      expect(c.bar).toContainEqual(`\r\x1b[2K[${'#'.repeat(2)}${'.'.repeat(22)}] 2 completed, 0 failed, 18 remaining`);
      expect(c.out.at(-1)).toMatch(/^C-MOVE cancelled: 2 completed, 0 failed, 0 warning in \d+\.\d s$/);
      await new Promise((r) => setTimeout(r, 100));
      expect(scp.cancels).toHaveLength(1);
      expect(scp.cancels[0]).toBeLessThan(many.length);
    } finally {
      await storescp.stop();
    }
  });

  it('usage errors (exit 2): no destination, --port without --out, a bad AE title, no unique key', async () => {
    const k = ['-k', `StudyInstanceUID=${STUDY}`];
    await usageError(
      ['move', '127.0.0.1', '104', ...k],
      /^dimse-rx move: move needs --dest AE \(or --port N --out DIR to be the destination\)$/,
    );
    await usageError(['move', '127.0.0.1', '104', ...k, '--port', '11113'], /--port and --out go together/);
    await usageError(['move', '127.0.0.1', '104', ...k, '--out', work], /--port and --out go together/);
    await usageError(['move', '127.0.0.1', '104', ...k, '--port', '0', '--out', work], /--port must be an integer from 1 to 65535, got 0/);
    await usageError(['move', '127.0.0.1', '104', ...k, '--dest', 'A-TITLE-FAR-TOO-LONG'], /--dest: Invalid AE title/);
    await usageError(['move', '127.0.0.1', '104', ...k, '--dest', 'X', '--listen-host', '0.0.0.0'], /--listen-host goes with --port/);
    await usageError(
      ['move', '127.0.0.1', '104', '--dest', 'X', '--level', 'SERIES', ...k],
      /a SERIES retrieval needs the unique key SeriesInstanceUID/,
    );
  });
});

describe('dimse-rx --help', () => {
  it('lists get and move; their help says what exit code 1 means', async () => {
    const all = capture();
    expect(await main(['--help'], all.io)).toBe(0);
    const text = all.out.join('\n');
    expect(text).toMatch(/^ {2}dimse-rx get HOST PORT -k KEY=VALUE\.\.\. --out DIR +C-GET/m);
    expect(text).toMatch(/^ {2}dimse-rx move HOST PORT --dest AE -k KEY=VALUE\.\.\. +C-MOVE/m);
    // The overview lists every command, in the order of the table.
    expect([...text.matchAll(/^ {2}dimse-rx (\w+) /gm)].map((m) => m[1])).toEqual([
      'echo',
      'store',
      'storescp',
      'find',
      'get',
      'move',
      'demo',
      'COMMAND',
    ]);
    expect(text).toContain('also when some sub-operations failed, 0xB000');
    const g = capture();
    expect(await main(['get', '--help'], g.io)).toBe(0);
    expect(g.out.join('\n')).toMatch(/some sub-operations failed \(0xB000\)/);
    expect(g.out.join('\n')).toMatch(/^ {2}-od, --out DIR/m);
    const m = capture();
    expect(await main(['move', '--help'], m.io)).toBe(0);
    expect(m.out.join('\n')).toMatch(/^Usage: dimse-rx move HOST PORT/);
    expect(m.out.join('\n')).toMatch(/^ {2}-aem, --dest AE/m);
    expect(m.out.join('\n')).toContain('move destination unknown (0xa801)');
  });
});

/** The command as installed (the built bundle). */
const BIN = fileURLToPath(new URL('../../../node_modules/.bin/dimse-rx', import.meta.url));

describe('the installed dimse-rx get', () => {
  it('SIGINT (Ctrl-C) cancels the C-GET: C-CANCEL reaches the SCP, exit 1, the files stored so far kept', async () => {
    const many = Array.from({ length: 30 }, (_, n) => heldInstance(STUDY, n + 1));
    const scp = await start({ instances: many, instanceDelay: 30 });
    const out = join(work, 'bin');
    const child = spawn(BIN, ['get', '127.0.0.1', String(scp.port), '-k', `StudyInstanceUID=${STUDY}`, '--out', out]);
    let stdout = '';
    let stderr = '';
    let interrupted = false;
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
      // Once: a second SIGINT finds no handler and ends the process at once, as a second Ctrl-C should.
      if (!interrupted && stdout.includes('stored ')) interrupted = child.kill('SIGINT');
    });
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    expect(stderr).toBe('dimse-rx get: cancelled (C-CANCEL sent)\n');
    expect(code).toBe(1);
    expect(stdout.trim().split('\n').at(-1)).toMatch(/^C-GET cancelled: \d+ completed/);
    await new Promise((r) => setTimeout(r, 100));
    expect(scp.cancels).toHaveLength(1);
    const written = await readdir(out);
    expect(written.length).toBeLessThan(many.length);
    await expectFiles(
      out,
      many.filter((i) => written.includes(`${i.uid}.dcm`)),
    );
  });
});
