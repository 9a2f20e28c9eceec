// C-STORE throughput and memory of dimse-rx against DCMTK and dcmjs-dimse, measured in the same
// run on the same generated data, over 127.0.0.1:
//   A: many images of 512 KiB (BENCH_IMAGES, default 500)
//   B: one multi-frame image of 1 GiB (BENCH_FRAMES frames of 512 KiB, default 2048)
// Every sender and receiver is a process of its own, started as a user would start it, with its
// defaults (DCMTK with TCP_NODELAY=1, see INTEROP.md). Wall time is the sender's, from spawn to
// exit; peak RSS is VmHWM from /proc, for the sender and for the receiver (read before it is
// stopped). Prints one line per run, then a markdown table; BENCH_OUT=FILE also writes JSON.
// Run after a build: `npm run bench` (or `node bench/store.mjs`).
//
// Other settings: BENCH_RUNS (runs of each pair, the median wall time is reported, default 3),
// BENCH_TIMEOUT (s per transfer, default 300), BENCH_PEER_TIMEOUT (s per dcmjs-dimse transfer,
// default 120), BENCH_SETS (A, B or AB, default AB), BENCH_PAIRS (comma-separated pair ids).
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Child, freePort, killAll } from './lib/process.mjs';

const env = process.env;
const IMAGES = Number(env.BENCH_IMAGES ?? 500);
const FRAMES = Number(env.BENCH_FRAMES ?? 2048);
const RUNS = Number(env.BENCH_RUNS ?? 3);
const TIMEOUT_MS = Number(env.BENCH_TIMEOUT ?? 300) * 1000;
const PEER_TIMEOUT_MS = Number(env.BENCH_PEER_TIMEOUT ?? 120) * 1000;
const SETS = (env.BENCH_SETS ?? 'ABC').toUpperCase();
/** Images of set C, the command line's large set. */
const LARGE_IMAGES = Number(env.BENCH_LARGE_IMAGES ?? 5000);
const ONLY_PAIRS = env.BENCH_PAIRS ? new Set(env.BENCH_PAIRS.split(',')) : undefined;
/** The memory target for dimse-rx processes on the big image, bytes. */
const RSS_TARGET = 100e6;

// The command as a user runs it after install (`npx dimse-rx`): the package manager's shim, which
// execs node with the flags of the entry point's first line.
const CLI = fileURLToPath(new URL('../node_modules/.bin/dimse-rx', import.meta.url));
const PEER = fileURLToPath(new URL('./lib/dcmjs-peer.mjs', import.meta.url));
const LIBRARY = fileURLToPath(new URL('./lib/library-sender.mjs', import.meta.url));
/** Runs of the warm library sender (the first is reported apart). */
const WARM_RUNS = Number(env.BENCH_WARM_RUNS ?? 5);
const DCMTK_ENV = { TCP_NODELAY: '1' };

// ---- senders: each returns the program to run for a port and a data set, and checks its outcome

const senders = {
  dcmtk: {
    name: 'DCMTK storescu',
    command: (port, set) => ['storescu', ['127.0.0.1', String(port), ...set.files], DCMTK_ENV],
    // storescu exits 0 even when a C-STORE fails; it reports failures on stderr (E: or W: lines).
    check: (child) => (/^[EWF]: /m.test(child.stderr) ? child.tail() : undefined),
  },
  ours: {
    name: 'dimse-rx store',
    // --json: the summary line carries the sender's own clock (from the end of its scan of the files).
    command: (port, set) => [CLI, ['store', '127.0.0.1', String(port), set.directory, '--json'], {}],
    check: (child, set) => {
      const summary = summaryOf(child);
      if (!summary) return `no summary line: ${child.tail()}`;
      return summary.stored === set.files.length ? undefined : JSON.stringify(summary);
    },
    /** Seconds from the associations' start to the end, by the sender's own clock. */
    transferSeconds: (child) => summaryOf(child)?.seconds,
  },
  ours4: {
    name: 'dimse-rx store --associations 4',
    command: (port, set) => [CLI, ['store', '127.0.0.1', String(port), set.directory, '--json', '--associations', '4'], {}],
    check: (child, set) => {
      const summary = summaryOf(child);
      if (!summary) return `no summary line: ${child.tail()}`;
      return summary.stored === set.files.length ? undefined : JSON.stringify(summary);
    },
    transferSeconds: (child) => summaryOf(child)?.seconds,
  },
  dcmjs: {
    name: 'dcmjs-dimse Client',
    command: (port, set) => [process.execPath, [PEER, 'client', String(port), ...set.files], {}],
    check: (child, set) => {
      const outcome = child.lastJson();
      if (!outcome) return child.tail();
      return outcome.stored === set.files.length ? undefined : JSON.stringify(outcome);
    },
    timeoutMs: PEER_TIMEOUT_MS,
  },
};

