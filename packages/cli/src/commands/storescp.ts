import {
  dimseStatus,
  discardSink,
  fileSink,
  type StorageHandler,
  scp,
  TransferSyntax,
  UNCOMPRESSED_TRANSFER_SYNTAXES,
  VERIFICATION_SOP_CLASS,
} from '@dimse-rx/dimse';
import { from, tap } from 'rxjs';
import { describeOptions, intOption, type OptionSpec, parseArgs, UsageError } from '../args.js';
import { COMMON_OPTIONS, commonSettings, type Output } from './common.js';

const OPTIONS: readonly OptionSpec[] = [
  { name: 'port', aliases: ['-p'], value: true, description: 'port to listen on (0: a free one, printed)' },
  { name: 'host', value: true, description: 'address to listen on (default 127.0.0.1; 0.0.0.0 for every interface)' },
  { name: 'out', aliases: ['-od'], value: true, description: 'folder for the received files (Part 10)' },
  { name: 'discard', description: 'read and drop every data set instead of writing files' },
  { name: 'no-fsync', description: 'answer before the file is flushed to disk (for measurements only)' },
  { name: 'aet', aliases: ['-aet'], value: true, description: 'the AE title answered (default: any)' },
  ...COMMON_OPTIONS.filter((o) => o.name !== 'called-aet' && o.name !== 'calling-aet'),
];

export const STORESCP_USAGE = `dimse-rx storescp --port N --out DIR [options]: a storage SCP (C-STORE, C-ECHO)

${describeOptions(OPTIONS)}`;

/** Storage SOP classes live under this root (PS3.4 B.5); Verification is accepted too. */
const STORAGE_ROOT = '1.2.840.10008.5.1.4.';

/** Every storage SOP class, uncompressed syntaxes preferred (explicit VR LE first), compressed ones as proposed. */
function acceptStorage(abstractSyntax: string, proposed: readonly string[]): readonly string[] | undefined {
  if (abstractSyntax === VERIFICATION_SOP_CLASS) return [TransferSyntax.ExplicitVrLittleEndian, TransferSyntax.ImplicitVrLittleEndian];
  if (!abstractSyntax.startsWith(STORAGE_ROOT)) return undefined;
  return [...UNCOMPRESSED_TRANSFER_SYNTAXES, ...proposed];
}

/** A storage handler that also prints one line (or JSON object) per C-STORE answered. */
function reported(handler: StorageHandler, out: Output, json: boolean): StorageHandler {
  return (info, data) =>
    from(handler(info, data)).pipe(
      tap({
        next: (answer) => {
          const status = dimseStatus(typeof answer === 'number' ? answer : answer.status);
          const code = `0x${status.code.toString(16).padStart(4, '0')}`;
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
            });
          } else {
            out.line(`C-STORE ${info.sopInstanceUid} from ${info.callingAeTitle}: ${status.meaning} (${code}), ${data.received} bytes`);
          }
        },
        error: (error: Error) => out.error(`C-STORE ${info.sopInstanceUid} from ${info.callingAeTitle} failed: ${error.message}`),
      }),
    );
}

export function storescpCommand(args: readonly string[], out: Output, stop: Promise<void>): Promise<number> {
  const { positionals, options } = parseArgs(args, OPTIONS);
  if (positionals.length > 0) throw new UsageError(`storescp takes no positional argument (got ${positionals.join(' ')})`);
  const discard = options.discard === true;
  const directory = typeof options.out === 'string' ? options.out : undefined;
  if (!discard && !directory) throw new UsageError('storescp needs --out DIR (or --discard)');
  const settings = commonSettings(options);
  let count = 0;
  return new Promise<number>((resolve) => {
    const subscription = scp({
      port: intOption(options, 'port', 11112, 0, 65535),
      host: typeof options.host === 'string' ? options.host : '127.0.0.1',
      ...(typeof options.aet === 'string' ? { aeTitles: [options.aet] } : {}),
      abstractSyntaxes: acceptStorage,
      maxPduLength: settings.maxPduLength,
      timeouts: settings.timeouts,
      store: reported(discard ? discardSink : fileSink({ directory: directory!, fsync: options['no-fsync'] !== true }), out, settings.json),
      onListening: ({ host, port }) => {
        if (settings.json) out.json({ command: 'storescp', listening: true, host, port });
        else out.line(`storescp listening on ${host}:${port}${discard ? ', discarding' : `, writing to ${directory}`}`);
      },
    }).subscribe({
      next: (association) => {
        const n = ++count;
        const { callingAeTitle, calledAeTitle } = association.negotiation;
        if (settings.json) out.json({ command: 'storescp', association: n, callingAeTitle, calledAeTitle });
        else out.line(`association ${n}: ${callingAeTitle} -> ${calledAeTitle}`);
      },
      error: (error: Error) => {
        out.error(`dimse-rx storescp: ${error.message}`);
        resolve(1);
      },
    });
    void stop.then(() => {
      subscription.unsubscribe();
      resolve(0);
    });
  });
}
