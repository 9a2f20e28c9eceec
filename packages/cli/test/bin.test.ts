/**
 * The command as installed: node_modules/.bin/dimse-rx, the package manager's shim, running the
 * built bundle with the flags of the entry point's first line. Needs the build (npm test builds
 * before it tests).
 */
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { startQueryScp } from './query-scp.js';

const run = promisify(execFile);
const BIN = fileURLToPath(new URL('../../../node_modules/.bin/dimse-rx', import.meta.url));
const BUNDLE = fileURLToPath(new URL('../dist/dimse-rx.bundle.js', import.meta.url));
const { version } = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };

describe('the installed dimse-rx command', () => {
  it('is built and linked', () => {
    expect(existsSync(BUNDLE), `${BUNDLE} is missing: run npm run build`).toBe(true);
    expect(readFileSync(BIN, 'utf8')).toContain('--max-semi-space-size=1');
  });

  it('prints its version and runs the demo from the bundle, dcmjs loaded on first use', async () => {
    expect((await run(BIN, ['--version'])).stdout.trim()).toBe(version);
    const { stdout } = await run(BIN, ['demo'], { timeout: 30_000 });
    expect(stdout).toContain('verified: 5 of 5 stored files hold exactly the data set sent');
    expect(stdout.trim().split('\n').at(-1)).toMatch(/^Done: 5 images/);
  });

  it('find into a pipe: every match on a line of its own, in the order they came', async () => {
    // Standard output is written a batch of lines at a time: nothing lost, nothing reordered.
    const matches = Array.from({ length: 3000 }, (_, i) => ({ PatientID: `P${i}`, PatientName: `DOE^${i}` }));
    const scp = await startQueryScp({ matches });
    try {
      const args = ['find', '127.0.0.1', String(scp.port), '-k', 'PatientID', '-k', 'PatientName', '--level', 'PATIENT', '-P'];
      const { stdout } = await run(BIN, args, { timeout: 30_000, maxBuffer: 16 << 20 });
      const lines = stdout.split('\n');
      expect(lines.at(-1)).toBe('');
      expect(lines.slice(0, -1)).toEqual(['PatientID\tPatientName', ...matches.map((m) => `${m.PatientID}\t${m.PatientName}`)]);
    } finally {
      scp.stop();
    }
  });
});
