import type { Association } from '@dimse-rx/association';
import {
  acceptStorage,
  CommandField,
  describeUid,
  dimseStatus,
  discardSink,
  fileSink,
  Status,
  type StorageHandler,
  scp,
  VERIFICATION_SOP_CLASS,
} from '@dimse-rx/dimse';
import { from, of, tap } from 'rxjs';
import { describeOptions, intOption, type OptionSpec, parseArgs, secondsOption, UsageError } from '../args.js';
import { COMMON_OPTIONS, commonSettings, type Output } from './common.js';
import { aeTitleOption, TLS_OPTIONS, tlsServerOptions } from './connection.js';
import { ScpLog } from './scp-log.js';

const OPTIONS: readonly OptionSpec[] = [
  { name: 'port', aliases: ['-p'], value: 'N', description: 'port to listen on (0: a free one, printed)' },
  { name: 'host', value: 'ADDRESS', description: 'address to listen on (default 127.0.0.1; 0.0.0.0 for every interface)' },
  { name: 'out', aliases: ['-od'], value: 'DIR', description: 'folder for the received files (Part 10)' },
  { name: 'discard', description: 'read and drop every data set instead of writing files' },
  { name: 'no-fsync', description: 'answer before the file is flushed to disk (for measurements only)' },
  { name: 'aet', aliases: ['-aet'], value: 'TITLE', description: 'the AE title answered (default: any)' },
  { name: 'max-associations', value: 'N', description: 'associations at once; more are refused (2, 3, 2) (default 64)' },
  {
    name: 'idle-timeout',
    value: 'SECONDS',
    description: 'end an association that stays silent this long (default 60; 0: never)',
  },
  ...COMMON_OPTIONS.filter((o) => o.name !== 'called-aet' && o.name !== 'calling-aet'),
  ...TLS_OPTIONS,
];

export const STORESCP_USAGE = `Usage: dimse-rx storescp --port N --out DIR [options]
A storage SCP (C-STORE, C-ECHO): writes each object received as a Part 10 file named after its
SOP Instance UID. Logs each association (AE titles, user identity, contexts), C-ECHO, release,
abort, and each request refused with its reason. Stops on SIGINT or SIGTERM.

Options:
${describeOptions(OPTIONS)}`;

/** On stop, how long open associations get to be released before they are aborted. */
const STOP_GRACE_MS = 500;

/** A storage handler that also prints one line (or JSON object) per C-STORE answered. */
function reported(handler: StorageHandler, out: Output, json: boolean): StorageHandler {
  return (info, data) =>
    from(handler(info, data)).pipe(
      tap({
        next: (answer) => {
          const status = dimseStatus(typeof answer === 'number' ? answer : answer.status, {}, 'C-STORE');
          const code = `0x${status.code.toString(16).padStart(4, '0')}`;
          const stored = typeof answer === 'number' ? undefined : answer.stored;
          if (json) {
            out.json({
              command: 'storescp',
              sopClassUid: info.sopClassUid,
              sopInstanceUid: info.sopInstanceUid,
              transferSyntax: info.transferSyntaxUid,
              callingAeTitle: info.callingAeTitle,
              bytes: data.received,
              status: status.code,
              kind: status.kind,
              ...(stored ? { file: stored.path, fileSize: stored.size } : {}),
            });
          } else {
            out.line(
              `C-STORE ${describeUid(info.sopClassUid)} ${info.sopInstanceUid} from ${info.callingAeTitle}: ${status.meaning} (${code}), ${data.received} bytes in ${describeUid(info.transferSyntaxUid)}`,
            );
          }
        },
        error: (error: Error) => out.error(`C-STORE ${info.sopInstanceUid} from ${info.callingAeTitle} failed: ${error.message}`),
      }),
    );
}

export function storescpCommand(args: readonly string[], out: Output, stop: Promise<void>): Promise<number> {
  const parsed = parseArgs(args, OPTIONS);
  const { positionals, options } = parsed;
  if (positionals.length > 0) throw new UsageError(`storescp takes no positional argument (got ${positionals.join(' ')})`);
  const discard = options.discard === true;
  const directory = typeof options.out === 'string' ? options.out : undefined;
  if (!discard && !directory) throw new UsageError('storescp needs --out DIR (or --discard)');
  const settings = commonSettings(options);
  const aeTitle = options.aet === undefined ? undefined : aeTitleOption(options, 'aet', '');
  const maxAssociations = intOption(options, 'max-associations', 64, 1, 100_000);
  const idle = secondsOption(options, 'idle-timeout', 60);
  const tls = tlsServerOptions(parsed);
  const log = new ScpLog(out, settings.json, describeUid);
  const numbers = new WeakMap<Association, number>();
  const open = new Set<Association>();
  return new Promise<number>((resolve) => {
    const subscription = scp({
      port: intOption(options, 'port', 11112, 0, 65535),
      host: typeof options.host === 'string' ? options.host : '127.0.0.1',
      ...(aeTitle === undefined ? {} : { aeTitles: [aeTitle] }),
      abstractSyntaxes: acceptStorage,
      maxPduLength: settings.maxPduLength,
      maxAssociations,
      timeouts: { ...settings.timeouts, idle },
      ...(tls ? { tls } : {}),
      onRejected: ({ peer, request, response }) => log.rejected(peer, request, response),
      services: [
        {
          command: CommandField.CEchoRq,
          sopClasses: VERIFICATION_SOP_CLASS,
          handler: ({ association }) => {
            log.echo(numbers.get(association) ?? 0);
            return of({ status: Status.Success });
          },
        },
      ],
      store: reported(discard ? discardSink : fileSink({ directory: directory!, fsync: options['no-fsync'] !== true }), out, settings.json),
      onListening: ({ host, port }) => {
        if (settings.json) out.json({ command: 'storescp', listening: true, host, port });
        else out.line(`storescp listening on ${host}:${port}${discard ? ', discarding' : `, writing to ${directory}`}`);
      },
    }).subscribe({
      next: (association) => {
        numbers.set(association, log.accepted(association));
        open.add(association);
        association.finished.subscribe(() => open.delete(association));
      },
      error: (error: Error) => {
        out.error(`dimse-rx storescp: ${error.message}`);
        resolve(1);
      },
    });
    void stop.then(async () => {
      // Stopped (SIGTERM): the server stops listening and asks the open associations to release
      // (serve's teardown); those not released within the grace are aborted.
      log.stopping = true;
      const released = Promise.all([...open].map((a) => new Promise((done) => a.finished.subscribe(done))));
      subscription.unsubscribe();
      let grace: NodeJS.Timeout | undefined;
      await Promise.race([released, new Promise((done) => (grace = setTimeout(done, STOP_GRACE_MS)))]);
      clearTimeout(grace);
      if (open.size > 0) {
        for (const association of open) association.abort();
        // A turn of the event loop for the A-ABORT PDUs to be written before the process may end.
        await new Promise((done) => setTimeout(done, 20));
      }
      resolve(0);
    });
  });
}
