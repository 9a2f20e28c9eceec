#!/usr/bin/env node
// A committed entry point, so package managers can link the binary before the build.
import { main } from '../dist/main.js';

// Servers stop on SIGINT or SIGTERM; the handlers are installed only when a server asks.
const stop = () =>
  new Promise((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
process.exitCode = await main(process.argv.slice(2), { isTerminal: process.stderr.isTTY === true, stop });
