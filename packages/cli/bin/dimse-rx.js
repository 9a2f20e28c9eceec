#!/usr/bin/env -S node --max-semi-space-size=1
// A committed entry point, so package managers can link the binary before the build. A small young
// generation (1 MiB semi-spaces) frees the Buffers of finished chunks at the next scavenge instead of
// letting them pile up: lower peak memory and faster transfers (see README, Performance). `env -S`
// (coreutils 8.30, BSD, macOS) is needed only to run this file directly: the shims npm and pnpm
// install read the flag from this line and pass it to node themselves. It loads the bundle the
// build makes of dist/ (scripts/bundle.mjs): one module to read instead of hundreds.
import { main } from '../dist/dimse-rx.bundle.js';

// Servers stop on SIGINT or SIGTERM; the handlers are installed only when a server asks.
let stopped = false;
const stop = () =>
  new Promise((resolve) => {
    const signalled = () => {
      stopped = true;
      resolve();
    };
    process.once('SIGINT', signalled);
    process.once('SIGTERM', signalled);
  });
process.exitCode = await main(process.argv.slice(2), { isTerminal: process.stderr.isTTY === true, stop });
// A stopped server has released or aborted its associations: a peer that does not close its end
// after an A-ABORT would otherwise keep the process waiting for ARTIM. (Output is written by now:
// stdout and stderr are synchronous for files and pipes on Linux, and main awaited its lines.)
if (stopped) process.exit();
