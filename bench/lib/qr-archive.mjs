// A DCMTK dcmqrscp filled with generated studies, for the query/retrieve interoperability tests
// and benchmarks: its configuration written into a temporary folder (one storage area, the
// caller's move destinations in the HostTable), started on a free loopback port, then filled by
// storescu with CT images from data.mjs in a layout of patients, studies, series and instances.
// What it stored is read back from the storage area: each SOP instance's file there.
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { readPart10Header } from '../../packages/dimse/dist/index.js';
import { writeImageSet } from './data.mjs';
import { freePort } from './process.mjs';

const LOOPBACK = '127.0.0.1';
/** Output of dcmqrscp kept (its last characters). */
const KEEP_CHARS = 4 << 20;
/** Patient names of the layout, in turn: several start with A, for wildcard queries. */
const NAMES = ['ADAMS^ANNA', 'BAKER^BEN', 'ALLEN^AMY', 'CLARK^CARL', 'AZUL^ARIEL', 'DIAZ^DORA'];

/** A UID from a name (PS3.5 B.2: 2.25. and a 128-bit value from its SHA-256), as the sample study makes them. */
function uidOf(name) {
  const bytes = createHash('sha256').update(`dimse-rx qr archive\0${name}`).digest().subarray(0, 16);
  bytes[6] = (bytes[6] & 0x0f) | 0x80;
  bytes[8] = (bytes[8] & 0x3f) | 0x80;
  return `2.25.${BigInt(`0x${bytes.toString('hex')}`).toString(10)}`;
}

/**
 * The patients, studies and series of a layout, with the attributes their images get.
 * Study k (counted over all patients from 0) is dated 2020-(k mod 12 + 1)-15.
 */
export function archiveLayout({ patients = 2, studiesPerPatient = 2, seriesPerStudy = 2, instancesPerSeries = 3 } = {}) {
  const series = [];
  let studyIndex = 0;
  for (let p = 0; p < patients; p++) {
    const patient = { PatientName: NAMES[p % NAMES.length] + (p >= NAMES.length ? String(p) : ''), PatientID: `QR${p + 1}` };
    for (let s = 0; s < studiesPerPatient; s++, studyIndex++) {
      const study = {
        StudyInstanceUID: uidOf(`study ${p} ${s}`),
        StudyDate: `2020${String((studyIndex % 12) + 1).padStart(2, '0')}15`,
        StudyID: String(s + 1),
        AccessionNumber: `A${p + 1}${s + 1}`,
        StudyDescription: `QR study ${s + 1} of ${patient.PatientID}`,
      };
      for (let r = 0; r < seriesPerStudy; r++) {
        series.push({
          seed: 10_000 + p * 1_000 + s * 100 + r,
          count: instancesPerSeries,
          attributes: {
            ...patient,
            ...study,
            SeriesInstanceUID: uidOf(`series ${p} ${s} ${r}`),
            SeriesNumber: r + 1,
            SeriesDescription: `QR series ${r + 1}`,
          },
        });
      }
    }
  }
  return series;
}