/** The last JSON line of `dimse-rx store --json`: its summary. */
function summaryOf(child) {
  const value = child.lastJson();
  return value?.summary === true ? value : undefined;
}

// ---- receivers: each starts a server and resolves with its port once it accepts connections

const receivers = {
  dcmtkIgnore: {
    name: 'DCMTK storescp --ignore',
    start: async () => {
      const port = await freePort();
      const child = new Child('storescp', 'storescp', ['--ignore', String(port)], DCMTK_ENV);
      await child.waitForPort(port);
      return { child, port };
    },
  },
  dcmtkOut: {
    name: 'DCMTK storescp -od DIR',
    writes: true,
    start: async (out) => {
      const port = await freePort();
      const child = new Child('storescp', 'storescp', ['-od', out, String(port)], DCMTK_ENV);
      await child.waitForPort(port);
      return { child, port };
    },
  },
  oursDiscard: {
    name: 'dimse-rx storescp --discard',
    start: () => startOurs(['--discard']),
  },
  oursOut: {
    name: 'dimse-rx storescp --out DIR',
    writes: true,
    start: (out) => startOurs(['--out', out]),
  },
  oursOutNoFsync: {
    name: 'dimse-rx storescp --out DIR --no-fsync',
    writes: true,
    start: (out) => startOurs(['--out', out, '--no-fsync']),
  },
  dcmjs: {
    name: 'dcmjs-dimse Server',
    start: async () => {
      const port = await freePort();
      const child = new Child('dcmjs-dimse server', process.execPath, [PEER, 'server', String(port)]);
      await child.waitForPort(port);
      return { child, port };
    },
  },
};

async function startOurs(options) {
  const child = new Child('dimse-rx storescp', CLI, ['storescp', '--port', '0', ...options]);
  const [, port] = await child.waitForOutput(/listening on 127\.0\.0\.1:(\d+)/);
  return { child, port: Number(port) };
}

/**
 * The pairs, the reference first. The targets apply to every pair with a dimse-rx process (its
 * throughput) and to each dimse-rx process (its memory). `DCMTK → DCMTK, files` is not in the
 * issue's list: it is there so that the file sink rows have a like-for-like comparison (storescp
 * does not fsync). The Node peer runs once whatever BENCH_RUNS says: it is far slower.
 */
const PAIRS = [
  { id: 'reference', label: 'reference', sender: 'dcmtk', receiver: 'dcmtkIgnore', sets: 'ABC' },
  { id: 'ours-to-dcmtk', label: 'ours → DCMTK', sender: 'ours', receiver: 'dcmtkIgnore', sets: 'ABC' },
  { id: 'dcmtk-to-ours', label: 'DCMTK → ours', sender: 'dcmtk', receiver: 'oursDiscard' },
  { id: 'ours-to-ours', label: 'ours → ours', sender: 'ours', receiver: 'oursDiscard' },
  { id: 'ours-to-ours-file', label: 'ours → ours, files', sender: 'ours', receiver: 'oursOut' },
  { id: 'ours-to-ours-file-nofsync', label: 'ours → ours, files, no fsync', sender: 'ours', receiver: 'oursOutNoFsync' },
  { id: 'dcmtk-file', label: 'DCMTK → DCMTK, files', sender: 'dcmtk', receiver: 'dcmtkOut' },
  // Like with like for the receivers: the same sender (storescu), files written by both.
  { id: 'dcmtk-to-ours-file-nofsync', label: 'DCMTK → ours, files, no fsync', sender: 'dcmtk', receiver: 'oursOutNoFsync' },
  { id: 'dcmtk-to-ours-file', label: 'DCMTK → ours, files (durable)', sender: 'dcmtk', receiver: 'oursOut' },
  { id: 'ours4-to-dcmtk', label: 'ours, 4 associations → DCMTK', sender: 'ours4', receiver: 'dcmtkIgnore', sets: 'A' },
  { id: 'ours4-to-ours', label: 'ours, 4 associations → ours', sender: 'ours4', receiver: 'oursDiscard', sets: 'A' },
  { id: 'node-peer', label: 'Node peer', sender: 'dcmjs', receiver: 'dcmjs', maxRuns: 1 },
]
  .filter((pair) => pair.id === 'reference' || !ONLY_PAIRS || ONLY_PAIRS.has(pair.id))
  .map((pair) => ({
    ...pair,
    senderIsOurs: pair.sender.startsWith('ours'),
    receiverIsOurs: pair.receiver.startsWith('ours'),
    ours: pair.sender.startsWith('ours') || pair.receiver.startsWith('ours'),
  }));

