/**
 * A small query/retrieve SCP over data sets in memory, for the tests of programs that query and
 * retrieve (the examples): C-FIND, C-GET and C-MOVE of Patient Root and Study Root at every
 * level, with the matching forms the programs send (single values, `*` and `?`, date ranges,
 * UID lists, universal). It records what it was asked and whether it was cancelled.
 */
import type { Association } from '@dimse-rx/association';
import {
  CommandField,
  decodeDataset,
  encodeDataset,
  FindStatus,
  type NaturalizedDataset,
  QueryModel,
  type RequestHandler,
  Responses,
  RetrieveStatus,
  Status,
  scp,
  store,
  TransferSyntax,
  withAssociation,
} from '@dimse-rx/dimse';
import { lastValueFrom, Observable, type Subscription, filter as where } from 'rxjs';

const LEVEL_KEY: Readonly<Record<string, string>> = {
  PATIENT: 'PatientID',
  STUDY: 'StudyInstanceUID',
  SERIES: 'SeriesInstanceUID',
  IMAGE: 'SOPInstanceUID',
};
/** The status counted for a sub-operation that could not be sent. */
const StoreFailed = 0xa700;
const SYNTAXES = [TransferSyntax.ExplicitVrLittleEndian, TransferSyntax.ImplicitVrLittleEndian];

/** A value as text: a person name's alphabetic group, a list joined with backslashes. */
const text = (value: unknown): string => {
  if (value === undefined || value === null) return '';
  if (Array.isArray(value)) return value.map(text).join('\\');
  if (typeof value === 'object') return String((value as { Alphabetic?: string }).Alphabetic ?? '');
  return String(value);
};

/** Whether `value` matches the key `key` of an identifier (PS3.4 C.2.2.2, the forms the tests use). */
function matches(key: string, wanted: unknown, value: unknown): boolean {
  const pattern = text(wanted);
  if (pattern === '' || pattern === '*') return true;
  const actual = text(value);
  if (/(Date|Time)$/.test(key) && pattern.includes('-')) {
    const [from, to] = pattern.split('-');
    return (from === '' || actual >= from!) && (to === '' || actual <= to!);
  }
  if (pattern.includes('\\')) return pattern.split('\\').includes(actual);
  if (/[*?]/.test(pattern)) {
    const regex = pattern
      .replace(/[.+^${}()|[\]\\]/g, '\\$&')
      .replace(/\*/g, '.*')
      .replace(/\?/g, '.');
    return new RegExp(`^${regex}$`, key.endsWith('Name') ? 'i' : '').test(actual);
  }
  return key.endsWith('Name') ? actual.toLowerCase() === pattern.toLowerCase() : actual === pattern;
}

/** The instances an identifier selects, and one representative per entity of its level. */
function select(instances: readonly NaturalizedDataset[], identifier: NaturalizedDataset) {
  const level = String(identifier.QueryRetrieveLevel ?? 'STUDY');
  const keys = Object.keys(identifier).filter((k) => k !== 'QueryRetrieveLevel' && k !== 'SpecificCharacterSet' && !k.startsWith('_'));
  const selected = instances.filter((instance) => keys.every((k) => matches(k, identifier[k], instance[k])));
  const entities = new Map<string, NaturalizedDataset>();
  for (const instance of selected) {
    const id = text(instance[LEVEL_KEY[level] ?? 'StudyInstanceUID']);
    if (!entities.has(id)) entities.set(id, instance);
  }
  return { level, keys, selected, entities: [...entities.values()] };
}

/** What the SCP was asked, for the tests to check. */
export interface QrScpLog {
  /** Identifiers of the C-FINDs, C-GETs and C-MOVEs received, in order. */
  readonly requests: { readonly command: 'C-FIND' | 'C-GET' | 'C-MOVE'; readonly identifier: NaturalizedDataset }[];
  /** Requests the peer cancelled. */
  cancels: number;
}

export interface QrScpOptions {
  /** What it holds: data sets with SOPClassUID, SOPInstanceUID, PatientID, StudyInstanceUID, SeriesInstanceUID. */
  readonly instances: readonly NaturalizedDataset[];
  /** Its AE title (the Move Originator AE Title of its sub-operations). */
  readonly aeTitle?: string;
  /** Move destinations: AE title to loopback port. */
  readonly destinations?: Readonly<Record<string, number>>;
  /** The first N C-FINDs are never answered (for a program's time limit and retry). */
  readonly silentFinds?: number;
}

