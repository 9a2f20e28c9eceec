import { readFileSync } from 'node:fs';
import { UsageError } from './args.js';
import type { Output } from './commands/common.js';
import { ECHO_USAGE, echoCommand } from './commands/echo.js';
import { FIND_USAGE, findCommand } from './commands/find.js';
import { GET_USAGE, getCommand } from './commands/get.js';
import { MOVE_USAGE, moveCommand } from './commands/move.js';
import { STORE_USAGE, storeCommand } from './commands/store.js';
import { STORESCP_USAGE, storescpCommand } from './commands/storescp.js';
import { demo } from './demo.js';

const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };

/** What a command gets to run. */
interface Context {
  readonly out: Output;
  readonly io: Partial<Io>;
}

/** One command of the command line: its name, the line of the overview, its usage, what it runs. */
interface CommandSpec {
  readonly name: string;
  /** The synopsis and one line of description in `dimse-rx --help`. */
  readonly synopsis: string;
  readonly summary: string;
  /** The full help (`dimse-rx NAME --help`); its first line is shown with usage errors. */
  readonly usage: string;
  readonly run: (args: readonly string[], context: Context) => Promise<number>;
}

/** Where a progress bar is drawn: stderr when it is a terminal, nowhere otherwise. */
/**
 * Standard output, a line at a time, written in one call per turn of the event loop (or per
 * 64 KiB): find prints thousands of matches a second, and a write to a pipe or file is a system
 * call each. Whatever goes to standard error (messages, the bar) writes what waits here first.
 */
const stdout = (() => {
  let pending = '';
  let scheduled = false;
  const flush = () => {
    scheduled = false;
    if (pending === '') return;
    const text = pending;
    pending = '';
    process.stdout.write(text);
  };
  const line = (text: string) => {
    pending += `${text}\n`;
    if (pending.length >= 65_536) flush();
    else if (!scheduled) {
      scheduled = true;
      setImmediate(flush);
    }
  };
  return { line, flush };
})();
const stderr = (text: string) => {
  stdout.flush();
  process.stderr.write(text);
};

const terminalBar = (io: Partial<Io>) => (io.isTerminal ? (io.bar ?? stderr) : undefined);

/** Every command, in the order `--help` lists them. */
const COMMANDS: readonly CommandSpec[] = [
  {
    name: 'echo',
    synopsis: 'echo HOST PORT [options]',
    summary: 'C-ECHO',
    usage: ECHO_USAGE,
    run: (args, { out }) => echoCommand(args, out),
  },
  {
    name: 'store',
    synopsis: 'store HOST PORT PATH... [options]',
    summary: 'C-STORE files and folders',
    usage: STORE_USAGE,
    run: (args, { out, io }) => storeCommand(args, out, terminalBar(io)),
  },
  {
    name: 'storescp',
    synopsis: 'storescp --port N --out DIR',
    summary: 'a storage SCP',
    usage: STORESCP_USAGE,
    run: (args, { out, io }) => storescpCommand(args, out, (io.stop ?? (() => new Promise<void>(() => {})))()),
  },
  {
    name: 'find',
    synopsis: 'find HOST PORT -k KEY[=VALUE]...',
    summary: 'C-FIND: the matches of a query',
    usage: FIND_USAGE,
    run: (args, { out, io }) => findCommand(args, out, io.outIsTerminal === true),
  },
  {
    name: 'get',
    synopsis: 'get HOST PORT -k KEY=VALUE... --out DIR',
    summary: 'C-GET: the instances of a query, into files',
    usage: GET_USAGE,
    run: (args, { out, io }) => getCommand(args, out, terminalBar(io), io.stop?.()),
  },
  {
    name: 'move',
    synopsis: 'move HOST PORT --dest AE -k KEY=VALUE...',
    summary: 'C-MOVE: the instances of a query, to an AE',
    usage: MOVE_USAGE,
    run: (args, { out, io }) => moveCommand(args, out, terminalBar(io), io.stop?.()),
  },
  {
    name: 'demo',
    synopsis: 'demo',
    summary: 'store a generated study to an in-process SCP',
    usage: 'Usage: dimse-rx demo\nStarts a storage SCP in this process, stores a generated study to it and checks what arrived.',
    run: (_args, { out }) => demo(pkg.version, out.line),
  },
];

const OVERVIEW = [
  ...COMMANDS.map((c) => [c.synopsis, c.summary] as const),
  ['COMMAND --help', 'the options of a command'] as const,
  ['--version', ''] as const,
];
const SYNOPSIS_WIDTH = Math.max(...OVERVIEW.map(([synopsis]) => synopsis.length)) + 2;

const USAGE = [
  `dimse-rx ${pkg.version}: DICOM networking for Node.js as RxJS streams`,
  '',
  'Usage:',
  ...OVERVIEW.map(([synopsis, summary]) => `  dimse-rx ${synopsis.padEnd(SYNOPSIS_WIDTH)}${summary}`.trimEnd()),
  '',
  "Options take DCMTK's spellings too (-aet, -aec, +r, +tls KEY CERT). Exit codes: 0 done,",
  '1 failed (get and move: also when some sub-operations failed, 0xB000), 2 usage error.',
].join('\n');

const byName = (name: string | undefined) => COMMANDS.find((c) => c.name === name);

/** Where the command line reads and writes; tests give their own. */
export interface Io {
  readonly out: (line: string) => void;
  readonly err: (line: string) => void;
  /** True when a progress bar can be drawn (stderr is a terminal). */
  readonly isTerminal: boolean;
  /** True when standard output is a terminal: find prints a table there. */
  readonly outIsTerminal: boolean;
  /** Draws the progress bar; default process.stderr. */
  readonly bar: (text: string) => void;
  /** Called by server commands, and by get and move to cancel: resolves when they should stop (SIGINT, SIGTERM). */
  readonly stop: () => Promise<void>;
}

export async function main(args: readonly string[], io: Partial<Io> | ((line: string) => void) = {}): Promise<number> {
  const given = typeof io === 'function' ? { out: io } : io;
  // process.stdout.write, not console.log: a server prints a line per C-STORE, formatting costs.
  const line = given.out ?? stdout.line;
  const out: Output = {
    line,
    json: (value) => line(JSON.stringify(value)),
    error: given.err ?? ((text) => stderr(`${text}\n`)),
  };
  try {
    return await run(args, given, out);
  } finally {
    if (given.out === undefined) stdout.flush();
  }
}

async function run(args: readonly string[], given: Partial<Io>, out: Output): Promise<number> {
  const [command, ...rest] = args;
  if (command === '--version' || command === '-v') {
    out.line(pkg.version);
    return 0;
  }
  if (command === undefined || command === '--help' || command === '-h') {
    out.line(USAGE);
    return command === undefined ? 1 : 0;
  }
  const spec = byName(command);
  if (!spec) {
    out.error(`dimse-rx: unknown command '${command}'\nTry 'dimse-rx --help' for the commands.`);
    return 2;
  }
  const beforeEnd = rest.includes('--') ? rest.slice(0, rest.indexOf('--')) : rest;
  if (beforeEnd.includes('--help') || beforeEnd.includes('-h')) {
    out.line(spec.usage);
    return 0;
  }
  try {
    return await spec.run(rest, { out, io: given });
  } catch (error) {
    if (error instanceof UsageError) {
      // The message and the command's usage line: its full help is a --help away.
      const usage = spec.usage.split('\n')[0];
      out.error(`dimse-rx ${command}: ${error.message}\n${usage}\nTry 'dimse-rx ${command} --help' for the options.`);
      return 2;
    }
    throw error;
  }
}
