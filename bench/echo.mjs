// DIMSE round trips: C-ECHO requests per second on one association. DCMTK echoscu --repeat into
// DCMTK storescp is the reference; dimse-rx as a library in a running process sends the same
// number into the same storescp (window 1), and into a dimse-rx SCP with window 1 and 16, all in
// this run. echoscu's rate leaves out its process start and association: it is the difference
// between a run of COUNT echoes and a run of one. Runs alternate; the median of BENCH_RUNS is shown.
//   node bench/echo.mjs            (BENCH_ECHOES=20000, BENCH_RUNS=5)
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Child, freePort } from './lib/process.mjs';

const COUNT = Number(process.env.BENCH_ECHOES ?? 20_000);
const RUNS = Number(process.env.BENCH_RUNS ?? 5);
const DCMTK_ENV = { TCP_NODELAY: '1' };
const CLIENT = fileURLToPath(new URL('./lib/echo-client.mjs', import.meta.url));
const SCP = fileURLToPath(new URL('./lib/echo-scp.mjs', import.meta.url));

if (spawnSync('echoscu', ['--version']).error) {
  console.error('echo.mjs: DCMTK echoscu/storescp not found; install DCMTK (`apt-get install -y dcmtk`)');
  process.exit(1);
}

const median = (values) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
};

async function startDcmtk() {
  const port = await freePort();
  const child = new Child('storescp', 'storescp', ['--ignore', String(port)], DCMTK_ENV);
  await child.waitForPort(port);
  return { child, port };
}
async function startOurs(window) {
  const child = new Child('dimse-rx echo SCP', process.execPath, [SCP, String(window)]);
  const [, port] = await child.waitForOutput(/listening on 127\.0\.0\.1:(\d+)/);
  return { child, port: Number(port) };
}

/** echoscu --repeat n: wall seconds from spawn to exit. */
async function echoscu(port, n) {
  const child = await new Child('echoscu', 'echoscu', ['--repeat', String(n), '127.0.0.1', String(port)], DCMTK_ENV).finish(120_000);
  if (child.code !== 0) throw new Error(`echoscu failed: ${child.tail()}`);
  return child.wallMs / 1000;
}

/** The library client: seconds of COUNT echoes with `window` outstanding. */
async function ours(port, window) {
  const child = await new Child('dimse-rx echo client', process.execPath, [CLIENT, String(port), String(COUNT), String(window)]).finish(
    120_000,
  );
  const result = child.lastJson();
  if (child.code !== 0 || !result || result.ok !== COUNT) throw new Error(`dimse-rx echo client failed: ${child.tail()}`);
  return result;
}

const dcmtk = await startDcmtk();
const ours1 = await startOurs(1);
const ours16 = await startOurs(16);
const rates = { dcmtk: [], oursToDcmtk: [], oursToOurs1: [], oursToOurs16: [], dcmtkToOurs: [] };
try {
  for (let run = 0; run < RUNS; run++) {
    const one = await echoscu(dcmtk.port, 1);
    const many = await echoscu(dcmtk.port, COUNT);
    rates.dcmtk.push((COUNT - 1) / (many - one));
    rates.oursToDcmtk.push(COUNT / (await ours(dcmtk.port, 1)).seconds);
    rates.oursToOurs1.push(COUNT / (await ours(ours1.port, 1)).seconds);
    const windowed = await ours(ours16.port, 16);
    if (windowed.window.maxOperationsInvoked !== 16) throw new Error(`window 16 not negotiated: ${JSON.stringify(windowed.window)}`);
    rates.oursToOurs16.push(COUNT / windowed.seconds);
    const oneOurs = await echoscu(ours1.port, 1);
    const manyOurs = await echoscu(ours1.port, COUNT);
    rates.dcmtkToOurs.push((COUNT - 1) / (manyOurs - oneOurs));
    process.stderr.write(`run ${run + 1}/${RUNS} done\n`);
  }
} finally {
  await dcmtk.child.stop();
  await ours1.child.stop();
  await ours16.child.stop();
}

const reference = median(rates.dcmtk);
const rows = [
  ['DCMTK echoscu --repeat → DCMTK storescp (window 1)', rates.dcmtk, undefined],
  ['dimse-rx library, running process → DCMTK storescp (window 1)', rates.oursToDcmtk, 1.0],
  ['dimse-rx library → dimse-rx SCP (window 1)', rates.oursToOurs1, undefined],
  ['dimse-rx library → dimse-rx SCP (window 16)', rates.oursToOurs16, undefined],
  ['DCMTK echoscu --repeat → dimse-rx SCP (window 1)', rates.dcmtkToOurs, undefined],
];
console.log(`\nC-ECHO round trips on one association: ${COUNT} per run, median of ${RUNS} runs\n`);
console.log('| sender → receiver | echoes/s | vs DCMTK → DCMTK | target |');
console.log('|---|---:|---:|---|');
for (const [name, values, target] of rows) {
  const rate = median(values);
  const ratio = rate / reference;
  const mark = target === undefined ? '' : `≥ ${target.toFixed(1)} ${ratio >= target ? '✓' : '✗'}`;
  console.log(`| ${name} | ${Math.round(rate)} | ${ratio.toFixed(2)} | ${mark} |`);
}
