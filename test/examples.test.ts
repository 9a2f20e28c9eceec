/**
 * The programs of examples/, built (npm run build compiles them to examples/dist) and run as a
 * user runs them, each against a peer in this process: what they print is what is checked.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { generateSampleStudy } from '@dimse-rx/dataset/sample';
import { encodeDataset, type NaturalizedDataset, readDicomFileHeaderSync, Status, type StorageHandler } from '@dimse-rx/dimse';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { answering, startScp as startLibraryScp, writeStudy as writeStudyFiles } from '../packages/cli/test/support.js';
import { freePort } from './support/dcmtk.js';
import { startQrScp } from './support/qr-scp.js';

const DIST = fileURLToPath(new URL('../examples/dist/', import.meta.url));
const SECONDARY_CAPTURE = '1.2.840.10008.5.1.4.1.1.7';

let work: string;
const children: ChildProcess[] = [];
const servers: { stop: () => void }[] = [];

beforeAll(() => {
  expect(existsSync(join(DIST, 'health-check.js')), `${DIST} is missing: run npm run build`).toBe(true);
});

afterEach(async () => {
  for (const child of children.splice(0)) child.kill('SIGKILL');
  for (const server of servers.splice(0)) server.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

/** A running example: its lines as they come, and its exit. */
function run(example: string, args: string[]) {
  const child = spawn(process.execPath, [join(DIST, `${example}.js`), ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  const lines: string[] = [];
  const waiters: (() => void)[] = [];
  let partial = '';
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
    const parts = (partial + chunk).split('\n');
    partial = parts.pop()!;
    lines.push(...parts);
    for (const w of waiters.splice(0)) w();
  });
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const exit = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return {
    child,
    lines,
    exit,
    stderr: () => stderr,
    /** The first line matching `pattern`, waiting up to `ms` for it. */
    async line(pattern: RegExp, ms = 15_000): Promise<RegExpExecArray> {
      const deadline = Date.now() + ms;
      for (;;) {
        for (const l of lines) {
          const m = pattern.exec(l);
          if (m) return m;
        }
        if (Date.now() > deadline) throw new Error(`no line matching ${pattern} in:\n${lines.join('\n')}\n${stderr}`);
        await new Promise<void>((resolve) => {
          waiters.push(resolve);
          setTimeout(resolve, 100);
        });
      }
    },
  };
}

/** A library SCP in this process (CT and Verification), stopped when the test ends. */
async function startScp(store: StorageHandler, options: Parameters<typeof startLibraryScp>[1] = {}) {
  const server = await startLibraryScp(store, options);
  servers.push(server);
  return server;
}

/** Part 10 files of a generated study in a new `folder`, CT unless told: their paths. */
async function writeStudy(folder: string, images: number, seed: number, sopClass?: string): Promise<string[]> {
  await mkdir(folder, { recursive: true });
  return (await writeStudyFiles(folder, images, seed, `image-${seed}`, sopClass)).map((f) => f.path);
}

/** Reads a data set to its end, then answers `status`. */
const readThen = (data: Parameters<StorageHandler>[1], status: number, then?: () => void) =>
  new Promise<number>((resolve, reject) =>
    data.chunks.subscribe({
      complete: () => {
        then?.();
        resolve(status);
      },
      error: reject,
    }),
  );

/** A handler that reads each data set to its end and answers success. */
const reading = answering(() => Status.Success);

describe('examples/health-check', () => {
  it('says UP, then DOWN with the reason in words while the peer is gone, then UP (back up) once it returns', async () => {
    const first = await startScp(reading);
    const check = run('health-check', ['127.0.0.1', String(first.port), '--every', '0.3']);
    expect((await check.line(/^UP (\d+) ms, status 0x0000$/))[1]).toBeDefined();
    first.stop();
    expect((await check.line(/^DOWN (.*) \(went down\)$/))[1]).toMatch(/^cannot connect \(ECONNREFUSED\)$/);
    await startScp(reading, { port: first.port });
    await check.line(/^UP \d+ ms, status 0x0000 \(back up\)$/);
    // Every line is one of the three forms, and the order was up, down, up.
    expect(
      check.lines.every((l) => /^(UP \d+ ms, status 0x0000|DOWN cannot connect \(ECONNREFUSED\))( \((went down|back up)\))?$/.test(l)),
    ).toBe(true);
    const changes = check.lines.filter((l) => l.endsWith(')') && /\((went down|back up)\)$/.test(l));
    expect(changes.map((l) => (l.startsWith('UP') ? 'up' : 'down'))).toEqual(['down', 'up']);
  });

  it('stops after --count checks, exit 0', async () => {
    const { port } = await startScp(reading);
    const check = run('health-check', ['127.0.0.1', String(port), '--every', '0.1', '--count', '3']);
    expect(await check.exit).toBe(0);
    expect(check.lines).toHaveLength(3);
    expect(check.lines.every((l) => /^UP \d+ ms, status 0x0000$/.test(l))).toBe(true);
  });
});

