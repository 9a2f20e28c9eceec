#!/usr/bin/env -S node --max-semi-space-size=1
// A committed entry point, so package managers can link the binary before the build. A small young
// generation (1 MiB semi-spaces) frees the Buffers of finished chunks at the next scavenge instead of
// letting them pile up: lower peak memory and faster transfers (see README, Performance). `env -S`
// (coreutils 8.30, BSD, macOS) is needed only to run this file directly: the shims npm and pnpm
// install read the flag from this line and pass it to node themselves. It loads the bundle the
// build makes of dist/ (scripts/bundle.mjs): one module to read instead of hundreds.
import { main } from '../dist/dimse-rx.bundle.js';

// Servers stop on SIGINT or SIGTERM; the handlers are installed only when a server asks.
const stop = () =>
  new Promise((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
process.exitCode = await main(process.argv.slice(2), {
  isTerminal: process.stderr.isTTY === true,
  outIsTerminal: process.stdout.isTTY === true,
  stop,
});
// The command is done and has said so: what is left is closing connections, such as one whose
// peer does not close its end after an A-ABORT (ARTIM), which must not keep the process waiting.
// Output is flushed first (synchronous for files and pipes on Linux; not everywhere).
const flushed = (stream) => (stream.writableLength === 0 ? undefined : new Promise((resolve) => stream.once('drain', resolve)));
await Promise.all([flushed(process.stdout), flushed(process.stderr)]);
process.exit();
