/**
 * A C-FIND service and its client, on the DIMSE service framework.
 *
 * `serve`: a Patient Root C-FIND SCP over a list of patients in memory. The service is an async
 * generator registered for its SOP class: the channel pulls one match per socket write, so a
 * query that matches every patient holds one match in memory, and a C-CANCEL ends it with the
 * service's own final response, which says how many matches went.
 *
 * `find`: a client that streams the matches of a query with `invoke()`, takes the first N and
 * unsubscribes, which sends C-CANCEL-RQ at once; the association goes on and is released.
 *
 *   node examples/dist/patient-finder.js serve [--port N] [--patients N]
 *   node examples/dist/patient-finder.js find HOST PORT PATTERN [--first N]
 */
import { pathToFileURL } from 'node:url';
import {
  CommandField,
  decodeDataset,
  encodeDataset,
  FindStatus,
  invoke,
  type NaturalizedDataset,
  type RequestHandler,
  Requests,
  Responses,
  Status,
  scp,
  withAssociation,
} from '@dimse-rx/dimse';
import { lastValueFrom, map, take, tap, toArray } from 'rxjs';

/** Patient Root Query/Retrieve Information Model - FIND (PS3.4 C.6.1). */
export const PATIENT_ROOT_FIND = '1.2.840.10008.5.1.4.1.2.1.1';
const IMPLICIT_LE = '1.2.840.10008.1.2';

/** Patients named DOE^PATIENT0001, SMITH^..., with IDs P0001...: what the service searches. */
export function patients(count: number): NaturalizedDataset[] {
  const families = ['DOE', 'SMITH', 'MILLER', 'GARCIA'];
  return Array.from({ length: count }, (_, i) => ({
    PatientName: `${families[i % families.length]}^PATIENT${String(i + 1).padStart(4, '0')}`,
    PatientID: `P${String(i + 1).padStart(4, '0')}`,
    PatientBirthDate: `19${String(50 + (i % 50)).padStart(2, '0')}0101`,
  }));
}

/** A person name as text: dcmjs gives a decoded PN as `[{ Alphabetic: 'DOE^JOHN' }]`. */
export function personName(value: unknown): string | undefined {
  const first = Array.isArray(value) ? value[0] : value;
  if (first === undefined || first === null) return undefined;
  return typeof first === 'string' ? first : (first as { Alphabetic?: string }).Alphabetic;
}

/** PS3.4 C.2.2.2.4 wildcard matching of a person name: `*` any run, `?` one character, case ignored. */
const matcher = (pattern: string | undefined): ((value: string) => boolean) => {
  if (pattern === undefined || pattern === '' || pattern === '*') return () => true;
  const regex = new RegExp(
    `^${pattern
      .replace(/[.+^${}()|[\]\\]/g, '\\$&')
      .replace(/\*/g, '.*')
      .replace(/\?/g, '.')}$`,
    'iu',
  );
  return (value) => regex.test(value);
};

/** The C-FIND service: matches pulled one at a time, a cancel answered with the count sent. */
export function findService(list: readonly NaturalizedDataset[], log: (line: string) => void): RequestHandler {
  return (request) => {
    let sent = 0;
    request.onCancel(() => {
      log(`cancelled by the peer after ${sent} matches`);
      return Responses.cFind(Status.Cancel, { errorComment: `${sent} matches sent` });
    });
    const transferSyntax = request.presentationContext.transferSyntax;
    return (async function* () {
      const identifier = decodeDataset(await lastValueFrom(request.message.dataSet!.collect()), transferSyntax);
      if (identifier.QueryRetrieveLevel !== 'PATIENT') {
        yield Responses.cFind(FindStatus.IdentifierDoesNotMatchSopClass, { errorComment: 'Only the PATIENT level is served' });
        return;
      }
      const matches = matcher(personName(identifier.PatientName));
      for (const patient of list) {
        if (!matches(String(patient.PatientName))) continue;
        sent++;
        // Only the keys asked for are returned (PS3.4 C.2.2.1.3), with the level.
        const keys = Object.fromEntries(Object.keys(identifier).map((key) => [key, patient[key] ?? identifier[key]]));
        yield Responses.cFind(Status.Pending, { identifier: encodeDataset({ ...keys, QueryRetrieveLevel: 'PATIENT' }, transferSyntax) });
      }
      log(`answered with ${sent} matches`);
    })();
  };
}

function option(args: readonly string[], name: string): string | undefined {
  const i = args.indexOf(name);
  return i < 0 ? undefined : args[i + 1];
}

function serve(args: readonly string[]): void {
  const list = patients(Number(option(args, '--patients') ?? 1000));
  const subscription = scp({
    port: Number(option(args, '--port') ?? 11112),
    abstractSyntaxes: { [PATIENT_ROOT_FIND]: [IMPLICIT_LE], '1.2.840.10008.1.1': [IMPLICIT_LE] },
    services: [{ command: CommandField.CFindRq, sopClasses: PATIENT_ROOT_FIND, handler: findService(list, console.log) }],
    onListening: ({ port }) => console.log(`listening on ${port}, ${list.length} patients`),
  }).subscribe();
  process.once('SIGTERM', () => subscription.unsubscribe());
  process.once('SIGINT', () => subscription.unsubscribe());
}

async function find(args: readonly string[]): Promise<number> {
  const [host, port, pattern] = args;
  if (!host || !port || !pattern) {
    console.error('usage: patient-finder find HOST PORT PATTERN [--first N]');
    return 2;
  }
  const first = Number(option(args, '--first') ?? 10);
  const query = encodeDataset({ QueryRetrieveLevel: 'PATIENT', PatientName: pattern, PatientID: '' }, IMPLICIT_LE);
  const names = await lastValueFrom(
    withAssociation(
      {
        host,
        port: Number(port),
        callingAeTitle: 'FINDER',
        calledAeTitle: 'ANY-SCP',
        presentationContexts: [{ abstractSyntax: PATIENT_ROOT_FIND, transferSyntaxes: [IMPLICIT_LE] }],
      },
      (association) =>
        invoke(association, Requests.cFind({ affectedSopClassUid: PATIENT_ROOT_FIND }), { dataSet: query, dataSets: 'collect' }).pipe(
          // Only pending responses carry a match; take(first) cancels the rest.
          map(({ status, dataSet }) => (status.kind === 'pending' && dataSet ? decodeDataset(dataSet, IMPLICIT_LE) : undefined)),
          take(first),
          tap((match) => match && console.log(`${match.PatientID} ${personName(match.PatientName)}`)),
          toArray(),
        ),
    ),
  );
  const shown = names.filter(Boolean).length;
  // The final response came within the first N: nothing was left to cancel.
  if (names.length > shown) console.log(`${shown} match${shown === 1 ? '' : 'es'}, all shown`);
  else console.log(`${shown} shown, the rest cancelled`);
  return 0;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const [mode, ...rest] = process.argv.slice(2);
  if (mode === 'serve') serve(rest);
  else if (mode === 'find') find(rest).then((code) => process.exit(code));
  else {
    console.error('usage: patient-finder serve [--port N] [--patients N] | find HOST PORT PATTERN [--first N]');
    process.exit(2);
  }
}
