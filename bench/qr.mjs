// Query/retrieve of dimse-rx against DCMTK, in one run, on one DCMTK dcmqrscp holding the same
// generated studies, over 127.0.0.1:
//   find: an image-level C-FIND with BENCH_FIND_IMAGES matches (default 5000): time to the first
//         match and to the last, against findscu
//   get:  a C-GET of a study of BENCH_IMAGES images of 512 KiB (default 500) into files, against getscu
//   move: a C-MOVE of the same study into DCMTK storescp --ignore, against movescu
// Each as the command line from spawn (dimse-rx find/get/move, through the package manager's
// shim) against the DCMTK tool from spawn, and as the library in a process that keeps running
// (bench/lib/qr-library.mjs: the same operation BENCH_WARM_RUNS times, the first apart; with the
// command line's small young generation, --max-semi-space-size=1) against the DCMTK tool's
// whole run; each operation's library runs follow its tools' runs. Before every run `sync`
// writes back what the runs before left in the page cache. Peak RSS is VmHWM of each dimse-rx
// process. Prints the figures and a table of the targets; BENCH_OUT=FILE also writes JSON. Run after a build:
// `node bench/qr.mjs` (or `npm run bench`). dcmqrscp's index is filled by storescu first, which
// takes minutes: each stored instance makes it read its whole index again.
//
// Other settings: BENCH_QR_ARCHIVE (a folder for dcmqrscp's archive, kept and served again by
// later runs with the same sizes instead of being filled anew), BENCH_RUNS (runs of each tool, median reported, default 3), BENCH_TIMEOUT (s
// per run, default 300).
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Child, freePort, killAll } from './lib/process.mjs';

const env = process.env;
const FIND_IMAGES = Number(env.BENCH_FIND_IMAGES ?? 5000);
const IMAGES = Number(env.BENCH_IMAGES ?? 500);
const RUNS = Number(env.BENCH_RUNS ?? 3);
const WARM_RUNS = Number(env.BENCH_WARM_RUNS ?? 5);
const TIMEOUT_MS = Number(env.BENCH_TIMEOUT ?? 300) * 1000;
/** The memory target for every dimse-rx process, bytes. */
const RSS_TARGET = 100e6;
const CLI = fileURLToPath(new URL('../node_modules/.bin/dimse-rx', import.meta.url));
const LIBRARY = fileURLToPath(new URL('./lib/qr-library.mjs', import.meta.url));
const DCMTK_ENV = { TCP_NODELAY: '1' };
const DESTINATION = 'STORESCP';
const LOOPBACK = '127.0.0.1';

if (!existsSync(new URL('../packages/dimse/dist/index.js', import.meta.url))) {
  console.error('bench/qr.mjs: build first (npm run build)');
  process.exit(1);
}
for (const tool of ['dcmqrscp', 'findscu', 'getscu', 'movescu', 'storescp', 'storescu']) {
  const probe = new Child(tool, tool, ['--version']);
  await probe.finish(10_000);
  if (probe.code !== 0) {
    console.error(`bench/qr.mjs: DCMTK's ${tool} is needed (apt-get install -y dcmtk)`);
    process.exit(1);
  }
}
// Imported once the build is known to be there: the archive reads its files with the library.
const { archiveLayout, startQrArchive } = await import('./lib/qr-archive.mjs');

const median = (values) => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
};
const mb = (kib) => (kib * 1024) / 1e6;
const fixed = (value, digits) => (value === undefined ? '–' : value.toFixed(digits));

/** Runs a program to its end; `onLine(stream, line, ms since spawn)` sees each output line as it comes. */
async function runTool(label, command, args, { env: extra = {}, onLine } = {}) {
  // What the runs before left for the disk to write back is written first, not during this one.
  spawnSync('sync');
  const child = new Child(label, command, args, extra);
  if (onLine) {
    for (const stream of ['stdout', 'stderr']) {
      let partial = '';
      child.child[stream].on('data', (chunk) => {
        const now = performance.now() - child.startedAt;
        const lines = (partial + chunk).split('\n');
        partial = lines.pop();
        for (const line of lines) onLine(stream, line, now);
      });
    }
  }
  await child.finish(TIMEOUT_MS);
  if (child.timedOut) throw new Error(`${label} did not end within ${TIMEOUT_MS / 1000} s`);
  return child;
}

// ---- the archive: one series for the find, one study of 512 KiB images for the retrieves

