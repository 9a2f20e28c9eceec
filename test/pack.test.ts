/**
 * The packages as they would be published: each packed (`pnpm pack` turns workspace links into
 * versions), the tarballs installed into an empty project with only the registry's rxjs (and
 * @types/node for the compiler), an example type-checked there against the installed types and
 * run against a peer. Nothing of the workspace is linked in. Needs the npm registry; with `CI`
 * set it must run, elsewhere it skips with a message when the registry cannot be reached.
 */
import { execFile } from 'node:child_process';
import { copyFile, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { Listening } from '@dimse-rx/association';
import { scp } from '@dimse-rx/dimse';
import { firstValueFrom, ReplaySubject } from 'rxjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL('..', import.meta.url));
const PACKAGES = ['pdu', 'dataset', 'association', 'dimse'];
const TSC = join(ROOT, 'node_modules/typescript/bin/tsc');

let work = '';
let reachable = true;
beforeAll(async () => {
  try {
    await run('npm', ['ping', '--silent'], { timeout: 20_000 });
  } catch {
    reachable = false;
  }
  if (!reachable) {
    if (process.env.CI) throw new Error('pack test: the npm registry cannot be reached, and CI is set');
    console.warn('pack test skipped: the npm registry cannot be reached');
    return;
  }
  work = await mkdtemp(join(tmpdir(), 'dimse-rx-pack-'));
}, 30_000);
afterAll(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

describe('the published packages', () => {
  it('install from their tarballs alone, type-check an example and run it', async () => {
    if (!reachable) return;
    const tarballs = join(work, 'tarballs');
    await mkdir(tarballs);
    for (const name of PACKAGES)
      await run('npx', ['--yes', 'pnpm@10.34.8', 'pack', '--pack-destination', tarballs], {
        cwd: join(ROOT, 'packages', name),
        timeout: 120_000,
      });
    const files = (await readdir(tarballs)).sort();
    expect(files).toEqual([
      'dimse-rx-association-0.1.0.tgz',
      'dimse-rx-dataset-0.1.0.tgz',
      'dimse-rx-dimse-0.1.0.tgz',
      'dimse-rx-pdu-0.1.0.tgz',
    ]);

    const project = join(work, 'project');
    await mkdir(project);
    await writeFile(join(project, 'package.json'), JSON.stringify({ name: 'uses-dimse-rx', private: true, type: 'module' }));
    await run(
      'npm',
      [
        'install',
        '--no-audit',
        '--no-fund',
        '--loglevel=error',
        ...files.map((f) => join(tarballs, f)),
        'rxjs@^7.8.2',
        '@types/node@^20.19.0',
      ],
      { cwd: project, timeout: 240_000 },
    );
    // The installed packages are the tarballs' files, not links into the workspace.
    const installed = JSON.parse(await readFile(join(project, 'node_modules/@dimse-rx/dimse/package.json'), 'utf8')) as {
      dependencies: Record<string, string>;
    };
    expect(installed.dependencies['@dimse-rx/dataset']).toBe('0.1.0');
    expect(Object.values(installed.dependencies).some((v) => v.startsWith('workspace:'))).toBe(false);

    await copyFile(join(ROOT, 'examples/health-check.ts'), join(project, 'health-check.ts'));
    await writeFile(
      join(project, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          target: 'ES2022',
          module: 'NodeNext',
          moduleResolution: 'NodeNext',
          strict: true,
          skipLibCheck: false,
          types: ['node'],
          outDir: 'out',
        },
        files: ['health-check.ts'],
      }),
    );
    await run(process.execPath, [TSC, '-p', project], { cwd: project, timeout: 120_000 });

    // The example against a peer of this process: one check, UP.
    const port = new ReplaySubject<number>(1);
    const server = scp({
      port: 0,
      abstractSyntaxes: { '1.2.840.10008.1.1': ['1.2.840.10008.1.2'] },
      onListening: (l: Listening) => port.next(l.port),
    }).subscribe();
    try {
      const { stdout } = await run(
        process.execPath,
        [join(project, 'out/health-check.js'), '127.0.0.1', String(await firstValueFrom(port)), '--count', '1'],
        {
          cwd: project,
          timeout: 30_000,
        },
      );
      expect(stdout.trim()).toMatch(/^UP \d+ ms, status 0x0000$/);
    } finally {
      server.unsubscribe();
    }
  }, 600_000);
});
