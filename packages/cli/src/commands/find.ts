import { type FindMatch, find, QueryKeyError, QueryModel, type QueryModelName, TransferSyntax, withAssociation } from '@dimse-rx/dimse';
import { identity, lastValueFrom, take, tap } from 'rxjs';
import { describeOptions, intOption, type OptionSpec, parseArgs, port, UsageError } from '../args.js';
import { COMMON_OPTIONS, commonSettings, describeError, type Output } from './common.js';
import { associationOptions, IDENTITY_OPTIONS, TLS_OPTIONS } from './connection.js';
import { type FindFormat, rowPrinter } from './find-output.js';
import { FIND_QUERY_OPTIONS, queryOption } from './query-options.js';

const FIND_OPTIONS: readonly OptionSpec[] = [
  { name: 'limit', value: 'N', description: 'stop after N matches (the rest of the query is cancelled: C-CANCEL)' },
  { name: 'csv', description: 'CSV: a header line of the keys, then one line per match' },
];

const OPTIONS = [...FIND_QUERY_OPTIONS, ...FIND_OPTIONS, ...COMMON_OPTIONS, ...TLS_OPTIONS, ...IDENTITY_OPTIONS];

export const FIND_USAGE = `Usage: dimse-rx find HOST PORT [-P | -S | -W] [-k KEY[=VALUE]]... [options]
C-FIND: the matches of a query, printed as they arrive. Study Root (-S) unless -P (Patient Root)
or -W (Modality Worklist); the level is the model's top unless --level or -k QueryRetrieveLevel=.
Keys as findscu takes them:
  -k PatientName=DOE*   -k 0010,0020=123   -k "(0008,0020)=20240101-"   -k StudyInstanceUID
  -k ScheduledProcedureStepSequence[0].Modality=CT   (a key with no value is a return key)
Without -k, the usual return keys of the level are asked for.

Output: on a terminal a table, one column per key; --json one JSON object (the identifier,
naturalized) per match; --csv a header line and one line per match; otherwise (a file, a pipe)
tab-separated values, a header line of the keys first. Exit code 0 when the query completed
(with any number of matches), 1 when it failed (the status in words), 2 for a usage error.

Options:
${describeOptions(OPTIONS)}`;

/** The return keys asked for when no -k is given, by model and level. */
function defaultKeys(model: QueryModelName, level: string | undefined): readonly string[] {
  if (model === 'ModalityWorklist')
    return [
      'PatientName',
      'PatientID',
      'AccessionNumber',
      'ScheduledProcedureStepSequence[0].Modality',
      'ScheduledProcedureStepSequence[0].ScheduledStationAETitle',
      'ScheduledProcedureStepSequence[0].ScheduledProcedureStepStartDate',
      'ScheduledProcedureStepSequence[0].ScheduledProcedureStepStartTime',
      'ScheduledProcedureStepSequence[0].ScheduledProcedureStepDescription',
    ];
  switch (level ?? QueryModel[model].levels[0]) {
    case 'PATIENT':
      return ['PatientName', 'PatientID', 'PatientBirthDate', 'PatientSex'];
    case 'SERIES':
      return ['Modality', 'SeriesNumber', 'SeriesDescription', 'SeriesInstanceUID'];
    case 'IMAGE':
      return ['InstanceNumber', 'SOPClassUID', 'SOPInstanceUID'];
    default:
      return ['StudyDate', 'PatientName', 'PatientID', 'AccessionNumber', 'StudyDescription', 'StudyInstanceUID'];
  }
}

const TRANSFER_SYNTAXES = [TransferSyntax.ExplicitVrLittleEndian, TransferSyntax.ImplicitVrLittleEndian];

/** `terminal`: standard output is a terminal (the table is the default form). */
export async function findCommand(args: readonly string[], out: Output, terminal: boolean): Promise<number> {
  const parsed = parseArgs(args, OPTIONS);
  const { positionals, options } = parsed;
  if (positionals.length !== 2) throw new UsageError('find takes HOST and PORT');
  const [host] = positionals as [string, string];
  const settings = commonSettings(options);
  const target = { host, port: port(positionals[1]) };
  if (settings.json && options.csv === true) throw new UsageError('choose --json or --csv, not both');
  const limit = intOption(options, 'limit', 0, 1, Number.MAX_SAFE_INTEGER);
  const { query, paths } = queryOption(parsed, 'find', defaultKeys);
  const connection = associationOptions(parsed, settings, target);
  const format: FindFormat = settings.json ? 'json' : options.csv === true ? 'csv' : terminal ? 'table' : 'tsv';
  const printer = rowPrinter(format, paths, out.line);
  const sopClass = QueryModel[query.model].find;
  const ms = settings.dimseTimeoutMs;
  const started = performance.now();
  let matches = 0;
  let optionalKeysNotSupported = false;
  try {
    await lastValueFrom(
      withAssociation({ ...connection, presentationContexts: [{ abstractSyntax: sopClass, transferSyntaxes: TRANSFER_SYNTAXES }] }, (a) =>
        // take(N) unsubscribes the find: the library sends C-CANCEL-RQ, then the association is released.
        find(a, query, { timeouts: { firstResponse: ms, betweenResponses: ms } }).pipe(limit > 0 ? take(limit) : identity),
      ).pipe(
        tap((match: FindMatch) => {
          matches++;
          if (match.optionalKeysNotSupported && !optionalKeysNotSupported) {
            optionalKeysNotSupported = true;
            out.error('dimse-rx find: the peer does not support some of the optional keys (0xFF01): their values may be missing');
          }
          printer.row(match.identifier);
        }),
      ),
      { defaultValue: undefined },
    );
  } catch (error) {
    out.error(`dimse-rx find: ${describeError(error)}`);
    // The library checks the keys before sending; queryOption did the same checks already.
    return error instanceof QueryKeyError ? 2 : 1;
  }
  printer.end();
  if (format === 'table') {
    const seconds = (performance.now() - started) / 1000;
    const stopped = limit > 0 && matches === limit ? ` (--limit ${limit}: the rest cancelled)` : '';
    out.line(`${matches} match${matches === 1 ? '' : 'es'} in ${seconds.toFixed(1)} s${stopped}`);
  }
  return 0;
}