/** Starts the SCP on a free loopback port; `stop()` ends it. */
export async function startQrScp(options: QrScpOptions): Promise<{ port: number; log: QrScpLog; stop: () => void }> {
  const log: QrScpLog = { requests: [], cancels: 0 };
  const aeTitle = options.aeTitle ?? 'QR-SCP';
  let silent = options.silentFinds ?? 0;
  const sopClasses = [...new Set(options.instances.map((i) => String(i.SOPClassUID)))];
  const models = [QueryModel.PatientRoot, QueryModel.StudyRoot];
  const findClasses = models.map((m) => m.find);
  const getClasses = models.map((m) => m.get);
  const moveClasses = models.map((m) => m.move);

  const identifierOf = async (request: Parameters<RequestHandler>[0]) =>
    decodeDataset(await lastValueFrom(request.message.dataSet!.collect()), request.presentationContext.transferSyntax);

  const findService: RequestHandler = (request) => {
    request.onCancel(() => {
      log.cancels++;
      return Responses.cFind(Status.Cancel);
    });
    if (silent > 0) {
      silent--;
      return new Observable(() => undefined);
    }
    const ts = request.presentationContext.transferSyntax;
    return (async function* () {
      const identifier = await identifierOf(request);
      log.requests.push({ command: 'C-FIND', identifier });
      const { level, keys, entities } = select(options.instances, identifier);
      if (!LEVEL_KEY[level]) {
        yield Responses.cFind(FindStatus.IdentifierDoesNotMatchSopClass, { errorComment: `no level ${level}` });
        return;
      }
      for (const entity of entities) {
        const answer = Object.fromEntries(keys.map((k) => [k, entity[k] ?? identifier[k]]));
        yield Responses.cFind(Status.Pending, { identifier: encodeDataset({ ...answer, QueryRetrieveLevel: level }, ts) });
      }
    })();
  };

  /** C-GET and C-MOVE: each selected instance sent with `send`, a pending response after each, the final by PS3.4 C.4.3.3. */
  const retrieveService =
    (command: 'C-GET' | 'C-MOVE'): RequestHandler =>
    (request) => {
      const counts = { remaining: 0, completed: 0, failed: 0, warning: 0 };
      request.onCancel(() => {
        log.cancels++;
        return Responses.cGet(Status.Cancel, counts);
      });
      const ts = request.presentationContext.transferSyntax;
      return (async function* () {
        const identifier = await identifierOf(request);
        log.requests.push({ command, identifier });
        const destination = request.message.command.moveDestination?.trim();
        const port = command === 'C-MOVE' ? options.destinations?.[destination ?? ''] : undefined;
        if (command === 'C-MOVE' && port === undefined) {
          yield Responses.cMove(RetrieveStatus.MoveDestinationUnknown, undefined, { errorComment: `unknown destination ${destination}` });
          return;
        }
        const { selected } = select(options.instances, identifier);
        counts.remaining = selected.length;
        const failedUids: string[] = [];
        const sendOn = async (association: Association, instance: NaturalizedDataset) => {
          const answer = await lastValueFrom(
            store(
              association,
              { dataset: instance },
              command === 'C-MOVE'
                ? {
                    moveOriginatorAeTitle: request.association.negotiation.request.callingAeTitle,
                    moveOriginatorMessageId: request.message.command.messageId!,
                  }
                : {},
            ).pipe(where((e) => e.type === 'response')),
          ).catch(() => undefined);
          // A sub-operation that could not be sent at all counts as failed.
          return answer?.type === 'response' ? answer.status.code : StoreFailed;
        };
        let moveAssociation: { association: Association; done: () => void } | undefined;
        if (command === 'C-MOVE') moveAssociation = await openDestination(port!, destination!);
        for (const instance of selected) {
          const code = await sendOn(moveAssociation?.association ?? request.association, instance);
          counts.remaining--;
          if (code === Status.Success) counts.completed++;
          else if ((code & 0xf000) === 0xb000) counts.warning++;
          else {
            counts.failed++;
            failedUids.push(String(instance.SOPInstanceUID));
          }
          if (counts.remaining > 0) yield Responses.cGet(Status.Pending, { ...counts });
        }
        moveAssociation?.done();
        const final = { completed: counts.completed, failed: counts.failed, warning: counts.warning };
        if (counts.failed === 0 && counts.warning === 0) yield Responses.cGet(Status.Success, final);
        else if (counts.completed + counts.warning === 0)
          yield Responses.cGet(RetrieveStatus.OutOfResourcesSubOperations, final, {
            identifier: encodeDataset({ FailedSOPInstanceUIDList: failedUids }, ts),
          });
        else yield Responses.cGet(0xb000, final, { identifier: encodeDataset({ FailedSOPInstanceUIDList: failedUids }, ts) });
      })();
    };

  /** An association to a move destination, open until `done()`. */
  const openDestination = (port: number, calledAeTitle: string) =>
    new Promise<{ association: Association; done: () => void }>((resolve, reject) => {
      let finish: () => void = () => undefined;
      withAssociation(
        {
          host: '127.0.0.1',
          port,
          callingAeTitle: aeTitle,
          calledAeTitle,
          presentationContexts: sopClasses.map((abstractSyntax) => ({ abstractSyntax, transferSyntaxes: SYNTAXES })),
        },
        (association) =>
          new Observable<never>((subscriber) => {
            finish = () => subscriber.complete();
            resolve({ association, done: () => finish() });
          }),
      ).subscribe({ error: reject });
    });

  let subscription: Subscription | undefined;
  const port = await new Promise<number>((resolve, reject) => {
    subscription = scp({
      port: 0,
      aeTitles: [aeTitle],
      abstractSyntaxes: (abstractSyntax) =>
        [...findClasses, ...getClasses, ...moveClasses, '1.2.840.10008.1.1'].includes(abstractSyntax as never) ||
        sopClasses.includes(abstractSyntax)
          ? SYNTAXES
          : undefined,
      roles: Object.fromEntries(sopClasses.map((uid) => [uid, { scu: false, scp: true }])),
      services: [
        { command: CommandField.CFindRq, sopClasses: findClasses, handler: findService },
        { command: CommandField.CGetRq, sopClasses: getClasses, handler: retrieveService('C-GET') },
        { command: CommandField.CMoveRq, sopClasses: moveClasses, handler: retrieveService('C-MOVE') },
      ],
      onListening: ({ port }) => resolve(port),
    }).subscribe({ error: reject });
  });
  return { port, log, stop: () => subscription?.unsubscribe() };
}
