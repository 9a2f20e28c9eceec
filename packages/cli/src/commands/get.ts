import { fileSink, get, type QueryModelName, retrieveContexts, storageSopClass, withAssociation } from '@dimse-rx/dimse';
import { describeOptions, type OptionSpec, parseArgs, port, stringOption, UsageError } from '../args.js';
import { COMMON_OPTIONS, commonSettings, type Output } from './common.js';
import { associationOptions, IDENTITY_OPTIONS, TLS_OPTIONS } from './connection.js';
import { queryOption, RETRIEVE_QUERY_OPTIONS } from './query-options.js';
import { RetrieveReport } from './retrieve-report.js';

const GET_OPTIONS: readonly OptionSpec[] = [
  { name: 'out', aliases: ['-od'], value: 'DIR', description: 'folder for the files received (Part 10, named as storescp names them)' },
  { name: 'no-fsync', description: 'answer each C-STORE before its file is flushed to disk (for measurements only)' },
  {
    name: 'sop-classes',
    value: 'LIST',
    description: 'storage SOP classes proposed with the SCP role: common (default), all, or KEYWORD|UID,...',
  },
];

const OPTIONS = [...RETRIEVE_QUERY_OPTIONS, ...GET_OPTIONS, ...COMMON_OPTIONS, ...TLS_OPTIONS, ...IDENTITY_OPTIONS];

export const GET_USAGE = `Usage: dimse-rx get HOST PORT [-P | -S] -k KEY=VALUE... --out DIR [options]
C-GET: the instances a query names, sent back by the peer on the same association and written
to DIR as Part 10 files named after their SOP Instance UID (as storescp writes them). Study Root
(-S) unless -P (Patient Root); the level is the model's top unless --level or
-k QueryRetrieveLevel=, and the identifier needs the unique key of its level:
  -k StudyInstanceUID=1.2.3   --level SERIES -k StudyInstanceUID=1.2.3 -k SeriesInstanceUID=1.2.3.4
The storage SOP classes are proposed with the SCP role (PS3.7 D.3.3.4), at most 127 of them.

Output: on a terminal a progress bar (completed, failed, remaining, MB/s) and a line for each
instance not stored; otherwise a line per instance; --json one JSON object per event (stored,
progress) and the summary last. Then the summary: completed, failed, warning, bytes, seconds;
the Failed SOP Instance UID List when some failed. SIGINT cancels the C-GET (C-CANCEL).
Exit code 0 when every sub-operation completed (warnings included), 1 when the C-GET failed
(the status in words) or some sub-operations failed (0xB000) or it was cancelled, 2 for a usage
error.

Options:
${describeOptions(OPTIONS)}`;

/** --sop-classes: the common storage SOP classes, all of them, or those listed (keywords or UIDs). */
function sopClassesOption(value: string | undefined): readonly string[] | '*' | undefined {
  if (value === undefined || value === 'common') return undefined;
  if (value === 'all') return '*';
  const listed = value
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  if (listed.length === 0) throw new UsageError('--sop-classes takes common, all, or a list of storage SOP classes');
  for (const s of listed)
    if (!storageSopClass(s) && !/^[0-9]+(\.[0-9]+)+$/.test(s))
      throw new UsageError(`--sop-classes: ${JSON.stringify(s)} is neither a storage SOP class keyword nor a UID`);
  return listed;
}

/** `bar`: where the progress bar is drawn (a terminal); `stop` resolves on SIGINT. */
export async function getCommand(
  args: readonly string[],
  out: Output,
  bar: ((text: string) => void) | undefined,
  stop: Promise<void> | undefined,
): Promise<number> {
  const parsed = parseArgs(args, OPTIONS);
  const { positionals, options } = parsed;
  if (positionals.length !== 2) throw new UsageError('get takes HOST and PORT');
  const [host] = positionals as [string, string];
  const settings = commonSettings(options);
  const target = { host, port: port(positionals[1]) };
  const directory = stringOption(options, 'out');
  if (directory === undefined || directory === '') throw new UsageError('get needs --out DIR');
  const sopClasses = sopClassesOption(stringOption(options, 'sop-classes'));
  const { query } = queryOption(parsed, 'retrieve');
  const connection = associationOptions(parsed, settings, target);
  const { contexts, roles, omitted } = retrieveContexts({
    model: query.model as Exclude<QueryModelName, 'ModalityWorklist'>,
    ...(sopClasses === undefined ? {} : { sopClasses }),
  });
  if (omitted.length > 0)
    out.error(`dimse-rx get: ${omitted.length} storage SOP classes left out (at most 128 presentation contexts): ${omitted.join(', ')}`);
  const report = new RetrieveReport({ command: 'get', out, json: settings.json, bar, local: true, stop });
  const ms = settings.dimseTimeoutMs;
  return report.run(
    withAssociation({ ...connection, presentationContexts: contexts, roles }, (a) =>
      get(a, query, {
        store: fileSink({ directory, fsync: options['no-fsync'] !== true }),
        timeouts: { firstResponse: ms, betweenResponses: ms },
      }).pipe(report.cancelOnStop()),
    ),
  );
}