const [findSeries] = archiveLayout({ patients: 1, studiesPerPatient: 1, seriesPerStudy: 1, instancesPerSeries: FIND_IMAGES });
const [retrieveSeries] = archiveLayout({ patients: 2, studiesPerPatient: 1, seriesPerStudy: 1, instancesPerSeries: IMAGES }).slice(1);
const work = mkdtempSync(join(tmpdir(), 'dimse-rx-bench-qr-'));
let archive;
let storescp;
try {
  const storescpPort = await freePort();
  storescp = new Child('storescp', 'storescp', ['--ignore', String(storescpPort)], DCMTK_ENV);
  await storescp.waitForPort(storescpPort);

  console.log(
    `Filling dcmqrscp with ${FIND_IMAGES} images of 8 × 8 (one series) and ${IMAGES} of 512 × 512 (one study, ${(
      (IMAGES * 512 * 512 * 2) / 1e6
    ).toFixed(1)} MB of pixels) through storescu…`,
  );
  const fillStarted = performance.now();
  archive = await startQrArchive({
    directory: env.BENCH_QR_ARCHIVE ?? join(work, 'archive'),
    reuse: env.BENCH_QR_ARCHIVE !== undefined,
    destinations: { [DESTINATION]: storescpPort },
    series: [
      { ...findSeries, rows: 8, columns: 8 },
      { ...retrieveSeries, rows: 512, columns: 512 },
    ],
  });
  console.log(`  ${archive.files.length} instances stored in ${((performance.now() - fillStarted) / 1000).toFixed(0)} s`);
  const port = String(archive.port);
  const aec = archive.aeTitle;
  const findKeys = {
    StudyInstanceUID: findSeries.attributes.StudyInstanceUID,
    SeriesInstanceUID: findSeries.attributes.SeriesInstanceUID,
  };
  const study = retrieveSeries.attributes.StudyInstanceUID;
  const dcmtkFindKeys = [
    '-k',
    'QueryRetrieveLevel=IMAGE',
    '-k',
    `StudyInstanceUID=${findKeys.StudyInstanceUID}`,
    '-k',
    `SeriesInstanceUID=${findKeys.SeriesInstanceUID}`,
    '-k',
    'SOPInstanceUID',
    '-k',
    'InstanceNumber',
  ];
  const studyKeys = ['-k', 'QueryRetrieveLevel=STUDY', '-k', `StudyInstanceUID=${study}`];

  const results = { find: {}, get: {}, move: {} };
  const failures = [];

  /** RUNS runs of a tool from spawn; `measure(run)` returns the figures of one, or throws. */
  async function spawned(operation, name, measure) {
    const runs = [];
    let peakKiB = 0;
    try {
      for (let i = 0; i < RUNS; i++) {
        const run = await measure(i);
        peakKiB = Math.max(peakKiB, run.peakKiB);
        runs.push(run);
      }
      const figure = { name, runs: runs.length, wall: median(runs.map((r) => r.wall)), peakMB: mb(peakKiB) };
      if (operation === 'find') figure.first = median(runs.map((r) => r.first));
      results[operation][name] = figure;
      console.log(`  ${name}: ${JSON.stringify(figure)}`);
    } catch (error) {
      failures.push(`${operation} ${name}: ${error.message}`);
      console.log(`  ${name}: failed: ${error.message}`);
    }
  }

  // ---- the library in a running process
  const library = {};
  const warm = async (key, args, check) => {
    try {
      const child = await runTool(`library ${key}`, process.execPath, ['--max-semi-space-size=1', LIBRARY, ...args]);
      const outcome = child.lastJson();
      if (child.code !== 0 || !outcome) throw new Error(`exit ${child.code}: ${child.tail()}`);
      for (const run of outcome.runs) {
        const problem = check(run);
        if (problem) throw new Error(problem);
      }
      const [first, ...rest] = outcome.runs;
      const pick = (field) => (rest.length ? median(rest.map((r) => r[field])) : first[field]);
      library[key] =
        outcome.mode === 'find'
          ? { firstRun: first.last, first: pick('first'), last: pick('last'), peakMB: mb(outcome.peakKiB) }
          : { firstRun: first.seconds, seconds: pick('seconds'), peakMB: mb(outcome.peakKiB) };
      console.log(`  ${key}: ${JSON.stringify(library[key])}`);
    } catch (error) {
      failures.push(`library ${key}: ${error.message}`);
      console.log(`  ${key}: failed: ${error.message}`);
    }
  };
  const runsArg = String(WARM_RUNS);
  // ---- C-FIND
  console.log(`C-FIND, image level, ${FIND_IMAGES} matches (${RUNS} runs from spawn):`);
  const findRun = (label, command, args, matchLine) => async () => {
    let first;
    let matches = 0;
    const child = await runTool(label, command, args, {
      env: command === CLI ? {} : DCMTK_ENV,
      onLine: (stream, line, ms) => {
        if (!matchLine(stream, line)) return;
        first ??= ms;
        matches++;
      },
    });
    if (child.code !== 0 || matches !== FIND_IMAGES) throw new Error(`exit ${child.code}, ${matches} matches: ${child.tail()}`);
    return { first: first / 1000, wall: child.wallMs / 1000, peakKiB: child.peakKiB };
  };
  await spawned(
    'find',
    'findscu',
    findRun('findscu', 'findscu', ['-S', '-aec', aec, ...dcmtkFindKeys, LOOPBACK, port], (_stream, line) =>
      /^I: Find Response: \d+ \(Pending\)/.test(line),
    ),
  );
  await spawned(
    'find',
    'dimse-rx find',
    findRun(
      'dimse-rx find',
      CLI,
      ['find', LOOPBACK, port, '-aec', aec, '-S', ...dcmtkFindKeys, '--json'],
      (stream, line) => stream === 'stdout' && line.startsWith('{'),
    ),
  );

  console.log(`  the library in a running process, ${WARM_RUNS} runs, the first apart:`);
  await warm('find', ['find', port, aec, runsArg, findKeys.StudyInstanceUID, findKeys.SeriesInstanceUID], (r) =>
    r.matches === FIND_IMAGES ? undefined : `${r.matches} matches`,
  );

  // ---- C-GET
  console.log(`C-GET of ${IMAGES} × 512 KiB into files (${RUNS} runs from spawn):`);
  const getRun = (label, command, argsFor) => async (run) => {
    const out = join(work, `${label.replace(/\W+/g, '-')}-${run}`);
    const child = await runTool(label, command, argsFor(out), { env: command === CLI ? {} : DCMTK_ENV });
    const files = existsSync(out) ? readdirSync(out).filter((name) => !name.startsWith('.')).length : 0;
    rmSync(out, { recursive: true, force: true });
    if (child.code !== 0 || files !== IMAGES) throw new Error(`exit ${child.code}, ${files} files: ${child.tail()}`);
    return { wall: child.wallMs / 1000, peakKiB: child.peakKiB };
  };
  await spawned(
    'get',
    'getscu',
    getRun('getscu', 'getscu', (out) => ['-S', '-aec', aec, ...studyKeys, '-od', mkdirFor(out), LOOPBACK, port]),
  );
  await spawned(
    'get',
    'dimse-rx get --no-fsync',
    getRun('dimse-rx get --no-fsync', CLI, (out) => [
      'get',
      LOOPBACK,
      port,
      '-aec',
      aec,
      '-S',
      ...studyKeys,
      '--out',
      out,
      '--no-fsync',
      '--json',
    ]),
  );
  await spawned(
    'get',
    'dimse-rx get',
    getRun('dimse-rx get', CLI, (out) => ['get', LOOPBACK, port, '-aec', aec, '-S', ...studyKeys, '--out', out, '--json']),
  );

  console.log(`  the library in a running process, ${WARM_RUNS} runs, the first apart:`);
  await warm('get --no-fsync', ['get', port, aec, runsArg, study, join(work, 'library-get'), '--no-fsync'], (r) =>
    r.completed === IMAGES && r.files === IMAGES ? undefined : JSON.stringify(r),
  );
  await warm('get', ['get', port, aec, runsArg, study, join(work, 'library-get')], (r) =>
    r.completed === IMAGES && r.files === IMAGES ? undefined : JSON.stringify(r),
  );

  // ---- C-MOVE
  console.log(`C-MOVE of ${IMAGES} × 512 KiB into DCMTK storescp --ignore (${RUNS} runs from spawn):`);
  const moveRun = (label, command, args, check) => async () => {
    const child = await runTool(label, command, args, { env: command === CLI ? {} : DCMTK_ENV });
    const problem = child.code === 0 ? check(child) : `exit ${child.code}`;
    if (problem) throw new Error(`${problem}: ${child.tail()}`);
    return { wall: child.wallMs / 1000, peakKiB: child.peakKiB };
  };
  await spawned(
    'move',
    'movescu',
    moveRun('movescu', 'movescu', ['-S', '-aec', aec, '-aem', DESTINATION, ...studyKeys, LOOPBACK, port], (child) =>
      // movescu exits 0 whatever the final status; dcmqrscp reports the counts in it.
      /Final Move Response \(Success\)/.test(child.stderr + child.stdout) || !/^[EW]: /m.test(child.stderr) ? undefined : 'not a success',
    ),
  );
  await spawned(
    'move',
    'dimse-rx move',
    moveRun('dimse-rx move', CLI, ['move', LOOPBACK, port, '-aec', aec, '-S', '--dest', DESTINATION, ...studyKeys, '--json'], (child) => {
      const summary = child.lastJson();
      return summary?.completed === IMAGES ? undefined : `summary ${JSON.stringify(summary)}`;
    }),
  );

  console.log(`  the library in a running process, ${WARM_RUNS} runs, the first apart:`);
  await warm('move', ['move', port, aec, runsArg, study, DESTINATION], (r) => (r.completed === IMAGES ? undefined : JSON.stringify(r)));

  // ---- the targets: each a ratio of two figures of this run
  const rows = [];
  const ratioRow = (name, ours, reference, unit, target) => {
    if (ours === undefined || reference === undefined) {
      rows.push({ name, target, ratio: undefined, met: false });
      return;
    }
    const ratio = reference / ours;
    rows.push({
      name,
      ours: `${ours.toFixed(3)} ${unit}`,
      reference: `${reference.toFixed(3)} ${unit}`,
      ratio,
      target,
      met: ratio >= target,
    });
  };
  const f = results.find;
  ratioRow('find, library: time to the first match (vs findscu from spawn)', library.find?.first, f.findscu?.first, 's', 1.0);
  ratioRow('find, library: time to the last match (vs findscu from spawn)', library.find?.last, f.findscu?.wall, 's', 1.0);
  ratioRow('find, command line from spawn: first match', f['dimse-rx find']?.first, f.findscu?.first, 's', 0.9);
  ratioRow('find, command line from spawn: last match, exit', f['dimse-rx find']?.wall, f.findscu?.wall, 's', 0.9);
  const g = results.get;
  ratioRow('get, library, files not fsynced (vs getscu from spawn)', library['get --no-fsync']?.seconds, g.getscu?.wall, 's', 1.0);
  ratioRow('get, command line from spawn, files not fsynced', g['dimse-rx get --no-fsync']?.wall, g.getscu?.wall, 's', 0.9);
  const m = results.move;
  ratioRow('move, library (vs movescu from spawn)', library.move?.seconds, m.movescu?.wall, 's', 1.0);
  ratioRow('move, command line from spawn', m['dimse-rx move']?.wall, m.movescu?.wall, 's', 0.9);
  const peaks = [
    ...Object.values(results)
      .flatMap((byTool) => Object.entries(byTool))
      .filter(([name]) => name.startsWith('dimse-rx'))
      .map(([, figure]) => figure.peakMB),
    ...Object.values(library).map((figure) => figure.peakMB),
  ];
  const peak = Math.max(0, ...peaks);

  console.log('');
  console.log('| operation | tool | runs | first match s | wall s | MB/s | peak RSS MB |');
  console.log('|---|---|--:|--:|--:|--:|--:|');
  const bytes = IMAGES * 512 * 512 * 2;
  for (const [operation, byTool] of Object.entries(results))
    for (const figure of Object.values(byTool))
      console.log(
        `| ${operation} | ${figure.name} | ${figure.runs} | ${fixed(figure.first, 3)} | ${figure.wall.toFixed(3)} | ${
          operation === 'find' ? '–' : (bytes / 1e6 / figure.wall).toFixed(0)
        } | ${figure.peakMB.toFixed(0)} |`,
      );
  console.log('');
  console.log('| library, running process | first run s | later runs s (median) | first match s | MB/s | peak RSS MB |');
  console.log('|---|--:|--:|--:|--:|--:|');
  for (const [key, figure] of Object.entries(library))
    console.log(
      `| ${key} | ${figure.firstRun.toFixed(3)} | ${(figure.seconds ?? figure.last).toFixed(3)} | ${fixed(figure.first, 3)} | ${
        key === 'find' ? '–' : (bytes / 1e6 / figure.seconds).toFixed(0)
      } | ${figure.peakMB.toFixed(0)} |`,
    );
  console.log('');
  console.log("Like with like (ratio: the DCMTK tool's time over ours):");
  console.log('| row | ours | reference | ratio | target |');
  console.log('|---|--:|--:|--:|---|');
  for (const r of rows)
    console.log(
      `| ${r.name} | ${r.ours ?? '–'} | ${r.reference ?? '–'} | ${fixed(r.ratio, 2)} | ≥ ${r.target.toFixed(1)} ${r.met ? '✓' : '✗'} |`,
    );
  console.log(`| peak RSS of every dimse-rx process | ${peak.toFixed(0)} MB | | | ≤ 100 MB ${peak * 1e6 <= RSS_TARGET ? '✓' : '✗'} |`);
  for (const failure of failures) console.log(`failed: ${failure}`);
  if (env.BENCH_OUT) writeFileSync(env.BENCH_OUT, JSON.stringify({ results, library, targets: rows, peakMB: peak, failures }, null, 2));
  if (failures.length) process.exitCode = 1;
} finally {
  await archive?.stop();
  await storescp?.stop();
  killAll();
  rmSync(work, { recursive: true, force: true });
}

function mkdirFor(path) {
  // getscu writes into an existing folder only.
  mkdirSync(path, { recursive: true });
  return path;
}
