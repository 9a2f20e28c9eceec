/**
 * A study search as a stream: Study Root C-FIND at the STUDY level, each match printed as it
 * arrives, the first N taken and the rest of the query cancelled (take() unsubscribes, and
 * unsubscribing sends C-CANCEL-RQ at once). Each attempt has time limits (to the first match,
 * between matches); an attempt that fails or times out is retried on a new association, and
 * matches already shown are not shown twice.
 *
 *   node examples/dist/find-studies.js HOST PORT [--name PATTERN] [--since YYYYMMDD]
 *     [--first N] [--timeout SECONDS] [--retries N] [--aec AE]
 */
import { pathToFileURL } from 'node:url';
import { dateRange, type FindMatch, find, type NaturalizedDataset, QueryModel, TransferSyntax, withAssociation } from '@dimse-rx/dimse';
import { count, distinct, lastValueFrom, retry, take, tap, timer } from 'rxjs';

/** A person name as text: dcmjs gives a decoded PN as `[{ Alphabetic: 'DOE^JOHN' }]`. */
const personName = (value: unknown): string => {
  const first = Array.isArray(value) ? value[0] : value;
  return typeof first === 'object' && first !== null ? String((first as { Alphabetic?: string }).Alphabetic ?? '') : String(first ?? '');
};

/** One line of a study match. */
export const studyLine = (s: NaturalizedDataset): string =>
  `${s.StudyDate ?? '--------'} ${personName(s.PatientName)} (${s.PatientID ?? ''}) ${s.StudyDescription ?? ''} ${s.StudyInstanceUID}`;

function option(args: readonly string[], name: string): string | undefined {
  const i = args.indexOf(name);
  return i < 0 ? undefined : args[i + 1];
}

async function main(args: readonly string[]): Promise<number> {
  const [host, port] = args;
  if (!host || !port) {
    console.error('usage: find-studies HOST PORT [--name PATTERN] [--since YYYYMMDD] [--first N] [--timeout S] [--retries N] [--aec AE]');
    return 2;
  }
  const first = Number(option(args, '--first') ?? 10);
  const limit = Number(option(args, '--timeout') ?? 10) * 1000;
  const since = option(args, '--since');
  const keys: NaturalizedDataset = {
    PatientName: option(args, '--name') ?? '*',
    PatientID: '',
    StudyDate: since ? dateRange(since) : '',
    StudyDescription: '',
    StudyInstanceUID: '',
  };
  let attempt = 0;
  let ended = false;
  const shown = await lastValueFrom(
    withAssociation(
      {
        host,
        port: Number(port),
        callingAeTitle: 'FIND-STUDIES',
        calledAeTitle: option(args, '--aec') ?? 'ANY-SCP',
        presentationContexts: [
          {
            abstractSyntax: QueryModel.StudyRoot.find,
            transferSyntaxes: [TransferSyntax.ExplicitVrLittleEndian, TransferSyntax.ImplicitVrLittleEndian],
          },
        ],
      },
      (association) => {
        attempt++;
        return find(
          association,
          { model: 'StudyRoot', level: 'STUDY', keys },
          { timeouts: { firstResponse: limit, betweenResponses: limit } },
        );
      },
    ).pipe(
      // The query ran to its end (not cut short by take below).
      tap({ complete: () => (ended = true) }),
      // A failed attempt starts again on a new association, after a pause that grows.
      retry({
        count: Number(option(args, '--retries') ?? 2),
        delay: (error: Error, n) => {
          console.log(`attempt ${attempt} failed: ${error.message}; retrying`);
          return timer(200 * n);
        },
      }),
      // What an earlier attempt already showed is not shown again.
      distinct((match: FindMatch) => String(match.identifier.StudyInstanceUID)),
      take(first),
      tap((match) => console.log(studyLine(match.identifier))),
      count(),
    ),
  ).catch((error: Error) => error);
  if (shown instanceof Error) {
    console.log(`failed: ${shown.message}`);
    return 1;
  }
  console.log(ended ? `${shown} studies, all shown` : `${shown} shown, the rest cancelled`);
  return 0;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main(process.argv.slice(2)).then((code) => process.exit(code));
}
