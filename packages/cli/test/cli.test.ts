import { mkdir, mkdtemp, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateSampleStudy } from '@dimse-rx/dataset/sample';
import { encodeDataset, encodeFileMetaInformation, parsePart10Header, TransferSyntax } from '@dimse-rx/dimse';
import { decodePdu, encodePdu } from '@dimse-rx/pdu';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { acceptAll } from '../../association/test/support.js';
import { main } from '../src/main.js';

const CT = '1.2.840.10008.5.1.4.1.1.2';

interface Captured {
  readonly out: string[];
  readonly err: string[];
  readonly bar: string[];
}

const capture = (): Captured & { io: { out: (l: string) => void; err: (l: string) => void; bar: (t: string) => void } } => {
  const c: Captured = { out: [], err: [], bar: [] };
  return { ...c, io: { out: (l) => c.out.push(l), err: (l) => c.err.push(l), bar: (t) => c.bar.push(t) } };
};

/** A `dimse-rx storescp` run in process; `stop()` ends it and gives its exit code. */
async function startStorescp(args: string[]): Promise<{ port: number; lines: string[]; stop: () => Promise<number> }> {
  const lines: string[] = [];
  let stop!: () => void;
  const stopped = new Promise<void>((resolve) => {
    stop = resolve;
  });
  let listening!: (port: number) => void;
  const port = new Promise<number>((resolve) => {
    listening = resolve;
  });
  const exit = main(['storescp', '--port', '0', ...args], {
    out: (line) => {
      lines.push(line);
      const m = /listening on 127\.0\.0\.1:(\d+)/.exec(line) ?? /"port":(\d+)/.exec(line);
      if (m) listening(Number(m[1]));
    },
    err: (line) => lines.push(line),
    stop: () => stopped,
  });
  return {
    port: await port,
    lines,
    stop: async () => {
      stop();
      return exit;
    },
  };
}

/** Part 10 files of a generated study: their paths and data set bytes. */
async function writeStudy(folder: string, images: number, seed: number): Promise<{ path: string; uid: string; dataSet: Buffer }[]> {
  const files = [];
  for (const [i, dataset] of generateSampleStudy({ images, rows: 64, columns: 64, seed }).entries()) {
    const uid = String(dataset.SOPInstanceUID);
    const dataSet = encodeDataset(dataset, TransferSyntax.ExplicitVrLittleEndian);
    const meta = encodeFileMetaInformation({
      mediaStorageSopClassUid: CT,
      mediaStorageSopInstanceUid: uid,
      transferSyntaxUid: TransferSyntax.ExplicitVrLittleEndian,
    });
    const path = join(folder, `image-${i}.dcm`);
    await writeFile(path, Buffer.concat([meta, dataSet]));
    files.push({ path, uid, dataSet });
  }
  return files;
}

