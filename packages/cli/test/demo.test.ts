import { describe, expect, it } from 'vitest';
import { main } from '../src/main.js';

describe('dimse-rx demo', () => {
  it('stores a generated study to an in-process SCP, checks every file and says so', async () => {
    const lines: string[] = [];
    const code = await main(['demo'], (line) => lines.push(line));
    const text = lines.join('\n');
    expect(code).toBe(0);
    expect(text).toMatch(/storage SCP DEMO-SCP on 127\.0\.0\.1:\d+, writing to /);
    expect(text).toContain('generated 5 CT images of 256x256');
    expect(text).toContain('as Part 10 files');
    expect(text).toContain('C-ECHO: success (0x0000)');
    // 128 KiB of pixels read 32 KiB at a time: several progress steps each.
    expect(lines.filter((l) => /C-STORE image \d\/5: \d+ bytes in ([4-9]|\d\d) progress steps, success \(0x0000\)/.test(l))).toHaveLength(
      5,
    );
    expect(text).toContain('verified: 5 of 5 stored files hold exactly the data set sent');
    expect(lines.at(-1)).toMatch(/^Done: 5 images, \d+\.\d MB stored and checked in/);
  });

  it('prints the version and refuses unknown commands with exit code 2', async () => {
    const lines: string[] = [];
    expect(await main(['--version'], (line) => lines.push(line))).toBe(0);
    expect(lines[0]).toMatch(/^\d+\.\d+\.\d+$/);
    const errors: string[] = [];
    expect(await main(['frobnicate'], { out: (line) => lines.push(line), err: (line) => errors.push(line) })).toBe(2);
    expect(errors[0]).toContain("unknown command 'frobnicate'");
    expect(await main(['echo', 'localhost'], { out: (line) => lines.push(line), err: (line) => errors.push(line) })).toBe(2);
    expect(errors[1]).toContain('dimse-rx echo: echo takes HOST and PORT');
  });
});
