/** Command-line parsing for `dimse-rx`: positional arguments and options, DCMTK-style aliases included. */

export interface OptionSpec {
  /** Long name without dashes: 'calling-aet'. */
  readonly name: string;
  /** Other spellings, with their dashes: ['-aet']. */
  readonly aliases?: readonly string[];
  /** Takes a value (else a flag). */
  readonly value?: boolean;
  readonly description: string;
}

export interface Parsed {
  readonly positionals: string[];
  readonly options: Record<string, string | boolean>;
}

/** A usage error: the message is printed with the command's usage, exit code 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

export function parseArgs(args: readonly string[], specs: readonly OptionSpec[]): Parsed {
  const positionals: string[] = [];
  const options: Record<string, string | boolean> = {};
  const bySpelling = new Map<string, OptionSpec>();
  for (const spec of specs) {
    bySpelling.set(`--${spec.name}`, spec);
    for (const alias of spec.aliases ?? []) bySpelling.set(alias, spec);
  }
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === '--') {
      positionals.push(...args.slice(i + 1));
      break;
    }
    if (!arg.startsWith('-') || arg === '-') {
      positionals.push(arg);
      continue;
    }
    const [spelling, inline] = arg.includes('=') ? [arg.slice(0, arg.indexOf('=')), arg.slice(arg.indexOf('=') + 1)] : [arg, undefined];
    const spec = bySpelling.get(spelling);
    if (!spec) throw new UsageError(`unknown option ${spelling}`);
    if (!spec.value) {
      options[spec.name] = true;
      continue;
    }
    const value = inline ?? args[++i];
    if (value === undefined) throw new UsageError(`option ${spelling} needs a value`);
    options[spec.name] = value;
  }
  return { positionals, options };
}

export function describeOptions(specs: readonly OptionSpec[]): string {
  const rows = specs.map((s) => [[`--${s.name}`, ...(s.aliases ?? [])].join(', ') + (s.value ? ' VALUE' : ''), s.description] as const);
  const width = Math.max(...rows.map(([left]) => left.length));
  return rows.map(([left, right]) => `  ${left.padEnd(width)}  ${right}`).join('\n');
}

export function intOption(options: Parsed['options'], name: string, fallback: number, min = 0, max = Number.MAX_SAFE_INTEGER): number {
  const raw = options[name];
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min || n > max)
    throw new UsageError(`--${name} must be an integer from ${min} to ${max}, got ${String(raw)}`);
  return n;
}

export function port(value: string | undefined): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > 65535)
    throw new UsageError(`PORT must be an integer from 1 to 65535, got ${value ?? 'nothing'}`);
  return n;
}