// ---- one transfer

/**
 * Starts `receiver`, then the sender `start` makes for its port; waits for the sender, stops the
 * receiver and gives both to `inspect`. Whatever happens, both are gone afterwards and so is what
 * the receiver wrote. A failure gives `failed(error, client, server)`.
 */
async function withPeers(receiver, work, start, inspect, failed) {
  const out = join(work, 'received');
  rmSync(out, { recursive: true, force: true });
  mkdirSync(out);
  let server;
  let client;
  try {
    server = await receiver.start(out);
    const started = start(server.port);
    client = started.child;
    await client.finish(started.timeoutMs);
    await server.child.stop();
    return inspect(client, server, out);
  } catch (error) {
    return failed(error, client, server);
  } finally {
    if (client?.running) client.child.kill('SIGKILL');
    if (server?.child.running) await server.child.stop();
    if (receiver.writes) {
      // What the receiver left in the page cache is written back now, not during the next run.
      spawnSync('sync');
    }
    rmSync(out, { recursive: true, force: true });
  }
}

function runPair(pair, set, work) {
  const sender = senders[pair.sender];
  const receiver = receivers[pair.receiver];
  return withPeers(
    receiver,
    work,
    (port) => {
      const [command, args, childEnv] = sender.command(port, set);
      return { child: new Child(sender.name, command, args, childEnv), timeoutMs: sender.timeoutMs ?? TIMEOUT_MS };
    },
    (client, server, out) => {
      const result = {
        wallMs: client.wallMs,
        senderPeakKiB: client.peakKiB,
        receiverPeakKiB: server.child.peakKiB,
        transferSeconds: sender.transferSeconds?.(client),
      };
      if (client.timedOut) return { ...result, error: `timed out after ${Math.round(client.wallMs / 1000)} s` };
      if (client.code !== 0)
        return { ...result, error: `${sender.name} exit ${client.code ?? client.signal}: ${client.tail()}`.slice(0, 300) };
      const problem = sender.check(client, set);
      if (problem) return { ...result, error: `${sender.name}: ${problem}`.slice(0, 300) };
      if (receiver.writes) {
        const written = readdirSync(out).filter((name) => !name.startsWith('.'));
        const bytes = written.reduce((n, name) => n + statSync(join(out, name)).size, 0);
        if (written.length !== set.files.length) return { ...result, error: `${written.length} files written of ${set.files.length}` };
        if (bytes < set.pixelBytes) return { ...result, error: `${bytes} bytes written, less than the ${set.pixelBytes} of pixel data` };
      }
      return result;
    },
    (error, client, server) => ({
      wallMs: NaN,
      senderPeakKiB: client?.peakKiB ?? 0,
      receiverPeakKiB: server?.child.peakKiB ?? 0,
      error: error.message,
    }),
  );
}

// ---- dimse-rx as a library in a running process: the same files stored WARM_RUNS times on one association

function runWarm(receiverKey, set, work) {
  return withPeers(
    receivers[receiverKey],
    work,
    (port) => ({
      child: new Child('dimse-rx library', process.execPath, [
        '--max-semi-space-size=1',
        LIBRARY,
        String(port),
        String(WARM_RUNS),
        ...set.files,
      ]),
      timeoutMs: TIMEOUT_MS * WARM_RUNS,
    }),
    (client, server) => {
      const outcome = client.lastJson();
      if (!outcome || outcome.stored !== outcome.expected) return { error: `library sender: ${client.tail()}`.slice(0, 300) };
      const [first, ...rest] = outcome.seconds;
      return { first, warm: median(rest), senderPeakMB: mb(client.peakKiB), receiverPeakMB: mb(server.child.peakKiB) };
    },
    (error) => ({ error: error.message }),
  );
}

