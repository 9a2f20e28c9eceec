import {
  AssociationAbortedError,
  AssociationRejectedError,
  AssociationTimeoutError,
  ConnectionError,
  checkMaxPduLength,
  type Timeouts,
} from '@dimse-rx/association';
import createDebug from 'debug';
import { TimeoutError } from 'rxjs';
import { intOption, type OptionSpec, type Parsed, secondsOption, UsageError } from '../args.js';
import { aeTitleOption } from './connection.js';

/** Options every network command takes. */
export const COMMON_OPTIONS: readonly OptionSpec[] = [
  { name: 'calling-aet', aliases: ['-aet'], value: 'TITLE', description: 'our AE title (default DIMSE-RX)' },
  { name: 'called-aet', aliases: ['-aec'], value: 'TITLE', description: "the peer's AE title (default ANY-SCP)" },
  { name: 'max-pdu', value: 'BYTES', description: 'largest P-DATA-TF we receive, bytes (default 16384; 0: no limit)' },
  {
    name: 'timeout',
    aliases: ['-to'],
    value: 'SECONDS',
    description: 'connect, ACSE, ARTIM and DIMSE response timeout, seconds, fractions allowed (default 30)',
  },
  { name: 'verbose', aliases: ['-v'], description: 'log PDUs, state transitions and messages (DEBUG=dimse-rx:*)' },
  { name: 'json', description: 'one JSON object per result line, for scripts' },
];

export interface CommonSettings {
  readonly callingAeTitle: string;
  readonly calledAeTitle: string;
  readonly maxPduLength: number;
  readonly timeouts: Partial<Timeouts>;
  /** How long to wait for a DIMSE response (or, while sending, for the peer to take more), ms. */
  readonly dimseTimeoutMs: number;
  readonly json: boolean;
}

export function commonSettings(options: Parsed['options']): CommonSettings {
  if (options.verbose) createDebug.enable('dimse-rx:*');
  // One timeout for every wait, ARTIM included: a command that reported a timeout exits at once,
  // not after a close that waits for a silent peer with the default 30 s.
  const ms = secondsOption(options, 'timeout', 30, 0.001, 86_400);
  return {
    callingAeTitle: aeTitleOption(options, 'calling-aet', 'DIMSE-RX'),
    calledAeTitle: aeTitleOption(options, 'called-aet', 'ANY-SCP'),
    maxPduLength: maxPduOption(options),
    timeouts: { connect: ms, acse: ms, artim: ms },
    dimseTimeoutMs: ms,
    json: options.json === true,
  };
}

/** --max-pdu: what the library takes as a maximum length (0, or 8 to 2^32-1), as a usage error otherwise. */
function maxPduOption(options: Parsed['options']): number {
  const n = intOption(options, 'max-pdu', 16384, 0, 0xffffffff);
  try {
    checkMaxPduLength(n);
  } catch {
    throw new UsageError(`--max-pdu must be 0 (no limit) or from 8 to 4294967295, got ${n}`);
  }
  return n;
}

/** One line for an error that ends a command: what happened, in words. */
export function describeError(error: unknown): string {
  if (error instanceof ConnectionError) {
    return error.code === 'ECONNREFUSED' ? `connection refused (${error.message})` : error.message;
  }
  if (error instanceof AssociationRejectedError || error instanceof AssociationAbortedError || error instanceof AssociationTimeoutError) {
    return error.message;
  }
  if (error instanceof TimeoutError) return 'no DIMSE response within the timeout (--timeout)';
  return error instanceof Error ? error.message : String(error);
}

/** Where a command writes: lines for people, or JSON objects for scripts. */
export interface Output {
  readonly line: (text: string) => void;
  readonly json: (value: Record<string, unknown>) => void;
  readonly error: (text: string) => void;
}
