/**
 * A query/retrieve SCP in this process for the find, get and move tests, built with the library:
 * C-FIND answers the matches it is given, C-GET sends the instances back as C-STOREs on the same
 * association, C-MOVE opens an association to the destination (by AE title, a port here) and
 * C-STOREs there. It records the identifiers it received and the cancels it saw.
 */
import type { Association } from '@dimse-rx/association';
import {
  associate,
  CommandField,
  decodeDataset,
  encodeDataset,
  invoke,
  type NaturalizedDataset,
  QueryModel,
  type RequestHandler,
  Requests,
  Responses,
  Status,
  scp,
  TransferSyntax,
} from '@dimse-rx/dimse';
import { lastValueFrom, type Subscription } from 'rxjs';
import { CT } from './support.js';

const ILE = TransferSyntax.ImplicitVrLittleEndian;
const ELE = TransferSyntax.ExplicitVrLittleEndian;

/** An instance the SCP holds: its data set as it sends it (Explicit VR Little Endian). */
export interface HeldInstance {
  readonly uid: string;
  readonly study: string;
  readonly dataSet: Buffer;
}

/** A CT instance of `study`, `n`-th of its series, encoded. */
export function heldInstance(study: string, n: number): HeldInstance {
  const uid = `${study}.1.${n}`;
  const dataset: NaturalizedDataset = {
    SOPClassUID: CT,
    SOPInstanceUID: uid,
    PatientID: 'P1',
    PatientName: 'DOE^JANE',
    StudyInstanceUID: study,
    SeriesInstanceUID: `${study}.1`,
    InstanceNumber: n,
    Modality: 'CT',
  };
  return { uid, study, dataSet: encodeDataset(dataset, ELE) };
}

export interface QueryScpOptions {
  /** The matches of every C-FIND (each sent with the Query/Retrieve Level of the query). */
  readonly matches?: readonly NaturalizedDataset[];
  /** Milliseconds between two matches. */
  readonly matchDelay?: number;
  /** The final status of a C-FIND (default success), with an Error Comment when it is not. */
  readonly findStatus?: number;
  /** The instances of C-GET and C-MOVE, those of the studies the identifier names. */
  readonly instances?: readonly HeldInstance[];
  /** Answers of the retrieval's C-STOREs are counted; these UIDs are not sent at all, and reported failed. */
  readonly notSent?: ReadonlySet<string>;
  /** The final status of a C-GET or C-MOVE instead of sending anything. */
  readonly retrieveStatus?: number;
  /** Milliseconds before each sub-operation of a C-GET or C-MOVE (to cancel one in the middle). */
  readonly instanceDelay?: number;
  /** C-MOVE destinations: AE title to port on 127.0.0.1. */
  readonly destinations?: Readonly<Record<string, number>>;
}

export interface QueryScp {
  readonly port: number;
  /** The identifiers received, decoded, in order. */
  readonly identifiers: NaturalizedDataset[];
  /** C-CANCEL-RQs seen, with the matches sent before each. */
  readonly cancels: number[];
  /** The Move Destination of each C-MOVE. */
  readonly moveDestinations: string[];
  readonly associations: Association[];
  stop(): void;
}

const listOf = (v: unknown): string[] => (v === undefined || v === '' ? [] : Array.isArray(v) ? v.map(String) : String(v).split('\\'));

