import { describe, expect, it } from 'vitest';
import { main } from '../src/main.js';

describe('dimse-rx demo', () => {
  it('associates on loopback, prints the negotiation and releases', async () => {
    const lines: string[] = [];
    const code = await main(['demo'], (line) => lines.push(line));
    expect(code).toBe(0);
    const text = lines.join('\n');
    expect(text).toMatch(/acceptor DEMO-SCP listening on 127\.0\.0\.1:\d+/);
    expect(text).toContain('requestor DEMO-SCU associated');
    expect(text).toContain('state Sta6');
    expect(text).toContain('context 1 1.2.840.10008.1.1: accepted with 1.2.840.10008.1.2\n');
    expect(text).toContain('context 3 1.2.840.10008.5.1.4.1.1.2: accepted with 1.2.840.10008.1.2.1\n');
    expect(text).toContain('context 5 1.2.840.10008.5.1.4.1.1.4: rejected (result 3)');
    expect(text).toContain('released: requestor Sta1, acceptor released too');
  });

  it('prints the version and refuses unknown commands with exit code 2', async () => {
    const lines: string[] = [];
    expect(await main(['--version'], (line) => lines.push(line))).toBe(0);
    expect(lines[0]).toMatch(/^\d+\.\d+\.\d+$/);
    expect(await main(['frobnicate'], (line) => lines.push(line))).toBe(2);
    expect(lines.at(-1)).toContain("unknown command 'frobnicate'");
  });
});