describe('dimse-rx echo, store and storescp', () => {
  let work: string;
  const servers: Server[] = [];
  const sockets: Socket[] = [];

  beforeEach(async () => {
    work = await mkdtemp(join(tmpdir(), 'dimse-rx-cli-'));
  });
  afterEach(async () => {
    for (const s of sockets.splice(0)) s.destroy();
    await Promise.all(servers.splice(0).map((s) => new Promise((resolve) => s.close(resolve))));
    await rm(work, { recursive: true, force: true });
  });

  /** A TCP server on loopback that does what `onConnection` says with each socket. */
  const rawServer = async (onConnection: (socket: Socket) => void): Promise<number> => {
    const server = createServer((socket) => {
      sockets.push(socket);
      socket.on('error', () => {});
      onConnection(socket);
    });
    servers.push(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const address = server.address();
    return typeof address === 'object' && address ? address.port : 0;
  };

  it('echo: success line and exit 0, JSON on request', async () => {
    const scp = await startStorescp(['--out', join(work, 'in')]);
    try {
      const c = capture();
      expect(await main(['echo', '127.0.0.1', String(scp.port)], c.io)).toBe(0);
      expect(c.out[0]).toMatch(new RegExp(`^C-ECHO 127\\.0\\.0\\.1:${scp.port}: success \\(0x0000\\) in \\d+ ms$`));
      const j = capture();
      expect(await main(['echo', '127.0.0.1', String(scp.port), '--json', '-aet', 'ME', '-aec', 'YOU'], j.io)).toBe(0);
      const result = JSON.parse(j.out[0]!) as Record<string, unknown>;
      expect(result).toMatchObject({ command: 'echo', port: scp.port, status: 0, kind: 'success' });
      expect(scp.lines.some((l) => l.includes('ME -> YOU'))).toBe(true);
    } finally {
      expect(await scp.stop()).toBe(0);
    }
  });

  it('echo: a refused connection is one line and exit 1', async () => {
    const port = await rawServer(() => {});
    await new Promise((resolve) => servers.pop()!.close(resolve));
    const c = capture();
    expect(await main(['echo', '127.0.0.1', String(port)], c.io)).toBe(1);
    expect(c.err).toHaveLength(1);
    expect(c.err[0]).toMatch(/^dimse-rx echo: connection refused/);
  });

  it('echo: a rejection gives its reason in words', async () => {
    const scp = await startStorescp(['--out', join(work, 'in'), '--aet', 'ONLY-ME']);
    try {
      const c = capture();
      expect(await main(['echo', '127.0.0.1', String(scp.port), '-aec', 'SOMEONE'], c.io)).toBe(1);
      expect(c.err[0]).toMatch(/^dimse-rx echo: Association rejected: .*called AE title not recognized/i);
    } finally {
      await scp.stop();
    }
  });

  it('echo: a peer that never answers times out after --timeout seconds', async () => {
    const port = await rawServer(() => {});
    const c = capture();
    const started = performance.now();
    expect(await main(['echo', '127.0.0.1', String(port), '--timeout', '1'], c.io)).toBe(1);
    expect(performance.now() - started).toBeGreaterThan(900);
    expect(c.err[0]).toMatch(/^dimse-rx echo: .*time/i);
  });

  it('echo: an A-ABORT from the peer is reported as an abort', async () => {
    const abort = encodePdu({ type: 'Abort', source: 2, reason: 0 });
    const port = await rawServer((socket) => socket.once('data', () => socket.end(abort)));
    const c = capture();
    expect(await main(['echo', '127.0.0.1', String(port)], c.io)).toBe(1);
    expect(c.err[0]).toMatch(/^dimse-rx echo: Association aborted/);
  });

  it('store: a folder, recursively (-r), into storescp; files stored byte for byte; files that are not DICOM skipped and counted', async () => {
    const source = join(work, 'source');
    await mkdir(join(source, 'series', 'deeper'), { recursive: true });
    const top = await writeStudy(source, 2, 1);
    const nested = await writeStudy(join(source, 'series', 'deeper'), 2, 2);
    await writeFile(join(source, 'series', 'notes.txt'), 'not DICOM');
    const out = join(work, 'received');
    const scp = await startStorescp(['--out', out, '--json']);
    try {
      const c = capture();
      const code = await main(['store', '127.0.0.1', String(scp.port), source, '-r', '--json'], c.io);
      const results = c.out.map((l) => JSON.parse(l) as Record<string, unknown>);
      const skipped = results.filter((r) => r.result === 'skipped');
      expect(skipped).toHaveLength(1);
      expect(String(skipped[0]!.file)).toMatch(/notes\.txt$/);
      const stored = results.filter((r) => r.status === 0);
      expect(stored).toHaveLength(4);
      expect(results.at(-1)).toMatchObject({ summary: true, stored: 4, failed: 0, skipped: 1 });
      // Every DICOM file was stored: a file that is not DICOM does not fail the run.
      expect(code).toBe(0);
      const names = (await readdir(out)).sort();
      expect(names).toEqual([...top, ...nested].map((f) => `${f.uid}.dcm`).sort());
      for (const file of [...top, ...nested]) {
        const bytes = await readFile(join(out, `${file.uid}.dcm`));
        const header = parsePart10Header(bytes);
        expect(header.meta.sourceApplicationEntityTitle).toBe('DIMSE-RX');
        expect(Buffer.compare(bytes.subarray(header.dataSetOffset), file.dataSet)).toBe(0);
      }
    } finally {
      await scp.stop();
    }
  });

  it('store: plain lines and exit 0 when every file is stored; a bar when on a terminal', async () => {
    const files = await writeStudy(work, 3, 3);
    const scp = await startStorescp(['--discard']);
    try {
      const plain = capture();
      expect(await main(['store', '127.0.0.1', String(scp.port), ...files.map((f) => f.path)], plain.io)).toBe(0);
      expect(plain.out.filter((l) => /image-\d\.dcm: success \(0x0000\)$/.test(l))).toHaveLength(3);
      expect(plain.out.at(-1)).toMatch(/^3 stored, 0 with warnings, 0 failed, 0 not sent, 0 skipped; \d+\.\d MB in \d+\.\d s$/);
      expect(plain.bar).toEqual([]);

      const terminal = capture();
      expect(await main(['store', '127.0.0.1', String(scp.port), ...files.map((f) => f.path)], { ...terminal.io, isTerminal: true })).toBe(
        0,
      );
      expect(terminal.bar.some((t) => /\[#{24}\] 3\/3 files, /.test(t))).toBe(true);
      expect(terminal.bar.at(-1)).toBe('\r\x1b[2K');
      expect(terminal.out).toHaveLength(1);
    } finally {
      await scp.stop();
    }
  });

  it('store: exit 1 and a failure line when the SCP answers with a failure status', async () => {
    const files = await writeStudy(work, 1, 4);
    // The file's parent "folder" is a regular file: the sink cannot write and answers 0xA700.
    await writeFile(join(work, 'blocked'), 'a file, not a folder');
    const scp = await startStorescp(['--out', join(work, 'blocked', 'in')]);
    try {
      const c = capture();
      expect(await main(['store', '127.0.0.1', String(scp.port), files[0]!.path], c.io)).toBe(1);
      expect(c.out.some((l) => /image-0\.dcm: .*\(0xa700\)$/.test(l))).toBe(true);
      expect(c.out.at(-1)).toMatch(/^0 stored, 0 with warnings, 1 failed, 0 not sent, 0 skipped/);
    } finally {
      await scp.stop();
    }
  });

  /** A peer that accepts every proposed context, then reads and never answers: its sockets' data is counted. */
  const silentScp = async (): Promise<{ port: number; aborted: () => boolean }> => {
    let aborted = false;
    const port = await rawServer((socket) => {
      socket.once('data', (bytes) => {
        const rq = decodePdu(bytes);
        if (rq.type !== 'AssociateRq') throw new Error(`expected an A-ASSOCIATE-RQ, got ${rq.type}`);
        socket.write(encodePdu(acceptAll(rq)));
        socket.on('data', (more) => {
          // An A-ABORT PDU (type 0x07) from the command line giving up.
          if (more.includes(Buffer.from([0x07, 0x00, 0x00, 0x00, 0x00, 0x04]))) aborted = true;
        });
      });
    });
    return { port, aborted: () => aborted };
  };

  it('echo: an SCP that accepts and never answers the C-ECHO times out after --timeout seconds and aborts', async () => {
    const peer = await silentScp();
    const c = capture();
    const started = performance.now();
    expect(await main(['echo', '127.0.0.1', String(peer.port), '--timeout', '1'], c.io)).toBe(1);
    const elapsed = performance.now() - started;
    expect(elapsed).toBeGreaterThan(900);
    expect(elapsed).toBeLessThan(5_000);
    expect(c.err[0]).toBe('dimse-rx echo: no DIMSE response within the timeout (--timeout)');
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(peer.aborted()).toBe(true);
  });

  it('store: an SCP that never answers the C-STORE times out, aborts and counts the files as failed', async () => {
    const files = await writeStudy(work, 2, 5);
    const peer = await silentScp();
    const c = capture();
    const started = performance.now();
    expect(await main(['store', '127.0.0.1', String(peer.port), '--timeout', '1', ...files.map((f) => f.path)], c.io)).toBe(1);
    expect(performance.now() - started).toBeLessThan(5_000);
    expect(c.out.some((l) => /failed .*image-0\.dcm: no DIMSE response within the timeout/.test(l))).toBe(true);
    expect(c.out.at(-1)).toMatch(/^0 stored, 0 with warnings, 2 failed, 0 not sent, 0 skipped/);
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(peer.aborted()).toBe(true);
  });

  it('store: a folder reached again through a link is walked once, a dangling link fails', async () => {
    const source = join(work, 'looped');
    await mkdir(source);
    const files = await writeStudy(source, 2, 6);
    await symlink(source, join(source, 'again'));
    await symlink(join(work, 'nowhere'), join(source, 'dangling'));
    const scp = await startStorescp(['--discard']);
    try {
      const c = capture();
      expect(await main(['store', '127.0.0.1', String(scp.port), source, '-r'], c.io)).toBe(1);
      expect(c.out.filter((l) => l.startsWith('failed '))).toEqual([expect.stringMatching(/^failed .*dangling: ENOENT/)]);
      expect(c.out.at(-1)).toMatch(/^2 stored, 0 with warnings, 1 failed, 0 not sent, 0 skipped/);
      // The SCP printed one line per C-STORE, with the instance UID and the bytes received.
      for (const file of files) {
        expect(scp.lines).toContainEqual(
          expect.stringMatching(
            new RegExp(
              `^C-STORE 1\\.2\\.840\\.10008\\.5\\.1\\.4\\.1\\.1\\.\\d+(\\.\\d+)* \\([^)]+\\) ${file.uid.replaceAll('.', '\\.')} from DIMSE-RX: success \\(0x0000\\), ${file.dataSet.length} bytes in 1\\.2\\.840\\.10008\\.1\\.2[.\\d]* \\([^)]+\\)$`,
            ),
          ),
        );
      }
    } finally {
      await scp.stop();
    }
  });

  it('store and storescp: usage errors exit 2 with the command usage', async () => {
    const c = capture();
    expect(await main(['store', '127.0.0.1', '104'], c.io)).toBe(2);
    expect(c.err[0]).toContain('store takes HOST, PORT and at least one PATH');
    expect(await main(['storescp', '--port', '0'], c.io)).toBe(2);
    expect(c.err[1]).toContain('storescp needs --out DIR (or --discard)');
    expect(await main(['echo', '127.0.0.1', 'port'], c.io)).toBe(2);
    expect(c.err[2]).toMatch(/port/i);
  });
});