describe('examples/send-folder', () => {
  it('sends a folder over 3 associations, resumes after an abort, skips what is not DICOM, and sums up', async () => {
    work = await mkdtemp(join(tmpdir(), 'examples-send-'));
    const folder = join(work, 'in');
    const paths = [...(await writeStudy(folder, 8, 1)), ...(await writeStudy(join(folder, 'series-2'), 6, 2))];
    await writeFile(join(folder, 'notes.txt'), 'not DICOM\n');
    // The SCP aborts the association of its 5th C-STORE, once, before answering it.
    const stored = new Set<string>();
    let n = 0;
    const store: StorageHandler = (info, data) => {
      n++;
      if (n === 5) return readThen(data, Status.Success, () => info.association.abort()).then(() => new Promise<number>(() => undefined));
      return readThen(data, Status.Success, () => stored.add(info.sopInstanceUid));
    };
    const { port, associations } = await startScp(store);
    const send = run('send-folder', ['127.0.0.1', String(port), folder, '--associations', '3']);
    expect(await send.exit).toBe(0);
    const summary = (await send.line(/^summary: (\d+) of (\d+) files stored, (\d+) failed, (\d+) skipped, .* (\d+) resumed$/))
      .slice(1)
      .map(Number);
    expect(summary.slice(0, 4)).toEqual([14, 14, 0, 1]);
    expect(summary[4]).toBeGreaterThanOrEqual(1);
    expect(send.lines).toContain(`skipped ${join(folder, 'notes.txt')}: not DICOM`);
    expect(send.lines.filter((l) => l.startsWith('progress ')).at(-1)).toMatch(/^progress 14\/14 files, /);
    // Every instance arrived (the aborted one again, over a new association), over more than 3 associations.
    const uids = paths.map((p) => readDicomFileHeaderSync(p).sopInstanceUid);
    expect([...stored].sort()).toEqual([...uids].sort());
    expect(associations.length).toBeGreaterThanOrEqual(4);
  });
});

describe('examples/storage-scp', () => {
  it('logs patient and study of each image, refuses Secondary Capture with 0x0122, writes the rest as files', async () => {
    work = await mkdtemp(join(tmpdir(), 'examples-scp-'));
    const out = join(work, 'out');
    await mkdir(out);
    const ct = await writeStudy(join(work, 'ct'), 2, 3);
    const sc = await writeStudy(join(work, 'sc'), 1, 4, SECONDARY_CAPTURE);
    const server = run('storage-scp', ['--port', '0', '--out', out]);
    const port = Number((await server.line(/^listening on (\d+)$/))[1]);
    // The command line sends them, one result line each.
    const { main } = await import('../packages/cli/src/main.js');
    const lines: string[] = [];
    const code = await main(['store', '127.0.0.1', String(port), '--json', ...ct, ...sc], {
      out: (l) => lines.push(l),
      err: (l) => lines.push(l),
    });
    expect(code).toBe(1);
    const results = lines.map((l) => JSON.parse(l) as Record<string, unknown>).filter((r) => r.summary !== true);
    expect(results.map((r) => [r.file, r.status])).toEqual([
      [ct[0], 0],
      [ct[1], 0],
      [sc[0], Status.SopClassNotSupported],
    ]);
    const patient = generateSampleStudy({ images: 1, rows: 16, columns: 16, seed: 3 })[0]!;
    for (const path of ct) {
      const uid = readDicomFileHeaderSync(path).sopInstanceUid;
      const line = await server.line(
        new RegExp(`^image ${uid.replaceAll('.', '\\.')} from DIMSE-RX: patient (.*) \\((.*)\\), study (\\S+)`),
      );
      expect(line.slice(1, 4)).toEqual([String(patient.PatientName), String(patient.PatientID), String(patient.StudyInstanceUID)]);
    }
    const scUid = readDicomFileHeaderSync(sc[0]!).sopInstanceUid;
    await server.line(new RegExp(`^refused ${scUid.replaceAll('.', '\\.')}: Secondary Capture Image Storage is not stored here$`));
    // Two files, byte for byte the data sets sent.
    const written = (await readdir(out)).sort();
    expect(written).toHaveLength(2);
    for (const path of ct) {
      const header = readDicomFileHeaderSync(path);
      const name = written.find((w) => w.startsWith(header.sopInstanceUid));
      expect(name).toBeDefined();
      const sent = (await readFile(path)).subarray(header.dataSetOffset);
      const kept = await readFile(join(out, name!));
      expect(kept.subarray(kept.length - sent.length).equals(sent)).toBe(true);
    }
    server.child.kill('SIGTERM');
    expect(await server.exit).toBe(0);
  });
});

