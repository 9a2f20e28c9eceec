/** Words for the numbers of A-ASSOCIATE-RJ (PS3.8 9.3.4) and A-ABORT (9.3.8). */

const REJECT_RESULTS: Readonly<Record<number, string>> = { 1: 'permanent', 2: 'transient' };

const REJECT_SOURCES: Readonly<Record<number, string>> = {
  1: 'service-user',
  2: 'service-provider (ACSE)',
  3: 'service-provider (presentation)',
};

const REJECT_REASONS: Readonly<Record<number, Readonly<Record<number, string>>>> = {
  1: {
    1: 'no reason given',
    2: 'application context name not supported',
    3: 'calling AE title not recognized',
    7: 'called AE title not recognized',
  },
  2: { 1: 'no reason given', 2: 'protocol version not supported' },
  3: { 0: 'reserved', 1: 'temporary congestion', 2: 'local limit exceeded' },
};

const ABORT_REASONS: Readonly<Record<number, string>> = {
  0: 'reason not specified',
  1: 'unrecognized PDU',
  2: 'unexpected PDU',
  4: 'unrecognized PDU parameter',
  5: 'unexpected PDU parameter',
  6: 'invalid PDU parameter value',
};

export function describeRejection(result: number, source: number, reason: number): string {
  const why = REJECT_REASONS[source]?.[reason] ?? `reason ${reason}`;
  return `${why} (result ${result} ${REJECT_RESULTS[result] ?? 'unknown'}, source ${source} ${REJECT_SOURCES[source] ?? 'unknown'}, reason ${reason})`;
}

export function describeAbort(source: number, reason: number): string {
  if (source === 0) return 'source 0 service-user';
  return `source ${source} ${source === 2 ? 'service-provider' : 'reserved'}, reason ${reason} ${ABORT_REASONS[reason] ?? 'reserved'}`;
}
