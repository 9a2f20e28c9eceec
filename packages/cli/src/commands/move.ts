import { fileSink, move, QueryModel, retrieve, TransferSyntax, withAssociation } from '@dimse-rx/dimse';
import { describeOptions, intOption, type OptionSpec, parseArgs, port, stringOption, UsageError } from '../args.js';
import { COMMON_OPTIONS, commonSettings, type Output } from './common.js';
import { aeTitleOption, associationOptions, IDENTITY_OPTIONS, TLS_OPTIONS } from './connection.js';
import { queryOption, RETRIEVE_QUERY_OPTIONS } from './query-options.js';
import { RetrieveReport } from './retrieve-report.js';

const MOVE_OPTIONS: readonly OptionSpec[] = [
  {
    name: 'dest',
    aliases: ['-aem'],
    value: 'AE',
    description: 'the move destination: an AE title the peer knows (default with --port: our AE title)',
  },
  { name: 'port', aliases: ['+P'], value: 'N', description: 'be the destination: listen on port N for the C-STOREs (with --out)' },
  { name: 'out', aliases: ['-od'], value: 'DIR', description: 'with --port: folder for the files received (named as storescp names them)' },
  { name: 'no-fsync', description: 'with --port: answer each C-STORE before its file is flushed to disk (for measurements only)' },
  {
    name: 'listen-host',
    value: 'ADDRESS',
    description: 'with --port: address to listen on (default 127.0.0.1; 0.0.0.0 for every interface)',
  },
];

const OPTIONS = [...RETRIEVE_QUERY_OPTIONS, ...MOVE_OPTIONS, ...COMMON_OPTIONS, ...TLS_OPTIONS, ...IDENTITY_OPTIONS];

export const MOVE_USAGE = `Usage: dimse-rx move HOST PORT [--dest AE] [-P | -S] -k KEY=VALUE... [options]
C-MOVE: the peer sends the instances a query names to the destination AE on an association of
its own. Keys, models and levels as for get:
  -k StudyInstanceUID=1.2.3   --level SERIES -k StudyInstanceUID=1.2.3 -k SeriesInstanceUID=1.2.3.4
With --port N --out DIR this process is the destination: it listens on port N (as storescp,
without TLS) for the move's C-STOREs, recognised by their Move Originator, and writes them to DIR
as Part 10 files named after their SOP Instance UID; --dest then defaults to our AE title
(--calling-aet), which the peer must know as this host and port.

Output: on a terminal a progress bar (completed, failed, remaining; MB/s when this process is the
destination); otherwise a line per pending response, or per instance received; --json one JSON
object per event and the summary last. Then the summary: completed, failed, warning, seconds
(files, bytes and MB/s when received here); the Failed SOP Instance UID List when some failed.
SIGINT cancels the C-MOVE (C-CANCEL). Exit code 0 when every sub-operation completed (warnings
included), 1 when the C-MOVE failed (the status in words: "move destination unknown (0xa801)")
or some sub-operations failed (0xB000) or it was cancelled, 2 for a usage error.

Options:
${describeOptions(OPTIONS)}`;

const TRANSFER_SYNTAXES = [TransferSyntax.ExplicitVrLittleEndian, TransferSyntax.ImplicitVrLittleEndian];

/** `bar`: where the progress bar is drawn (a terminal); `stop` resolves on SIGINT. */
export async function moveCommand(
  args: readonly string[],
  out: Output,
  bar: ((text: string) => void) | undefined,
  stop: Promise<void> | undefined,
): Promise<number> {
  const parsed = parseArgs(args, OPTIONS);
  const { positionals, options } = parsed;
  if (positionals.length !== 2) throw new UsageError('move takes HOST and PORT');
  const [host] = positionals as [string, string];
  const settings = commonSettings(options);
  const target = { host, port: port(positionals[1]) };
  const directory = stringOption(options, 'out');
  const listenPort = options.port === undefined ? undefined : intOption(options, 'port', 0, 1, 65535);
  if ((listenPort === undefined) !== (directory === undefined))
    throw new UsageError('--port and --out go together (this process as the destination)');
  if (directory === '') throw new UsageError('--out needs a folder');
  const listenHost = stringOption(options, 'listen-host');
  if (listenHost !== undefined && listenPort === undefined) throw new UsageError('--listen-host goes with --port and --out');
  if (options.dest === undefined && listenPort === undefined)
    throw new UsageError('move needs --dest AE (or --port N --out DIR to be the destination)');
  const destination = aeTitleOption(options, 'dest', settings.callingAeTitle);
  const { query } = queryOption(parsed, 'retrieve');
  const connection = associationOptions(parsed, settings, target);
  const self = listenPort !== undefined && directory !== undefined ? { port: listenPort, directory } : undefined;
  const report = new RetrieveReport({ command: 'move', out, json: settings.json, bar, local: self !== undefined, stop });
  const ms = settings.dimseTimeoutMs;
  const timeouts = { firstResponse: ms, betweenResponses: ms };
  const sopClass = QueryModel[query.model as 'StudyRoot' | 'PatientRoot'].move;
  return report.run(
    withAssociation({ ...connection, presentationContexts: [{ abstractSyntax: sopClass, transferSyntaxes: TRANSFER_SYNTAXES }] }, (a) =>
      (self
        ? // The destination listens for the move's duration only; retrieve() correlates its C-STOREs by Move Originator.
          retrieve(a, query, {
            destination,
            port: self.port,
            host: listenHost ?? '127.0.0.1',
            store: fileSink({ directory: self.directory, fsync: options['no-fsync'] !== true }),
            timeouts,
            serve: { maxPduLength: settings.maxPduLength, timeouts: settings.timeouts },
          })
        : move(a, query, { destination, timeouts })
      ).pipe(report.cancelOnStop()),
    ),
  );
}
