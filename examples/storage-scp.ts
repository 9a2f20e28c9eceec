/**
 * A storage SCP with a handler of its own: it logs the patient and study of each image from the
 * head of the data set as it arrives (never reading the whole data set into memory), refuses
 * one SOP class with a status, and hands the rest to the file sink, which writes Part 10 files
 * durably (fsync, rename) before success is answered.
 *
 *   node examples/dist/storage-scp.js --port N --out FOLDER [--refuse SOP_CLASS_UID]
 */
import { pathToFileURL } from 'node:url';
import {
  fileSink,
  peekHead,
  STORAGE_SOP_CLASSES,
  Status,
  type StorageHandler,
  scp,
  sopClassName,
  UNCOMPRESSED_TRANSFER_SYNTAXES,
  VERIFICATION_SOP_CLASS,
} from '@dimse-rx/dimse';
import { of } from 'rxjs';

/** Secondary Capture: refused here, to show a handler's own status. */
export const SECONDARY_CAPTURE = '1.2.840.10008.5.1.4.1.1.7';

export function loggingHandler(directory: string, refuse: string, log: (line: string) => void): StorageHandler {
  const sink = fileSink({ directory });
  return (info, data) => {
    if (info.sopClassUid === refuse) {
      log(`refused ${info.sopInstanceUid}: ${sopClassName(refuse) ?? refuse} is not stored here`);
      return of({ status: Status.SopClassNotSupported, errorComment: 'SOP class not stored here' });
    }
    const peeked = peekHead(data, info.transferSyntaxUid, ['PatientName', 'PatientID', 'StudyInstanceUID', 'StudyDescription']);
    peeked.head.then(
      (head) =>
        log(
          `image ${info.sopInstanceUid} from ${info.callingAeTitle}: patient ${head.string('PatientName') ?? '?'} (${head.string('PatientID') ?? '?'}), ` +
            `study ${head.string('StudyInstanceUID') ?? '?'} ${head.string('StudyDescription') ?? ''}`.trimEnd(),
        ),
      () => undefined, // the association ended first: the sink reports it
    );
    return sink(info, peeked.data);
  };
}

function main(args: string[]): void {
  const option = (name: string) => {
    const i = args.indexOf(name);
    return i < 0 ? undefined : args[i + 1];
  };
  const directory = option('--out');
  if (!directory) {
    console.error('usage: storage-scp --port N --out FOLDER [--refuse SOP_CLASS_UID]');
    process.exit(2);
  }
  const accepted = [...STORAGE_SOP_CLASSES.map((c) => c.uid), VERIFICATION_SOP_CLASS];
  const subscription = scp({
    port: Number(option('--port') ?? 11112),
    abstractSyntaxes: Object.fromEntries(accepted.map((uid) => [uid, UNCOMPRESSED_TRANSFER_SYNTAXES])),
    maxAssociations: 16,
    timeouts: { idle: 60_000 },
    store: loggingHandler(directory, option('--refuse') ?? SECONDARY_CAPTURE, (line) => console.log(line)),
    onListening: ({ port }) => console.log(`listening on ${port}`),
  }).subscribe();
  process.once('SIGTERM', () => subscription.unsubscribe());
  process.once('SIGINT', () => subscription.unsubscribe());
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) main(process.argv.slice(2));
