import { readFileSync } from 'node:fs';
import { UsageError } from './args.js';
import type { Output } from './commands/common.js';
import { ECHO_USAGE, echoCommand } from './commands/echo.js';
import { STORE_USAGE, storeCommand } from './commands/store.js';
import { STORESCP_USAGE, storescpCommand } from './commands/storescp.js';
import { demo } from './demo.js';

const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };

const USAGE = `dimse-rx ${pkg.version}: DICOM networking for Node.js as RxJS streams

Usage:
  dimse-rx echo HOST PORT [options]           C-ECHO
  dimse-rx store HOST PORT PATH... [options]  C-STORE files and folders
  dimse-rx storescp --port N --out DIR        a storage SCP
  dimse-rx demo                               store a generated study to an in-process SCP
  dimse-rx COMMAND --help                     the options of a command
  dimse-rx --version

Options take DCMTK's spellings too (-aet, -aec, +r, +tls KEY CERT). Exit codes: 0 done,
1 failed, 2 usage error.`;

const COMMAND_USAGE: Readonly<Record<string, string>> = { echo: ECHO_USAGE, store: STORE_USAGE, storescp: STORESCP_USAGE };

/** Where the command line reads and writes; tests give their own. */
export interface Io {
  readonly out: (line: string) => void;
  readonly err: (line: string) => void;
  /** True when a progress bar can be drawn (stderr is a terminal). */
  readonly isTerminal: boolean;
  /** Draws the progress bar; default process.stderr. */
  readonly bar: (text: string) => void;
  /** Called by server commands: resolves when they should stop (SIGINT, SIGTERM). */
  readonly stop: () => Promise<void>;
}

export async function main(args: readonly string[], io: Partial<Io> | ((line: string) => void) = {}): Promise<number> {
  const given = typeof io === 'function' ? { out: io } : io;
  // process.stdout.write, not console.log: a server prints a line per C-STORE, formatting costs.
  const line = given.out ?? ((text: string) => process.stdout.write(`${text}\n`));
  const out: Output = {
    line,
    json: (value) => line(JSON.stringify(value)),
    error: given.err ?? ((text) => process.stderr.write(`${text}\n`)),
  };
  const [command, ...rest] = args;
  if (command === '--version' || command === '-v') {
    out.line(pkg.version);
    return 0;
  }
  if (command === undefined || command === '--help' || command === '-h') {
    out.line(USAGE);
    return command === undefined ? 1 : 0;
  }
  const beforeEnd = rest.includes('--') ? rest.slice(0, rest.indexOf('--')) : rest;
  if (beforeEnd.includes('--help') || beforeEnd.includes('-h')) {
    out.line(COMMAND_USAGE[command] ?? USAGE);
    return 0;
  }
  try {
    switch (command) {
      case 'demo':
        return await demo(pkg.version, out.line);
      case 'echo':
        return await echoCommand(rest, out);
      case 'store':
        return await storeCommand(rest, out, given.isTerminal ? (given.bar ?? ((text) => process.stderr.write(text))) : undefined);
      case 'storescp':
        return await storescpCommand(rest, out, (given.stop ?? (() => new Promise<void>(() => {})))());
      default:
        out.error(`dimse-rx: unknown command '${command}'\nTry 'dimse-rx --help' for the commands.`);
        return 2;
    }
  } catch (error) {
    if (error instanceof UsageError) {
      // The message and the command's usage line: its full help is a --help away.
      const usage = (COMMAND_USAGE[command] ?? USAGE).split('\n')[0];
      out.error(`dimse-rx ${command}: ${error.message}\n${usage}\nTry 'dimse-rx ${command} --help' for the options.`);
      return 2;
    }
    throw error;
  }
}
