/**
 * One study retrieved twice, with progress: by C-GET into `OUT/get` (the instances come back on
 * the same association: the program proposes the storage contexts with the SCP role), then by
 * C-MOVE to the program itself into `OUT/move` (`retrieve()` starts a storage SCP in this
 * process on `--port` for the duration of the move; the SCP must know `--aet` as this host and
 * port). Files are written as Part 10, each durably on disk before it is answered.
 *
 *   node examples/dist/retrieve-study.js HOST PORT STUDY_UID --out DIR [--aet AE] [--port N] [--aec AE]
 */
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import {
  fileSink,
  get,
  type Query,
  QueryModel,
  type RetrieveEvent,
  retrieve,
  retrieveContexts,
  TransferSyntax,
  withAssociation,
} from '@dimse-rx/dimse';
import { lastValueFrom, type Observable, reduce } from 'rxjs';

function option(args: readonly string[], name: string): string | undefined {
  const i = args.indexOf(name);
  return i < 0 ? undefined : args[i + 1];
}

/** Prints each event of a retrieval as a line, and the result with the bytes stored and the time taken. */
async function report(what: 'get' | 'move', events: Observable<RetrieveEvent>): Promise<void> {
  const started = performance.now();
  await lastValueFrom(
    events.pipe(
      reduce((total, event) => {
        if (event.type === 'progress') {
          console.log(`${what}: ${event.completed} completed, ${event.failed} failed, ${event.remaining ?? '?'} remaining`);
        } else if (event.type === 'stored') {
          console.log(
            `${what}: stored ${event.sopInstanceUid} (${event.stored?.size ?? 0} bytes, status 0x${event.status.toString(16).padStart(4, '0')})`,
          );
          return total + (event.stored?.size ?? 0);
        } else {
          const seconds = (performance.now() - started) / 1000;
          console.log(
            `${what}: ${event.status.meaning}, ${event.completed} completed, ${event.failed} failed, ${event.warning} warning, ` +
              `${(total / 1e6).toFixed(1)} MB in ${seconds.toFixed(2)} s`,
          );
        }
        return total;
      }, 0),
    ),
  );
}

async function main(args: readonly string[]): Promise<number> {
  const [host, port, study] = args;
  const out = option(args, '--out');
  if (!host || !port || !study || !out) {
    console.error('usage: retrieve-study HOST PORT STUDY_UID --out DIR [--aet AE] [--port N] [--aec AE]');
    return 2;
  }
  const aeTitle = option(args, '--aet') ?? 'RETRIEVE-STUDY';
  const peer = { host, port: Number(port), callingAeTitle: aeTitle, calledAeTitle: option(args, '--aec') ?? 'ANY-SCP' };
  const query: Query = { model: 'StudyRoot', level: 'STUDY', keys: { StudyInstanceUID: study } };
  try {
    // C-GET: the C-GET context, and storage contexts in which this side takes the SCP role.
    const { contexts, roles, omitted } = retrieveContexts({ model: 'StudyRoot' });
    if (omitted.length > 0) console.log(`get: ${omitted.length} storage SOP classes left out of the 128 contexts`);
    await report(
      'get',
      withAssociation({ ...peer, presentationContexts: contexts, roles }, (association) =>
        get(association, query, { store: fileSink({ directory: join(out, 'get') }) }),
      ),
    );
    // C-MOVE to this program: one call starts the destination, moves, and stops it.
    const syntaxes = [TransferSyntax.ExplicitVrLittleEndian, TransferSyntax.ImplicitVrLittleEndian];
    await report(
      'move',
      withAssociation(
        { ...peer, presentationContexts: [{ abstractSyntax: QueryModel.StudyRoot.move, transferSyntaxes: syntaxes }] },
        (association) =>
          retrieve(association, query, {
            destination: aeTitle,
            port: Number(option(args, '--port') ?? 0),
            store: fileSink({ directory: join(out, 'move') }),
          }),
      ),
    );
    return 0;
  } catch (error) {
    console.log(`failed: ${(error as Error).message}`);
    return 1;
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main(process.argv.slice(2)).then((code) => process.exit(code));
}
