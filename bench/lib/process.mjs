// Child processes for the benchmarks: started directly (no shell, so the pid is the program's),
// their peak resident set size followed from /proc/<pid>/status (VmHWM) while they run, and
// every one of them killed when the benchmark ends, however it ends.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';

/** How often VmHWM is read, ms. */
const POLL_MS = 25;
/** Output kept from each stream (its last characters), for error messages and checks. */
const KEEP_CHARS = 64 * 1024;

const live = new Set();
process.on('exit', () => {
  for (const child of live) child.kill('SIGKILL');
});
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.once(signal, () => {
    console.error(`\n${signal}: stopping ${live.size} child process(es)`);
    process.exit(130);
  });
}

/** VmHWM of a process in KiB, or undefined once it has gone (or turned zombie). */
function highWaterMark(pid) {
  try {
    const match = /^VmHWM:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'latin1'));
    return match ? Number(match[1]) : undefined;
  } catch {
    return undefined;
  }
}

/** A started program: output kept, peak RSS followed, exit awaited. */
export class Child {
  stdout = '';
  stderr = '';
  /** Largest VmHWM seen, KiB. */
  peakKiB = 0;
  /** ms from spawn to exit (undefined while it runs). */
  wallMs;
  code;
  signal;

  constructor(label, command, args, env = {}) {
    this.label = label;
    this.command = [command, ...args].join(' ');
    this.startedAt = performance.now();
    this.child = spawn(command, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    this.pid = this.child.pid;
    live.add(this.child);
    // The end is what matters (summaries, errors); a server's first line is matched as it comes.
    const keep = (text, chunk) => {
      const joined = text + chunk;
      return joined.length <= KEEP_CHARS ? joined : joined.slice(-KEEP_CHARS);
    };
    this.child.stdout.setEncoding('utf8').on('data', (chunk) => {
      this.stdout = keep(this.stdout, chunk);
    });
    this.child.stderr.setEncoding('utf8').on('data', (chunk) => {
      this.stderr = keep(this.stderr, chunk);
    });
    this.poller = setInterval(() => this.sample(), POLL_MS);
    this.exited = new Promise((resolve) => {
      const done = (code, signal) => {
        this.wallMs ??= performance.now() - this.startedAt;
        this.code = code;
        this.signal = signal;
        clearInterval(this.poller);
        live.delete(this.child);
        resolve(this);
      };
      this.child.once('exit', done);
      this.child.once('error', (error) => {
        this.stderr += `\n${error.message}`;
        done(null, null);
      });
    });
  }

  get running() {
    return this.code === undefined && this.signal === undefined;
  }

  /** Reads VmHWM now; returns the peak so far, KiB. */
  sample() {
    const kib = this.pid === undefined ? undefined : highWaterMark(this.pid);
    if (kib !== undefined && kib > this.peakKiB) this.peakKiB = kib;
    return this.peakKiB;
  }

  /** Waits for the exit, killing the process after `timeoutMs`; resolves with `timedOut` set when it had to. */
  async finish(timeoutMs) {
    let timer;
    const timedOut = await Promise.race([
      this.exited.then(() => false),
      new Promise((resolve) => {
        timer = setTimeout(() => resolve(true), timeoutMs);
      }),
    ]);
    clearTimeout(timer);
    if (timedOut) {
      this.wallMs = performance.now() - this.startedAt;
      this.child.kill('SIGKILL');
      await this.exited;
    }
    this.timedOut = timedOut;
    return this;
  }

  /** For servers: reads the peak RSS, then SIGTERM, then SIGKILL if it does not go within 5 s. */
  async stop() {
    this.sample();
    if (!this.running) return this;
    this.child.kill('SIGTERM');
    const gone = await Promise.race([this.exited.then(() => true), sleep(5000).then(() => false)]);
    if (!gone) {
      this.child.kill('SIGKILL');
      await this.exited;
    }
    return this;
  }

  /** The last line of stdout as JSON (what the senders print last), or undefined when it is not. */
  lastJson() {
    try {
      return JSON.parse(this.stdout.trim().split('\n').at(-1) ?? '');
    } catch {
      return undefined;
    }
  }

  /** The last lines of stderr (or stdout), for a failure message. */
  tail(lines = 3) {
    const text = (this.stderr.trim() || this.stdout.trim()).split('\n');
    return text.slice(-lines).join(' | ');
  }

  /** Resolves with the first stdout match of `pattern`; rejects if the process exits first or after `timeoutMs`. */
  waitForOutput(pattern, timeoutMs = 10_000) {
    return new Promise((resolve, reject) => {
      const check = () => {
        const match = pattern.exec(this.stdout);
        if (match) finish(() => resolve(match));
      };
      const onExit = () => finish(() => reject(new Error(`${this.label} exited before it was ready: ${this.tail()}`)));
      const timer = setTimeout(() => finish(() => reject(new Error(`${this.label} not ready after ${timeoutMs} ms`))), timeoutMs);
      const finish = (then) => {
        clearTimeout(timer);
        this.child.stdout.off('data', check);
        this.child.off('exit', onExit);
        then();
      };
      this.child.stdout.on('data', check);
      this.child.once('exit', onExit);
      check();
    });
  }

  /** Resolves once a TCP connection to 127.0.0.1:port succeeds (the connection is closed at once). */
  async waitForPort(port, timeoutMs = 10_000) {
    const until = performance.now() + timeoutMs;
    for (;;) {
      if (!this.running) throw new Error(`${this.label} exited before it listened: ${this.tail()}`);
      const open = await new Promise((resolve) => {
        const socket = connect(port, '127.0.0.1');
        socket.once('connect', () => {
          socket.end();
          resolve(true);
        });
        socket.once('error', () => resolve(false));
      });
      if (open) return;
      if (performance.now() > until) throw new Error(`${this.label} did not listen on port ${port} within ${timeoutMs} ms`);
      await sleep(20);
    }
  }
}

/** A port free on 127.0.0.1 now (for programs that cannot listen on port 0 and say which port they got). */
export function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/** Kills whatever is still running (for finally blocks). */
export function killAll() {
  for (const child of live) child.kill('SIGKILL');
}
