import { execFile } from 'node:child_process';
import { createServer, type Socket } from 'node:net';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { main } from '../src/main.js';
import { capture, jsonLines } from './support.js';

describe('dimse-rx echo --json', () => {
  it('gives an error code with the error: ECONNREFUSED for a closed port', async () => {
    // A port that was free a moment ago, and is closed now.
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const address = server.address();
    const port = typeof address === 'object' && address ? address.port : 0;
    await new Promise((resolve) => server.close(resolve));
    const c = capture();
    expect(await main(['echo', '127.0.0.1', String(port), '--json'], c.io)).toBe(1);
    expect(jsonLines(c.out)).toEqual([
      { command: 'echo', host: '127.0.0.1', port, error: expect.stringMatching(/^connection refused/), code: 'ECONNREFUSED' },
    ]);
  });
});

/** The command as installed (the built bundle): only a process shows when it exits. */
const BIN = fileURLToPath(new URL('../../../node_modules/.bin/dimse-rx', import.meta.url));

describe('dimse-rx echo --timeout against a peer that accepts the connection and never answers', () => {
  it.each([
    ['0.5', 500],
    ['1.5', 1500],
  ])('--timeout %s: reports the ACSE timeout and exits at once, not after ARTIM', async (seconds, ms) => {
    const sockets: Socket[] = [];
    const server = createServer((socket) => sockets.push(socket));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const address = server.address();
    const port = typeof address === 'object' && address ? address.port : 0;
    try {
      const started = performance.now();
      const { code, stderr } = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
        const child = execFile(BIN, ['echo', '127.0.0.1', String(port), '--timeout', seconds], (error, _stdout, err) =>
          resolve({ code: error ? ((error as { code?: number }).code ?? null) : 0, stderr: err }),
        );
        child.stdin?.end();
      });
      const elapsed = performance.now() - started;
      expect(code).toBe(1);
      expect(stderr).toContain(`dimse-rx echo: acse timeout: no A-ASSOCIATE-AC or -RJ received within ${ms} ms`);
      expect(elapsed).toBeGreaterThanOrEqual(ms);
      // Start-up and the timeout, no more: ARTIM (30 s by default) and the close grace are not waited for.
      expect(elapsed).toBeLessThan(ms + 1_500);
    } finally {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it('a --timeout that is not a positive number of seconds is a usage error (exit 2)', async () => {
    for (const value of ['0', 'soon', '-1']) {
      const c = capture();
      expect(await main(['echo', '127.0.0.1', '104', '--timeout', value], c.io)).toBe(2);
      expect(c.err[0]).toContain('--timeout must be a number of seconds from 0.001 to 86400');
    }
  });

  it('a --max-pdu of 1 to 7 is a usage error (exit 2): nothing could be sent to us', async () => {
    for (const value of ['1', '7']) {
      const c = capture();
      expect(await main(['echo', '127.0.0.1', '104', '--max-pdu', value], c.io)).toBe(2);
      expect(c.err[0]!.split('\n')[0]).toBe(`dimse-rx echo: --max-pdu must be 0 (no limit) or from 8 to 4294967295, got ${value}`);
    }
  });
});
