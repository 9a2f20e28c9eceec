/**
 * Helpers for the interoperability tests that run DCMTK tools (echoscu, storescu, storescp, ...)
 * as the peer. Everything binds to and connects to 127.0.0.1 only; every peer a test starts,
 * the test stops (call `stop()` in afterEach/afterAll or a finally block).
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { connect, createServer } from 'node:net';
import { describe, it } from 'vitest';

export const LOOPBACK = '127.0.0.1';

let available: boolean | undefined;

/** True when the DCMTK tools the tests need can be run (checked once, then cached). */
export function dcmtkAvailable(): boolean {
  available ??= ['storescp', 'echoscu'].every((tool) => {
    const result = spawnSync(tool, ['--version'], { stdio: 'ignore', timeout: 10_000 });
    return result.error === undefined && result.status === 0;
  });
  return available;
}

/**
 * `describe` for tests that need DCMTK. Without DCMTK the suite is skipped with a visible
 * warning, except under CI (environment variable `CI` set), where it fails instead.
 */
export function describeDcmtk(name: string, fn: () => void): void {
  if (dcmtkAvailable()) {
    describe(name, fn);
  } else if (process.env.CI) {
    describe(name, () => {
      it('needs DCMTK', () => {
        throw new Error(`DCMTK is required in CI but was not found: cannot run ${name} (apt-get install -y dcmtk)`);
      });
    });
  } else {
    console.warn(`DCMTK not found: skipping ${name} (apt-get install -y dcmtk)`);
    describe.skip(name, fn);
  }
}

/** A TCP port free on 127.0.0.1 at the time of the call. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, LOOPBACK, () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close((error) => (error ? reject(error) : port > 0 ? resolve(port) : reject(new Error('No port assigned'))));
    });
  });
}

export interface DcmtkOptions {
  readonly cwd?: string;
  /** Added to the environment (which always gets TCP_NODELAY=1). */
  readonly env?: Readonly<Record<string, string>>;
}

export interface RunOptions extends DcmtkOptions {
  /** Kill the tool and reject after this many milliseconds. Defaults to 30 s. */
  readonly timeoutMs?: number;
}

export interface RunResult {
  /** The exit code, or null when a signal ended the process. */
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

function spawnTool(tool: string, args: readonly string[], options: DcmtkOptions): ChildProcess {
  return spawn(tool, args, {
    ...(options.cwd === undefined ? {} : { cwd: options.cwd }),
    env: { ...process.env, TCP_NODELAY: '1', ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

const commandLine = (tool: string, args: readonly string[]) => [tool, ...args].join(' ');

/** Runs a DCMTK tool to completion and gives its exit code and output. */
export function runDcmtk(tool: string, args: readonly string[], options: RunOptions = {}): Promise<RunResult> {
  const timeoutMs = options.timeoutMs ?? 30_000;
  return new Promise((resolve, reject) => {
    const child = spawnTool(tool, args, options);
    let stdout = '';
    let stderr = '';
    child.stdout?.setEncoding('utf8').on('data', (text: string) => {
      stdout += text;
    });
    child.stderr?.setEncoding('utf8').on('data', (text: string) => {
      stderr += text;
    });
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${commandLine(tool, args)} did not finish within ${timeoutMs} ms\nstdout:\n${stdout}\nstderr:\n${stderr}`));
    }, timeoutMs);
    child.once('error', (error) => {
      clearTimeout(timer);
      reject(new Error(`Cannot run ${tool}: ${error.message}`, { cause: error }));
    });
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

export interface StartOptions extends DcmtkOptions {
  /**
   * When the peer is ready: a port on 127.0.0.1 that must accept a TCP connection, or a test
   * of the output (stdout and stderr together) so far. Without it the peer counts as ready
   * once spawned.
   */
  readonly ready?: number | ((output: string) => boolean);
  /** How long to wait for readiness. Defaults to 10 s. */
  readonly readyTimeoutMs?: number;
}

export interface DcmtkPeer {
  readonly process: ChildProcess;
  /** stdout and stderr so far, interleaved as they arrived. */
  readonly output: () => string;
  /** Settles with the exit code (null on a signal) when the process has ended. */
  readonly exited: Promise<number | null>;
  /** SIGTERM, then SIGKILL after 2 s; resolves once the process has ended. Safe to call twice. */
  readonly stop: () => Promise<void>;
}

const delay = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

function canConnect(port: number): Promise<boolean> {
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

/** Starts a long-running DCMTK peer (storescp, dcmqrscp, ...) and waits until it is ready. */
export async function startDcmtk(tool: string, args: readonly string[], options: StartOptions = {}): Promise<DcmtkPeer> {
  const child = spawnTool(tool, args, options);
  let output = '';
  const collect = (text: string) => {
    output += text;
  };
  child.stdout?.setEncoding('utf8').on('data', collect);
  child.stderr?.setEncoding('utf8').on('data', collect);
  let ended = false;
  let spawnError: Error | undefined;
  const exited = new Promise<number | null>((resolve) => {
    child.once('close', (code) => {
      ended = true;
      resolve(code);
    });
    child.once('error', (error) => {
      spawnError = error;
      ended = true;
      resolve(null);
    });
  });

  const stop = async (): Promise<void> => {
    if (ended || child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 2_000);
    await exited;
    clearTimeout(timer);
  };
  const peer: DcmtkPeer = { process: child, output: () => output, exited, stop };

  const ready = options.ready;
  const timeoutMs = options.readyTimeoutMs ?? 10_000;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (spawnError) throw new Error(`Cannot run ${tool}: ${spawnError.message}`, { cause: spawnError });
    if (ended) throw new Error(`${commandLine(tool, args)} ended before it was ready\n${output}`);
    if (ready === undefined) break;
    if (typeof ready === 'number' ? await canConnect(ready) : ready(output)) break;
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`${commandLine(tool, args)} was not ready within ${timeoutMs} ms\n${output}`);
    }
    await delay(50);
  }
  return peer;
}

/**
 * The data set of a DICOM file as dcmdump prints it (`+L`: long values in full), one line per
 * element, without the meta information and the comment lines (such as "Used TransferSyntax"),
 * so that the same content in two transfer syntaxes prints the same. Rejects when dcmdump fails.
 */
export async function dumpDataSet(path: string): Promise<string[]> {
  const result = await runDcmtk('dcmdump', ['+L', path]);
  if (result.code !== 0) throw new Error(`dcmdump ${path} exited with ${result.code}\n${result.stderr}`);
  const lines = result.stdout.split('\n');
  const start = lines.indexOf('# Dicom-Data-Set');
  if (start < 0) throw new Error(`dcmdump ${path}: no data set in its output\n${result.stdout.slice(0, 2000)}`);
  return lines.slice(start + 1).filter((line) => line.trim() !== '' && !line.startsWith('#'));
}