describe('examples/patient-finder', () => {
  it('streams the first 5 matches, cancels the rest (the service ends with its own count), and finds one patient whole', async () => {
    const server = run('patient-finder', ['serve', '--port', '0', '--patients', '200000']);
    const port = (await server.line(/^listening on (\d+), 200000 patients$/))[1]!;
    const first = run('patient-finder', ['find', '127.0.0.1', port, 'doe*', '--first', '5']);
    expect(await first.exit).toBe(0);
    expect(first.lines).toEqual([
      'P0001 DOE^PATIENT0001',
      'P0005 DOE^PATIENT0005',
      'P0009 DOE^PATIENT0009',
      'P0013 DOE^PATIENT0013',
      'P0017 DOE^PATIENT0017',
      '5 shown, the rest cancelled',
    ]);
    // 50,000 patients match: the service stopped when the C-CANCEL came, long before the last.
    const sent = Number((await server.line(/^cancelled by the peer after (\d+) matches$/))[1]);
    expect(sent).toBeGreaterThanOrEqual(5);
    expect(sent).toBeLessThan(50_000);
    const one = run('patient-finder', ['find', '127.0.0.1', port, 'smith^patient0002']);
    expect(await one.exit).toBe(0);
    expect(one.lines).toEqual(['P0002 SMITH^PATIENT0002', '1 match, all shown']);
    await server.line(/^answered with 1 matches$/);
  });
});

/** Study-level data sets without pixels: enough for a C-FIND SCP to search. */
const studies = (n: number): NaturalizedDataset[] =>
  Array.from({ length: n }, (_, i) => ({
    SOPClassUID: SECONDARY_CAPTURE,
    SOPInstanceUID: `1.2.826.0.1.3680043.10.1.${i + 1}.1.1`,
    SeriesInstanceUID: `1.2.826.0.1.3680043.10.1.${i + 1}.1`,
    StudyInstanceUID: `1.2.826.0.1.3680043.10.1.${i + 1}`,
    PatientID: `P${i + 1}`,
    PatientName: `${i % 2 === 0 ? 'DOE' : 'SMITH'}^PATIENT${i + 1}`,
    StudyDate: `2024${String((i % 12) + 1).padStart(2, '0')}15`,
    StudyDescription: `study ${i + 1}`,
  }));

/** An in-memory query/retrieve SCP, stopped when the test ends. */
async function startQr(options: Parameters<typeof startQrScp>[0]) {
  const server = await startQrScp(options);
  servers.push(server);
  return server;
}