// ---- figures

const median = (values) => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
};
const mb = (kib) => (kib * 1024) / 1e6;

function summarize(pair, set, runs) {
  const ok = runs.filter((r) => !r.error);
  const failed = runs.find((r) => r.error);
  const base = {
    set: set.key,
    pair: pair.id,
    label: pair.label,
    sender: senders[pair.sender].name,
    receiver: receivers[pair.receiver].name,
    ours: pair.ours,
    senderIsOurs: pair.senderIsOurs,
    receiverIsOurs: pair.receiverIsOurs,
    runs: runs.length,
    senderPeakMB: mb(Math.max(0, ...runs.map((r) => r.senderPeakKiB))),
    receiverPeakMB: mb(Math.max(0, ...runs.map((r) => r.receiverPeakKiB))),
  };
  if (ok.length === 0) return { ...base, error: failed.error };
  const seconds = median(ok.map((r) => r.wallMs)) / 1000;
  const transfers = ok.map((r) => r.transferSeconds).filter((t) => t !== undefined);
  return {
    ...base,
    seconds,
    ...(transfers.length > 0 ? { transferSeconds: median(transfers) } : {}),
    mbPerSecond: set.bytes / 1e6 / seconds,
    imagesPerSecond: set.files.length / seconds,
    ...(failed ? { error: `${runs.length - ok.length} of ${runs.length} runs failed: ${failed.error}` } : {}),
  };
}

function fixed(value, digits) {
  return value === undefined || Number.isNaN(value) ? '–' : value.toFixed(digits);
}

function markdownTable(results) {
  const lines = [
    '| data | pair | sender | receiver | wall s | MB/s | images/s | sender peak RSS MB | receiver peak RSS MB | vs reference | transfer s (sender clock) |',
    '|---|---|---|---|--:|--:|--:|--:|--:|--:|--:|',
  ];
  for (const r of results) {
    // Not a target: these pairs differ in more than the side measured (process starts, fsync); the like-with-like rows below are.
    const ratio = r.ratio === undefined ? '–' : r.ratio.toFixed(2);
    const rss = (value, ours) => `${value.toFixed(0)}${ours && value > RSS_TARGET / 1e6 ? ' ✗' : ''}`;
    const wall = r.seconds === undefined ? `failed: ${r.error.replaceAll('|', '/')}` : fixed(r.seconds, 2);
    lines.push(
      `| ${r.setName} | ${r.label} | ${r.sender} | ${r.receiver} | ${wall} | ${fixed(r.mbPerSecond, 0)} | ${fixed(r.imagesPerSecond, 1)} | ${rss(r.senderPeakMB, r.senderIsOurs)} | ${rss(r.receiverPeakMB, r.receiverIsOurs)} | ${ratio} | ${fixed(r.transferSeconds, 2)} |`,
    );
  }
  return lines.join('\n');
}

// ---- the run

function version(command, args) {
  try {
    return (
      execFileSync(command, args, { encoding: 'utf8' })
        .split('\n')
        .find((l) => l.trim()) ?? '?'
    );
  } catch {
    return '?';
  }
}

if (!existsSync(new URL('../packages/cli/dist/main.js', import.meta.url))) {
  console.error('store.mjs: packages are not built; run `npx tsc -b packages` (or `npm run bench`) first');
  process.exit(1);
}
if (version('storescu', ['--version']) === '?') {
  console.error('store.mjs: DCMTK storescu/storescp not found; install DCMTK (`apt-get install -y dcmtk`)');
  process.exit(1);
}
// Imported once the build is known to be there: it uses the library's encoder.
const { writeImageSet, writeMultiFrame } = await import('./lib/data.mjs');

/**
 * What starting the dimse-rx CLI costs on its own (`dimse-rx --version`): part of every dimse-rx
 * wall time and RSS below; and, like with like, what starting Node alone costs (`node -e 0`).
 */
async function cliStartup() {
  const samples = [];
  const node = [];
  for (let i = 0; i < 7; i++) {
    node.push(await new Child('node -e 0', process.execPath, ['-e', '0']).finish(30_000));
    samples.push(await new Child('dimse-rx --version', CLI, ['--version']).finish(30_000));
  }
  return {
    seconds: median(samples.map((c) => c.wallMs)) / 1000,
    peakMB: mb(Math.max(...samples.map((c) => c.peakKiB))),
    nodeSeconds: median(node.map((c) => c.wallMs)) / 1000,
  };
}

