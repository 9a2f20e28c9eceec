// Runs every benchmark of bench/ in turn, each in its own process.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const scripts = ['pdu.mjs', 'store.mjs', 'unread.mjs', 'qr.mjs'];
for (const script of scripts) {
  const { status } = spawnSync(process.execPath, [fileURLToPath(new URL(script, import.meta.url))], { stdio: 'inherit' });
  if (status !== 0) process.exit(status ?? 1);
}