describe('examples/find-studies', () => {
  it('prints the first 5 matches as they come and cancels the rest: the SCP saw the C-CANCEL', async () => {
    const all = studies(4000);
    const { port, log } = await startQr({ instances: all });
    const find = run('find-studies', ['127.0.0.1', String(port), '--aec', 'QR-SCP', '--name', 'DOE*', '--first', '5']);
    expect(await find.exit).toBe(0);
    const doe = all.filter((s) => String(s.PatientName).startsWith('DOE')).slice(0, 5);
    expect(find.lines).toEqual([
      ...doe.map((s) => `${s.StudyDate} ${s.PatientName} (${s.PatientID}) ${s.StudyDescription} ${s.StudyInstanceUID}`),
      '5 shown, the rest cancelled',
    ]);
    expect(log.requests).toHaveLength(1);
    expect(log.requests[0]!.identifier).toMatchObject({ QueryRetrieveLevel: 'STUDY', PatientName: [{ Alphabetic: 'DOE*' }] });
    expect(log.cancels).toBe(1);
  });

  it('an open date range: every study on or after the date, all shown, no cancel', async () => {
    const all = studies(24);
    const { port, log } = await startQr({ instances: all });
    const find = run('find-studies', ['127.0.0.1', String(port), '--aec', 'QR-SCP', '--since', '20241101', '--first', '100']);
    expect(await find.exit).toBe(0);
    const wanted = all.filter((s) => String(s.StudyDate) >= '20241101');
    expect(wanted).toHaveLength(4);
    expect(find.lines.slice(0, -1).map((l) => l.split(' ').at(-1))).toEqual(wanted.map((s) => s.StudyInstanceUID));
    expect(find.lines.at(-1)).toBe('4 studies, all shown');
    expect(log.requests[0]!.identifier.StudyDate).toBe('20241101-');
    expect(log.cancels).toBe(0);
  });

  it('a query not answered in time is cancelled and retried on a new association, which answers', async () => {
    const all = studies(6);
    const { port, log } = await startQr({ instances: all, silentFinds: 1 });
    const find = run('find-studies', ['127.0.0.1', String(port), '--aec', 'QR-SCP', '--timeout', '0.5', '--first', '100']);
    expect(await find.exit).toBe(0);
    expect(find.lines[0]).toMatch(/^attempt 1 failed: C-FIND: no response within 500 ms.*; retrying$/);
    expect(find.lines.slice(1, -1)).toHaveLength(6);
    expect(find.lines.at(-1)).toBe('6 studies, all shown');
    // The attempt that timed out was cancelled; the second one was answered.
    expect(log.cancels).toBe(1);
    expect(log.requests).toHaveLength(1);
  });
});

describe('examples/retrieve-study', () => {
  it('gets a study into files with progress, then moves it to itself: both byte for byte what the SCP holds', async () => {
    work = await mkdtemp(join(tmpdir(), 'examples-retrieve-'));
    const wanted = generateSampleStudy({ images: 5, rows: 32, columns: 32, seed: 21 });
    const other = generateSampleStudy({ images: 2, rows: 32, columns: 32, seed: 22 });
    const destination = await freePort();
    const { port, log } = await startQr({ instances: [...wanted, ...other], destinations: { RETRIEVER: destination } });
    const study = String(wanted[0]!.StudyInstanceUID);
    const retrieve = run('retrieve-study', [
      '127.0.0.1',
      String(port),
      study,
      '--out',
      work,
      '--aec',
      'QR-SCP',
      '--aet',
      'RETRIEVER',
      '--port',
      String(destination),
    ]);
    expect(await retrieve.exit, retrieve.stderr()).toBe(0);
    for (const what of ['get', 'move']) {
      const stored = retrieve.lines.filter((l) => l.startsWith(`${what}: stored `));
      expect(stored).toHaveLength(5);
      expect(retrieve.lines).toContain(`${what}: 4 completed, 0 failed, 1 remaining`);
      expect(retrieve.lines.find((l) => l.startsWith(`${what}: success`))).toMatch(
        new RegExp(`^${what}: success, 5 completed, 0 failed, 0 warning, \\d+\\.\\d MB in \\d+\\.\\d\\d s$`),
      );
      const files = (await readdir(join(work, what))).sort();
      expect(files).toEqual(wanted.map((d) => `${d.SOPInstanceUID}.dcm`).sort());
      for (const dataset of wanted) {
        const path = join(work, what, `${dataset.SOPInstanceUID}.dcm`);
        const header = readDicomFileHeaderSync(path);
        const kept = (await readFile(path)).subarray(header.dataSetOffset);
        expect(Buffer.from(encodeDataset(dataset, header.transferSyntaxUid)).equals(kept)).toBe(true);
      }
    }
    expect(log.requests.map((r) => [r.command, r.identifier.StudyInstanceUID])).toEqual([
      ['C-GET', study],
      ['C-MOVE', study],
    ]);
  });
});