const work = mkdtempSync(join(tmpdir(), 'dimse-rx-bench-store-'));
// Also on SIGINT/SIGTERM (lib/process.mjs exits then): no gigabyte left behind in the temp folder.
process.on('exit', () => rmSync(work, { recursive: true, force: true }));
let exitCode = 0;
try {
  const peerVersion = JSON.parse(
    readFileSync(fileURLToPath(new URL('./node_modules/dcmjs-dimse/package.json', import.meta.url)), 'utf8'),
  ).version;
  console.log(`C-STORE over 127.0.0.1, node ${process.version}, ${cpus().length} × ${cpus()[0]?.model ?? '?'}`);
  console.log(
    `DCMTK: ${version('storescu', ['--version'])
      .replace(/^\$dcmtk: /, '')
      .replace(/ \$$/, '')}; dcmjs-dimse ${peerVersion}`,
  );
  console.log(`${RUNS} run(s) per pair (the Node peer 1), median wall time; data in ${work}`);
  const startup = await cliStartup();
  console.log(
    `dimse-rx CLI start-up alone (dimse-rx --version): ${startup.seconds.toFixed(3)} s, peak RSS ${startup.peakMB.toFixed(0)} MB; node -e 0: ${startup.nodeSeconds.toFixed(3)} s`,
  );

  const sets = [];
  if (SETS.includes('A')) {
    const directory = join(work, 'A');
    const started = performance.now();
    const { files, pixelBytes } = writeImageSet(directory, { count: IMAGES, rows: 512, columns: 512 });
    const bytes = files.reduce((n, f) => n + statSync(f).size, 0);
    sets.push({ key: 'A', name: `${IMAGES} × 512 KiB`, directory, files, pixelBytes, bytes });
    console.log(
      `A: ${IMAGES} CT images of 512 KiB, ${(bytes / 1e6).toFixed(1)} MB, generated in ${((performance.now() - started) / 1000).toFixed(1)} s`,
    );
  }
  if (SETS.includes('B')) {
    const directory = join(work, 'B');
    const started = performance.now();
    const { files, pixelBytes } = writeMultiFrame(directory, { frames: FRAMES, rows: 512, columns: 512 });
    const bytes = statSync(files[0]).size;
    const name = pixelBytes === 2 ** 30 ? '1 × 1 GiB' : `1 × ${(pixelBytes / 2 ** 20).toFixed(0)} MiB`;
    sets.push({ key: 'B', name, directory, files, pixelBytes, bytes });
    console.log(
      `B: one multi-frame image, ${FRAMES} frames of 512 KiB, ${(bytes / 1e6).toFixed(1)} MB, generated in ${((performance.now() - started) / 1000).toFixed(1)} s`,
    );
  }
  if (SETS.includes('C')) {
    const directory = join(work, 'C');
    const started = performance.now();
    const { files, pixelBytes } = writeImageSet(directory, { count: LARGE_IMAGES, rows: 512, columns: 512 });
    const bytes = files.reduce((n, f) => n + statSync(f).size, 0);
    sets.push({ key: 'C', name: `${LARGE_IMAGES} × 512 KiB`, directory, files, pixelBytes, bytes });
    console.log(
      `C: ${LARGE_IMAGES} CT images of 512 KiB, ${(bytes / 1e6).toFixed(1)} MB, generated in ${((performance.now() - started) / 1000).toFixed(1)} s`,
    );
  }
  console.log('');

  const results = [];
  for (const set of sets) {
    const pairs = PAIRS.filter((pair) => (pair.sets ?? 'AB').includes(set.key));
    const runs = new Map(pairs.map((pair) => [pair.id, []]));
    for (let run = 1; run <= RUNS; run++) {
      for (const pair of pairs) {
        if (run > (pair.maxRuns ?? RUNS)) continue;
        const r = await runPair(pair, set, work);
        runs.get(pair.id).push(r);
        const figures = r.error
          ? `FAILED ${r.error}`
          : `${(r.wallMs / 1000).toFixed(2)} s, ${(set.bytes / 1e6 / (r.wallMs / 1000)).toFixed(0)} MB/s`;
        console.log(
          `${set.key} run ${run} ${pair.label.padEnd(32)} ${figures}; peak RSS sender ${mb(r.senderPeakKiB).toFixed(0)} MB, receiver ${mb(r.receiverPeakKiB).toFixed(0)} MB`,
        );
      }
    }
    const summaries = pairs.map((pair) => ({ ...summarize(pair, set, runs.get(pair.id)), setName: set.name }));
    const reference = summaries.find((s) => s.pair === 'reference');
    for (const s of summaries) if (s.seconds !== undefined && reference?.seconds !== undefined) s.ratio = reference.seconds / s.seconds;
    results.push(...summaries);
  }

  console.log('');
  console.log(markdownTable(results));

  // A service keeps its process: what one association does once Node has started and warmed up.
  console.log('');
  console.log(`dimse-rx as a library in a running process (${WARM_RUNS} runs of the whole set on one association):`);
  console.log('');
  console.log(
    '| data | receiver | first run s | later runs s (median) | MB/s | ms per image | reference wall s (its own process start included) |',
  );
  console.log('|---|---|--:|--:|--:|--:|--:|');
  const warmResults = [];
  for (const set of sets.filter((s) => s.key !== 'C')) {
    const reference = results.find((r) => r.set === set.key && r.pair === 'reference');
    for (const receiverKey of ['dcmtkIgnore', 'oursDiscard']) {
      const w = await runWarm(receiverKey, set, work);
      warmResults.push({ set: set.key, receiver: receivers[receiverKey].name, ...w });
      if (w.error) {
        console.log(`| ${set.name} | ${receivers[receiverKey].name} | failed: ${w.error.replaceAll('|', '/')} | | | | |`);
        continue;
      }
      console.log(
        `| ${set.name} | ${receivers[receiverKey].name} | ${w.first.toFixed(2)} | ${w.warm.toFixed(2)} | ${(set.bytes / 1e6 / w.warm).toFixed(0)} | ${((w.warm * 1000) / set.files.length).toFixed(2)} | ${fixed(reference?.seconds, 2)} |`,
      );
    }
  }
  console.log('');
  console.log(
    'MB = 10^6 bytes of Part 10 files sent; wall time from the sender starting to its exit (process start, association and release included);',
  );
  console.log(
    "vs reference = reference wall time / this pair's (for information: the targets are the like-with-like rows); ✗ marks a dimse-rx peak RSS over 100 MB.",
  );
  console.log(
    "transfer s = dimse-rx store's own clock, from its first association to its last release: the wall time less the process start-up and the scan of the files.",
  );

  // ---- like with like: each row a ratio of two figures measured above, in this run
  const find = (set, pair) => results.find((r) => r.set === set && r.pair === pair && r.seconds !== undefined);
  const warmA = warmResults.find((w) => w.set === 'A' && w.receiver === receivers.dcmtkIgnore.name && !w.error);
  const refA = find('A', 'reference');
  const likeRows = [];
  const row = (name, ours, reference, ratio, target, met) => likeRows.push({ name, ours, reference, ratio, target, met });
  if (warmA && refA) {
    const ips = IMAGES / warmA.warm;
    const ratio = ips / refA.imagesPerSecond;
    row(
      'library sender, running process (A, into storescp --ignore, later passes)',
      `${ips.toFixed(0)} images/s`,
      `${refA.imagesPerSecond.toFixed(0)} images/s (storescu, whole run)`,
      ratio,
      '≥ 1.0',
      ratio >= 1,
    );
  }
  const noFsync = find('A', 'dcmtk-to-ours-file-nofsync');
  const dcmtkFiles = find('A', 'dcmtk-file');
  if (noFsync && dcmtkFiles) {
    const ratio = dcmtkFiles.seconds / noFsync.seconds;
    row(
      'receiver writing files, no fsync (A, storescu → storescp)',
      `${noFsync.seconds.toFixed(2)} s`,
      `${dcmtkFiles.seconds.toFixed(2)} s (storescp -od)`,
      ratio,
      '≥ 1.0',
      ratio >= 1,
    );
  }
  const durable = find('A', 'dcmtk-to-ours-file');
  if (durable && noFsync) {
    const perImage = ((durable.seconds - noFsync.seconds) * 1000) / IMAGES;
    row(
      'durable receiver, cost of fsync and rename (A)',
      `${durable.seconds.toFixed(2)} s`,
      `${noFsync.seconds.toFixed(2)} s (the row above)`,
      undefined,
      `${perImage.toFixed(2)} ms per image, aim ≤ 1.5`,
      perImage <= 1.5,
    );
  }
  const cliC = find('C', 'ours-to-dcmtk');
  const refC = find('C', 'reference');
  if (cliC && refC) {
    const ratio = refC.seconds / cliC.seconds;
    row(
      `command line from spawn, large set (C, ${LARGE_IMAGES} × 512 KiB into storescp --ignore)`,
      `${cliC.seconds.toFixed(2)} s`,
      `${refC.seconds.toFixed(2)} s (storescu)`,
      ratio,
      '≥ 0.9',
      ratio >= 0.9,
    );
  }
  {
    const ratio = startup.seconds / startup.nodeSeconds;
    row(
      'command line start-up (dimse-rx --version)',
      `${(startup.seconds * 1000).toFixed(0)} ms`,
      `${(startup.nodeSeconds * 1000).toFixed(0)} ms (node -e 0)`,
      ratio,
      '≤ 2.0',
      ratio <= 2,
    );
  }
  for (const pairId of ['ours4-to-dcmtk', 'ours4-to-ours']) {
    const four = find('A', pairId);
    if (four && refA) {
      row(
        `several associations (A, ${four.label.replace('ours, ', '')})`,
        `${four.seconds.toFixed(2)} s`,
        `${refA.seconds.toFixed(2)} s (storescu, one association)`,
        refA.seconds / four.seconds,
        'report',
        undefined,
      );
    }
  }
  const peakOurs = Math.max(
    0,
    ...results.flatMap((r) => [r.senderIsOurs ? r.senderPeakMB : 0, r.receiverIsOurs ? r.receiverPeakMB : 0]),
    ...warmResults.filter((w) => !w.error).map((w) => w.senderPeakMB),
  );
  console.log('');
  console.log('Like with like (ratio: reference time over ours, or ours over node for the start-up):');
  console.log('');
  console.log('| row | ours | reference | ratio | target |');
  console.log('|---|--:|--:|--:|---|');
  for (const r of likeRows)
    console.log(
      `| ${r.name} | ${r.ours} | ${r.reference} | ${r.ratio === undefined ? '–' : r.ratio.toFixed(2)} | ${r.target}${r.met === false ? ' ✗' : r.met ? ' ✓' : ''} |`,
    );
  console.log(
    `| peak RSS of every dimse-rx process, every row | ${peakOurs.toFixed(0)} MB | | | ≤ 100 MB${peakOurs <= 100 ? ' ✓' : ' ✗'} |`,
  );

  const misses = [];
  for (const r of likeRows) if (r.met === false) misses.push(`${r.name}: ${r.ratio === undefined ? r.target : r.ratio.toFixed(2)}`);
  for (const r of results.filter((x) => x.ours)) {
    if (r.ratio === undefined) misses.push(`${r.set} ${r.label}: failed (${r.error})`);
    if (r.senderIsOurs && r.senderPeakMB > RSS_TARGET / 1e6)
      misses.push(`${r.set} ${r.label}: sender peak RSS ${r.senderPeakMB.toFixed(0)} MB`);
    if (r.receiverIsOurs && r.receiverPeakMB > RSS_TARGET / 1e6)
      misses.push(`${r.set} ${r.label}: receiver peak RSS ${r.receiverPeakMB.toFixed(0)} MB`);
  }
  console.log(misses.length === 0 ? 'Targets: all met.' : `Targets missed:\n${misses.map((m) => `  - ${m}`).join('\n')}`);

  // A dimse-rx or DCMTK pair that fails is a broken benchmark; the Node peer may fail (memory, time).
  if (results.some((r) => r.seconds === undefined && r.pair !== 'node-peer')) exitCode = 1;

  if (env.BENCH_OUT) {
    const json = {
      node: process.version,
      cliStartup: startup,
      cpus: cpus().length,
      runs: RUNS,
      sets: sets.map(({ key, name, files, bytes }) => ({ key, name, files: files.length, bytes })),
      results: results.map(({ setName: _name, ...r }) => r),
      library: warmResults,
      likeWithLike: likeRows,
    };
    writeFileSync(env.BENCH_OUT, `${JSON.stringify(json, null, 2)}\n`);
    console.log(`JSON written to ${env.BENCH_OUT}`);
  }
} finally {
  killAll();
  rmSync(work, { recursive: true, force: true });
}
process.exitCode = exitCode;
