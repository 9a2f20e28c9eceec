#!/usr/bin/env node
// A committed entry point, so package managers can link the binary before the build.
import { main } from '../dist/main.js';

process.exitCode = await main(process.argv.slice(2));