export async function startQueryScp(options: QueryScpOptions = {}): Promise<QueryScp> {
  const identifiers: NaturalizedDataset[] = [];
  const cancels: number[] = [];
  const moveDestinations: string[] = [];
  const associations: Association[] = [];
  const received = async (request: Parameters<RequestHandler>[0]) => {
    const identifier = decodeDataset(await lastValueFrom(request.message.dataSet!.collect()), request.presentationContext.transferSyntax);
    identifiers.push(identifier);
    return identifier;
  };

  const findHandler: RequestHandler = (request) => {
    let sent = 0;
    request.onCancel(() => {
      cancels.push(sent);
      return Responses.cFind(Status.Cancel);
    });
    const ts = request.presentationContext.transferSyntax;
    return (async function* () {
      const identifier = await received(request);
      for (const match of options.matches ?? []) {
        if (options.matchDelay) await new Promise((r) => setTimeout(r, options.matchDelay));
        sent++;
        const level = identifier.QueryRetrieveLevel === undefined ? {} : { QueryRetrieveLevel: identifier.QueryRetrieveLevel };
        yield Responses.cFind(Status.Pending, { identifier: encodeDataset({ ...match, ...level }, ts) });
      }
      const final = options.findStatus ?? Status.Success;
      yield Responses.cFind(final, final === Status.Success ? {} : { errorComment: 'index unavailable' });
    })();
  };

  /** C-GET and C-MOVE alike: `send` stores one instance somewhere and gives the status. */
  const retrieveHandler =
    (service: 'get' | 'move'): RequestHandler =>
    (request) => {
      let completed = 0;
      let failed = 0;
      let total = 0;
      request.onCancel(() => {
        cancels.push(completed);
        return Responses.cGet(Status.Cancel, { remaining: total - completed - failed, completed, failed, warning: 0 });
      });
      const ts = request.presentationContext.transferSyntax;
      return (async function* () {
        const identifier = await received(request);
        if (options.retrieveStatus !== undefined) {
          yield Responses.cGet(options.retrieveStatus, { completed: 0, failed: 0, warning: 0 }, { errorComment: 'as the test says' });
          return;
        }
        const studies = new Set(listOf(identifier.StudyInstanceUID));
        const wanted = (options.instances ?? []).filter((i) => studies.has(i.study));
        total = wanted.length;
        let send: (i: HeldInstance) => Promise<number>;
        let done = () => {};
        if (service === 'get') {
          send = async (i) =>
            (
              await lastValueFrom(
                invoke(request.association, Requests.cStore({ affectedSopClassUid: CT, affectedSopInstanceUid: i.uid }), {
                  dataSet: i.dataSet,
                }),
              )
            ).status.code;
        } else {
          const destination = (request.message.command as { moveDestination?: string }).moveDestination ?? '';
          moveDestinations.push(destination);
          const port = options.destinations?.[destination];
          if (port === undefined) {
            yield Responses.cMove(0xa801, { completed: 0, failed: 0, warning: 0 });
            return;
          }
          let subscription: Subscription | undefined;
          const association = await new Promise<Association>((resolve, reject) => {
            subscription = associate({
              host: '127.0.0.1',
              port,
              callingAeTitle: 'QRSCP',
              calledAeTitle: destination,
              presentationContexts: [{ abstractSyntax: CT, transferSyntaxes: [ELE] }],
            }).subscribe({ next: resolve, error: reject });
          });
          send = async (i) =>
            (
              await lastValueFrom(
                invoke(
                  association,
                  Requests.cStore({
                    affectedSopClassUid: CT,
                    affectedSopInstanceUid: i.uid,
                    moveOriginatorApplicationEntityTitle: request.association.negotiation.callingAeTitle,
                    moveOriginatorMessageId: request.message.command.messageId!,
                  }),
                  { dataSet: i.dataSet },
                ),
              )
            ).status.code;
          done = () => subscription?.unsubscribe();
        }
        const failedUids: string[] = [];
        for (const instance of wanted) {
          if (options.instanceDelay) await new Promise((r) => setTimeout(r, options.instanceDelay));
          const status = options.notSent?.has(instance.uid) ? 0xa702 : await send(instance);
          if (status === 0) completed++;
          else {
            failed++;
            failedUids.push(instance.uid);
          }
          yield Responses.cGet(Status.Pending, { remaining: total - completed - failed, completed, failed, warning: 0 });
        }
        done();
        const counts = { completed, failed, warning: 0 };
        if (failed > 0) yield Responses.cGet(0xb000, counts, { identifier: encodeDataset({ FailedSOPInstanceUIDList: failedUids }, ts) });
        else yield Responses.cGet(Status.Success, counts);
      })();
    };

  const models = [QueryModel.StudyRoot, QueryModel.PatientRoot];
  const accepted = new Set<string>([
    ...models.flatMap((m) => [m.find, m.get, m.move]),
    QueryModel.ModalityWorklist.find,
    CT,
    '1.2.840.10008.1.1',
  ]);
  let subscription: Subscription | undefined;
  const port = await new Promise<number>((resolve, reject) => {
    subscription = scp({
      port: 0,
      abstractSyntaxes: (abstractSyntax) => (accepted.has(abstractSyntax) ? [ELE, ILE] : undefined),
      roles: { [CT]: { scu: true, scp: true } },
      services: [
        {
          command: CommandField.CFindRq,
          sopClasses: [...models.map((m) => m.find), QueryModel.ModalityWorklist.find],
          handler: findHandler,
        },
        { command: CommandField.CGetRq, sopClasses: models.map((m) => m.get), handler: retrieveHandler('get') },
        { command: CommandField.CMoveRq, sopClasses: models.map((m) => m.move), handler: retrieveHandler('move') },
      ],
      onListening: ({ port }) => resolve(port),
    }).subscribe({ next: (a) => associations.push(a), error: reject });
  });
  return { port, identifiers, cancels, moveDestinations, associations, stop: () => subscription?.unsubscribe() };
}