function canConnect(port) {
  return new Promise((resolve) => {
    const socket = connect({ host: LOOPBACK, port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => {
      socket.destroy();
      resolve(false);
    });
  });
}

/** Runs a program to its end: exit code (null on a signal or when it could not start) and stderr. */
function run(command, args) {
  return new Promise((resolve) => {
    const child = spawn(command, args, { env: { ...process.env, TCP_NODELAY: '1' }, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (text) => {
      stderr = (stderr + text).slice(-KEEP_CHARS);
    });
    child.once('error', (error) => resolve({ code: null, stderr: `${stderr}\n${error.message}` }));
    child.once('close', (code) => resolve({ code, stderr }));
  });
}

/** dcmqrscp's configuration (see /etc/dcmtk/dcmqrscp.cfg for the syntax). */
function configuration({ port, aeTitle, storageDir, destinations, maxPdu, maxStudies, megabytesPerStudy }) {
  const hosts = Object.entries(destinations).map(
    ([title, where], i) =>
      `dest${i + 1} = (${title}, ${typeof where === 'number' ? LOOPBACK : where.host}, ${typeof where === 'number' ? where : where.port})`,
  );
  return [
    `NetworkTCPPort  = ${port}`,
    `MaxPDUSize      = ${maxPdu}`,
    'MaxAssociations = 16',
    '',
    'HostTable BEGIN',
    ...hosts,
    'HostTable END',
    '',
    'VendorTable BEGIN',
    'VendorTable END',
    '',
    'AETable BEGIN',
    `${aeTitle} ${storageDir} RW (${maxStudies}, ${megabytesPerStudy}mb) ANY`,
    'AETable END',
    '',
  ].join('\n');
}

/**
 * Starts dcmqrscp and fills it. Options: `aeTitle` (DCMQRSCP), `destinations` ({ AE title:
 * port on 127.0.0.1, or { host, port } }) for C-MOVE, the layout (`patients`,
 * `studiesPerPatient`, `seriesPerStudy`, `instancesPerSeries`), `rows` and `columns` of each
 * image's 16-bit pixels (8 x 8), `verbose` ('-v' or '-d' for dcmqrscp's log), `maxPdu`
 * (65536), `directory` (a new temporary folder when absent; removed by stop() only then),
 * `singleProcess` (dcmqrscp -s instead of a fork per association), `series` (the layout given
 * series by series, as archiveLayout() returns it, each with its own `rows` and `columns` if set),
 * `reuse` (with `directory`: a folder this function filled before with the same layout is
 * served as it is, without generating and storing again; otherwise it is filled anew).
 */
export async function startQrArchive(options = {}) {
  const aeTitle = options.aeTitle ?? 'DCMQRSCP';
  const rows = options.rows ?? 8;
  const columns = options.columns ?? 8;
  const owned = options.directory === undefined;
  const directory = options.directory ?? mkdtempSync(join(tmpdir(), 'dimse-rx-qr-archive-'));
  const storageDir = join(directory, 'storage');
  const sourceDir = join(directory, 'source');
  mkdirSync(storageDir, { recursive: true });

  const layout = options.series ?? archiveLayout(options);
  // A folder filled before with the same layout (`reuse`) is started as it is.
  const manifestFile = join(directory, 'archive.json');
  const manifest = JSON.stringify({ layout, rows, columns, aeTitle });
  const kept = options.reuse && existsSync(manifestFile) ? JSON.parse(readFileSync(manifestFile, 'utf8')) : undefined;
  const reused =
    kept !== undefined &&
    JSON.stringify({ layout: kept.layout, rows: kept.rows, columns: kept.columns, aeTitle: kept.aeTitle }) === manifest;
  if (!reused) {
    rmSync(storageDir, { recursive: true, force: true });
    rmSync(sourceDir, { recursive: true, force: true });
    rmSync(manifestFile, { force: true });
    mkdirSync(storageDir, { recursive: true });
  }
  const sources = [];
  for (const [i, series] of (reused ? [] : layout).entries()) {
    const { files } = writeImageSet(sourceDir, {
      count: series.count,
      rows: series.rows ?? rows,
      columns: series.columns ?? columns,
      seed: series.seed,
      attributes: series.attributes,
      prefix: `s${i}-`,
    });
    for (const path of files) sources.push({ path, attributes: series.attributes });
  }
  const perStudy = new Map();
  for (const s of layout) perStudy.set(s.attributes.StudyInstanceUID, (perStudy.get(s.attributes.StudyInstanceUID) ?? 0) + s.count);
  const studies = perStudy.size;
  const biggestStudy = Math.max(...perStudy.values());
  // Over quota dcmqrscp deletes the oldest studies: room for twice as much as is stored.
  const biggestImage = Math.max(...layout.map((s) => (s.rows ?? rows) * (s.columns ?? columns) * 2));
  const megabytesPerStudy = Math.max(1024, Math.ceil((2 * biggestStudy * (biggestImage + 4096)) / 2 ** 20));

  const port = options.port ?? (await freePort());
  const configFile = join(directory, 'dcmqrscp.cfg');
  writeFileSync(
    configFile,
    configuration({
      port,
      aeTitle,
      storageDir,
      destinations: options.destinations ?? {},
      maxPdu: options.maxPdu ?? 65536,
      maxStudies: 2 * studies + 10,
      megabytesPerStudy,
    }),
  );

  const args = ['-c', configFile, ...(options.verbose ? [options.verbose] : []), ...(options.singleProcess ? ['-s'] : []), String(port)];
  const child = spawn('dcmqrscp', args, { cwd: directory, env: { ...process.env, TCP_NODELAY: '1' }, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const collect = (text) => {
    output += text;
    if (output.length > KEEP_CHARS) output = output.slice(-KEEP_CHARS);
  };
  child.stdout.setEncoding('utf8').on('data', collect);
  child.stderr.setEncoding('utf8').on('data', collect);
  let ended = false;
  const exited = new Promise((resolve) => {
    child.once('close', (code) => {
      ended = true;
      resolve(code);
    });
    child.once('error', (error) => {
      ended = true;
      collect(`\n${error.message}`);
      resolve(null);
    });
  });
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    if (!ended) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 2_000);
      await exited;
      clearTimeout(timer);
    }
    if (owned) rmSync(directory, { recursive: true, force: true });
  };

  try {
    const deadline = Date.now() + 10_000;
    while (!(await canConnect(port))) {
      if (ended) throw new Error(`dcmqrscp ${args.join(' ')} ended before it listened\n${output}`);
      if (Date.now() > deadline) throw new Error(`dcmqrscp did not listen on ${port} within 10 s\n${output}`);
      await sleep(20);
    }
    if (reused) return { port, aeTitle, directory, storageDir, configFile, files: kept.files, output: () => output, exited, stop };
    // storescu scans the source folder (+sd) so that thousands of files need no long command
    // line; run asynchronously, as dcmqrscp's output has to be read meanwhile.
    const stored = await run('storescu', ['-aec', aeTitle, '--max-pdu', '65536', '+sd', LOOPBACK, String(port), sourceDir]);
    if (stored.code !== 0) throw new Error(`storescu into dcmqrscp failed (${stored.code})\n${stored.stderr}\n${output}`);

    const byUid = new Map(
      await Promise.all(
        sources.map(async ({ path, attributes }) => [
          (await readPart10Header(path)).meta.mediaStorageSopInstanceUid,
          { source: path, attributes },
        ]),
      ),
    );
    const files = [];
    for (const name of readdirSync(storageDir).sort()) {
      if (name === 'index.dat') continue;
      const path = join(storageDir, name);
      const { meta } = await readPart10Header(path);
      const from = byUid.get(meta.mediaStorageSopInstanceUid);
      if (!from) throw new Error(`dcmqrscp holds ${name}, which was not sent (${meta.mediaStorageSopInstanceUid})`);
      files.push({
        path,
        source: from.source,
        sopClassUid: meta.mediaStorageSopClassUid,
        sopInstanceUid: meta.mediaStorageSopInstanceUid,
        transferSyntaxUid: meta.transferSyntaxUid,
        patientId: from.attributes.PatientID,
        patientName: from.attributes.PatientName,
        studyInstanceUid: from.attributes.StudyInstanceUID,
        studyDate: from.attributes.StudyDate,
        seriesInstanceUid: from.attributes.SeriesInstanceUID,
      });
    }
    if (files.length !== sources.length) throw new Error(`dcmqrscp stored ${files.length} of ${sources.length} files\n${output}`);
    if (options.reuse) writeFileSync(manifestFile, JSON.stringify({ ...JSON.parse(manifest), files }));
    return { port, aeTitle, directory, storageDir, configFile, files, output: () => output, exited, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}
