import { createServer } from 'node:net';
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
