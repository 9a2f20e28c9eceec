// dimse-rx query/retrieve as a library in a process that keeps running, as a service uses it:
// the same operation RUNS times, each on an association of its own; prints one JSON line with
// each run's figures and the process's peak RSS.
//   node qr-library.mjs find PORT AEC RUNS STUDY_UID SERIES_UID   image-level C-FIND of one series
//   node qr-library.mjs get  PORT AEC RUNS STUDY_UID DIR [--no-fsync]   C-GET of a study into DIR/<run>
//   node qr-library.mjs move PORT AEC RUNS STUDY_UID DEST    C-MOVE of a study to DEST
// A get's files are counted, then its folder is removed before the next run.
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { lastValueFrom, tap } from 'rxjs';
import {
  fileSink,
  find,
  get,
  move,
  QueryModel,
  retrieveContexts,
  TransferSyntax,
  withAssociation,
} from '../../packages/dimse/dist/index.js';

const [mode, portText, calledAeTitle, runsText, study, target, flag] = process.argv.slice(2);
const fsync = flag !== '--no-fsync';
const peer = { host: '127.0.0.1', port: Number(portText), callingAeTitle: 'DIMSE-RX', calledAeTitle };
const syntaxes = [TransferSyntax.ExplicitVrLittleEndian, TransferSyntax.ImplicitVrLittleEndian];
const context = (abstractSyntax) => [{ abstractSyntax, transferSyntaxes: syntaxes }];
const peakKiB = () => Number(/^VmHWM:\s+(\d+) kB$/m.exec(readFileSync('/proc/self/status', 'latin1'))?.[1] ?? 0);

const runs = [];
for (let run = 0; run < Number(runsText); run++) {
  // What the run before left for the disk to write back is written first, not during this one.
  execFileSync('sync');
  const started = performance.now();
  const since = () => (performance.now() - started) / 1000;
  if (mode === 'find') {
    let first;
    let matches = 0;
    const keys = { StudyInstanceUID: study, SeriesInstanceUID: target, SOPInstanceUID: '', InstanceNumber: '' };
    await lastValueFrom(
      withAssociation({ ...peer, presentationContexts: context(QueryModel.StudyRoot.find) }, (association) =>
        find(association, { model: 'StudyRoot', level: 'IMAGE', keys }),
      ).pipe(
        tap(() => {
          first ??= since();
          matches++;
        }),
      ),
      { defaultValue: undefined },
    );
    runs.push({ first, last: since(), matches });
  } else {
    let completed = 0;
    let failed = 0;
    const query = { model: 'StudyRoot', level: 'STUDY', keys: { StudyInstanceUID: study } };
    const operation =
      mode === 'get'
        ? (() => {
            const { contexts, roles } = retrieveContexts({ model: 'StudyRoot', transferSyntaxes: syntaxes });
            return withAssociation({ ...peer, presentationContexts: contexts, roles }, (association) =>
              get(association, query, { store: fileSink({ directory: join(target, String(run)), fsync }) }),
            );
          })()
        : withAssociation({ ...peer, presentationContexts: context(QueryModel.StudyRoot.move) }, (association) =>
            move(association, query, { destination: target }),
          );
    await lastValueFrom(
      operation.pipe(
        tap((event) => {
          if (event.type === 'result') {
            completed = event.completed;
            failed = event.failed;
          }
        }),
      ),
      { defaultValue: undefined },
    );
    const seconds = since();
    const files = mode === 'get' ? readdirSync(join(target, String(run))).length : undefined;
    if (mode === 'get') rmSync(join(target, String(run)), { recursive: true, force: true });
    runs.push({ seconds, completed, failed, files });
  }
}
console.log(JSON.stringify({ mode, runs, peakKiB: peakKiB() }));
