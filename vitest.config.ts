import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

const src = (name: string) => fileURLToPath(new URL(`./packages/${name}/src/index.ts`, import.meta.url));

// Tests run against the sources; the built packages are exercised by the command-line tests.
export default defineConfig({
  resolve: {
    alias: {
      '@dimse-rx/pdu': src('pdu'),
      '@dimse-rx/dataset/sample': fileURLToPath(new URL('./packages/dataset/src/sample-study.ts', import.meta.url)),
      '@dimse-rx/dataset': src('dataset'),
      '@dimse-rx/association': src('association'),
      '@dimse-rx/dimse': src('dimse'),
      '@dimse-rx/cli': src('cli'),
    },
  },
  test: {
    include: ['packages/*/test/**/*.test.ts', 'test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    // Memory checks collect garbage before they measure (globalThis.gc).
    execArgv: ['--expose-gc'],
  },
});
