/**
 * Command-line parsing for `dimse-rx`: positional arguments and options, DCMTK's spellings
 * included (`-aet`, `+r`, `+tls KEY CERT`).
 *
 * Written here rather than taken from commander, cac or citty: DCMTK users type single-dash
 * multi-letter options (`-aet`, `-aec`, `-od`) and plus options (`+r`, `+sd`, `+tls`), which none
 * of them parses (commander refuses a multi-letter short flag, cac and citty read `-aet` as
 * `-a -e -t`), so each would need a rewriting pass over argv before it, and its errors would then
 * name the rewritten spelling instead of the one typed. One table of spellings does both jobs.
 */

export interface OptionSpec {
  /** Long name without dashes: 'calling-aet'. */
  readonly name: string;
  /** Other spellings, with their dashes or plus: ['-aet'], ['-r', '+r']. */
  readonly aliases?: readonly string[];
  /** Takes a value: its name in the help ('TITLE', 'N'), or true for 'VALUE'. A flag otherwise. */
  readonly value?: boolean | string;
  /**
   * Takes several values, each stored as the option of that name (DCMTK's `+tls KEY CERT` sets
   * `tls-key` and `tls-cert`); the option itself is then set to true.
   */
  readonly into?: readonly { readonly name: string; readonly value: string }[];
  readonly description: string;
}

export interface Parsed {
  readonly positionals: string[];
  /** Each option given: true for a flag, the last value for an option with a value. */
  readonly options: Record<string, string | boolean>;
  /** Every value given to each option with a value, in order (for options that may repeat). */
  readonly lists: Record<string, string[]>;
}

/** A usage error: the message is printed with the command's usage, exit code 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/** `+` starts an option only when a letter follows (DCMTK's `+r`), so `+` alone or `+1` stay arguments. */
const isOption = (arg: string) => (arg.startsWith('-') && arg !== '-') || /^\+[A-Za-z]/.test(arg);

export function parseArgs(args: readonly string[], specs: readonly OptionSpec[]): Parsed {
  const positionals: string[] = [];
  const options: Record<string, string | boolean> = {};
  const lists: Record<string, string[]> = {};
  const bySpelling = spellings(specs);
  const set = (name: string, value: string) => {
    options[name] = value;
    lists[name] = [...(lists[name] ?? []), value];
  };
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === '--') {
      positionals.push(...args.slice(i + 1));
      break;
    }
    if (!isOption(arg)) {
      positionals.push(arg);
      continue;
    }
    const equals = arg.startsWith('--') ? arg.indexOf('=') : -1;
    const [spelling, inline] = equals > 0 ? [arg.slice(0, equals), arg.slice(equals + 1)] : [arg, undefined];
    const spec = bySpelling.get(spelling);
    if (!spec) {
      const near = closest(spelling, [...bySpelling.keys()]);
      throw new UsageError(`unknown option ${spelling}${near ? ` (did you mean ${near}?)` : ''}`);
    }
    if (spec.into) {
      if (inline !== undefined) throw new UsageError(`option ${spelling} takes ${spec.into.length} values, not =VALUE`);
      for (const part of spec.into) {
        const value = args[++i];
        if (value === undefined) throw new UsageError(`option ${spelling} needs ${spec.into.map((p) => p.value).join(' ')}`);
        set(part.name, value);
      }
      options[spec.name] = true;
      continue;
    }
    if (!spec.value) {
      if (inline !== undefined) throw new UsageError(`option ${spelling} takes no value`);
      options[spec.name] = true;
      continue;
    }
    const value = inline ?? args[++i];
    if (value === undefined) throw new UsageError(`option ${spelling} needs a value (${valueName(spec)})`);
    set(spec.name, value);
  }
  return { positionals, options, lists };
}

function spellings(specs: readonly OptionSpec[]): Map<string, OptionSpec> {
  const bySpelling = new Map<string, OptionSpec>();
  for (const spec of specs) {
    for (const spelling of [`--${spec.name}`, ...(spec.aliases ?? [])]) {
      // Two options spelled alike would make one of them unreachable: a mistake in the table.
      if (bySpelling.has(spelling)) throw new Error(`option spelling ${spelling} is used twice`);
      bySpelling.set(spelling, spec);
    }
  }
  return bySpelling;
}

const valueName = (spec: OptionSpec) => (typeof spec.value === 'string' ? spec.value : 'VALUE');

/** The known spelling nearest to a mistyped one, when it is near enough to be what was meant. */
function closest(typed: string, known: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Number.POSITIVE_INFINITY;
  for (const candidate of known) {
    const d = editDistance(typed, candidate);
    if (d < bestDistance) {
      best = candidate;
      bestDistance = d;
    }
  }
  return best !== undefined && bestDistance <= Math.max(1, Math.floor(typed.length / 4)) ? best : undefined;
}

/** Levenshtein distance, two rows. */
function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      current[j] = Math.min(previous[j]! + 1, current[j - 1]! + 1, previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    previous = current;
  }
  return previous[b.length]!;
}

/** The options as a help text: one row each, its spellings and value on the left. */
export function describeOptions(specs: readonly OptionSpec[]): string {
  const rows = specs.map((s) => {
    const names = [...(s.aliases ?? []), `--${s.name}`].join(', ');
    const value = s.into ? ` ${s.into.map((p) => p.value).join(' ')}` : s.value ? ` ${valueName(s)}` : '';
    return [names + value, s.description] as const;
  });
  const width = Math.min(Math.max(...rows.map(([left]) => left.length)), 34);
  return rows
    .map(([left, right]) => (left.length > width ? `  ${left}\n  ${''.padEnd(width)}  ${right}` : `  ${left.padEnd(width)}  ${right}`))
    .join('\n');
}

export function intOption(options: Parsed['options'], name: string, fallback: number, min = 0, max = Number.MAX_SAFE_INTEGER): number {
  const raw = options[name];
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (raw === '' || raw === true || !Number.isInteger(n) || n < min || n > max)
    throw new UsageError(`--${name} must be an integer from ${min} to ${max}, got ${String(raw)}`);
  return n;
}

/** A number of seconds (fractions allowed) from `min` to `max`, as milliseconds. */
export function secondsOption(options: Parsed['options'], name: string, fallbackSeconds: number, min = 0, max = 86_400): number {
  const raw = options[name];
  if (raw === undefined) return Math.round(fallbackSeconds * 1000);
  const n = Number(raw);
  if (raw === '' || raw === true || !Number.isFinite(n) || n < min || n > max)
    throw new UsageError(`--${name} must be a number of seconds from ${min} to ${max}, got ${String(raw)}`);
  return Math.round(n * 1000);
}

/** The value of an option that takes a string, if given. */
export function stringOption(options: Parsed['options'], name: string): string | undefined {
  const raw = options[name];
  return typeof raw === 'string' ? raw : undefined;
}

export function port(value: string | undefined): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > 65535)
    throw new UsageError(`PORT must be an integer from 1 to 65535, got ${value ?? 'nothing'}`);
  return n;
}
