/**
 * get(), move(), retrieve(), findMatches() and the operation time limits over linked in-memory
 * transports (and, for the move destination, a loopback storage SCP): events, counts, final
 * statuses typed, sub-operations routed to the right get, cancel, a slow reader holding the socket.
 */

import type { Association } from '@dimse-rx/association';
import {
  associate,
  CommandField,
  decodeDataset,
  echo,
  encodeDataset,
  findMatches,
  get,
  invoke,
  type MoveReceiver,
  move,
  moveReceiver,
  type NaturalizedDataset,
  OperationTimeoutError,
  QueryKeyError,
  QueryModel,
  type RequestHandler,
  Requests,
  Responses,
  type RetrieveEvent,
  RetrieveFailedError,
  type RetrieveResult,
  retrieve,
  retrieveContexts,
  Status,
  type StorageHandler,
} from '@dimse-rx/dimse';
import { firstValueFrom, lastValueFrom, Observable, type Subscription, takeWhile, toArray } from 'rxjs';
import { afterEach, describe, expect, it } from 'vitest';
import { CT, ILE, type Pair, pair, settle, VERIFICATION } from './harness.js';

const GET = QueryModel.StudyRoot.get;
const MOVE = QueryModel.StudyRoot.move;
const FIND = QueryModel.StudyRoot.find;
const open: Pair[] = [];
const receivers: MoveReceiver[] = [];
afterEach(async () => {
  for (const p of open.splice(0)) await p.close();
  for (const r of receivers.splice(0)) await r.close();
});

interface Instance {
  readonly study: string;
  readonly series: string;
  readonly uid: string;
}
const instancesOf = (study: string, n: number): Instance[] =>
  Array.from({ length: n }, (_, i) => ({ study, series: `${study}.1`, uid: `${study}.1.${i + 1}` }));
const dataSetOf = (i: Instance): NaturalizedDataset => ({
  SOPClassUID: CT,
  SOPInstanceUID: i.uid,
  PatientID: 'P1',
  StudyInstanceUID: i.study,
  SeriesInstanceUID: i.series,
  PatientName: 'DOE^JANE',
});
const asList = (v: unknown): string[] => (v === undefined ? [] : Array.isArray(v) ? v.map(String) : String(v).split('\\'));

/**
 * A C-GET (or C-MOVE) service over `instances`: the ones whose study the identifier names, each
 * sent as a C-STORE (on this association, or on `toDestination`'s), a pending response after
 * each, then `final` (by default success, or 0xB000 with the Failed SOP Instance UID List).
 */
function retrieveService(
  instances: readonly Instance[],
  options: {
    final?: number;
    originator?: boolean;
    toDestination?: (request: Parameters<RequestHandler>[0]) => Promise<{ store: (i: Instance) => Promise<number>; done: () => void }>;
    cancelled?: (counts: { completed: number }) => void;
  } = {},
): RequestHandler {
  return (request) => {
    let completed = 0;
    let failed = 0;
    let total = 0;
    request.onCancel(() => {
      options.cancelled?.({ completed });
      return Responses.cGet(Status.Cancel, { remaining: total - completed - failed, completed, failed, warning: 0 });
    });
    const ts = request.presentationContext.transferSyntax;
    return (async function* () {
      const identifier = decodeDataset(await lastValueFrom(request.message.dataSet!.collect()), ts);
      if (options.final !== undefined && options.final !== 0xb000) {
        yield Responses.cGet(options.final, undefined, { errorComment: 'as the test says' });
        return;
      }
      const studies = new Set(asList(identifier.StudyInstanceUID));
      const wanted = instances.filter((i) => studies.has(i.study));
      total = wanted.length;
      const failedUids: string[] = [];
      const destination = options.toDestination ? await options.toDestination(request) : undefined;
      for (const instance of wanted) {
        const status = destination
          ? await destination.store(instance)
          : (
              await lastValueFrom(
                invoke(
                  request.association,
                  Requests.cStore({
                    affectedSopClassUid: CT,
                    affectedSopInstanceUid: instance.uid,
                    ...(options.originator ? { moveOriginatorMessageId: request.message.command.messageId! } : {}),
                  }),
                  { dataSet: encodeDataset(dataSetOf(instance), ILE) },
                ),
              )
            ).status.code;
        if (status === 0) completed++;
        else {
          failed++;
          failedUids.push(instance.uid);
        }
        yield Responses.cGet(Status.Pending, { remaining: total - completed - failed, completed, failed, warning: 0 });
      }
      destination?.done();
      const counts = { completed, failed, warning: 0 };
      if (failed > 0) yield Responses.cGet(0xb000, counts, { identifier: encodeDataset({ FailedSOPInstanceUIDList: failedUids }, ts) });
      else yield Responses.cGet(Status.Success, counts);
    })();
  };
}

/** A storage handler keeping data sets in memory; answers `failFor` with 0xA700. */
function memoryStore(failFor: ReadonlySet<string> = new Set()) {
  const kept = new Map<string, NaturalizedDataset>();
  const store: StorageHandler = (info, data) =>
    new Observable((subscriber) => {
      const sub = data.collect().subscribe({
        next: (bytes) => {
          if (failFor.has(info.sopInstanceUid)) {
            subscriber.next({ status: 0xa700, errorComment: 'disk full' });
          } else {
            kept.set(info.sopInstanceUid, decodeDataset(bytes, info.transferSyntaxUid));
            subscriber.next({
              status: 0,
              stored: {
                path: `memory:${info.sopInstanceUid}`,
                size: bytes.length,
                sopClassUid: info.sopClassUid,
                sopInstanceUid: info.sopInstanceUid,
                transferSyntaxUid: info.transferSyntaxUid,
              },
            });
          }
          subscriber.complete();
        },
        error: (e) => subscriber.error(e),
      });
      return () => sub.unsubscribe();
    });
  return { store, kept };
}

async function getPair(handler: RequestHandler, window = 1) {
  const { contexts, roles } = retrieveContexts({
    sopClasses: [CT],
    transferSyntaxes: [ILE],
    others: [{ abstractSyntax: VERIFICATION, transferSyntaxes: [ILE] }],
  });
  const p = await pair({
    contexts: contexts.map((c) => ({ ...c, transferSyntaxes: [ILE] })),
    requestor: {
      roles,
      ...(window > 1 ? { asynchronousOperationsWindow: { maxOperationsInvoked: window, maxOperationsPerformed: window } } : {}),
    },
    acceptor: {
      roles: { [CT]: { scu: true, scp: true } },
      ...(window > 1 ? { asynchronousOperationsWindow: { maxOperationsInvoked: window, maxOperationsPerformed: window } } : {}),
    },
    services: [{ command: CommandField.CGetRq, sopClasses: GET, handler }],
  });
  open.push(p);
  return p;
}

const study = (uid: string | string[]) => ({ model: 'StudyRoot' as const, level: 'STUDY', keys: { StudyInstanceUID: uid } });

describe('retrieveContexts()', () => {
  it('proposes the C-GET context and one per storage SOP class with the SCP role, within 128 contexts', () => {
    const few = retrieveContexts({ sopClasses: ['CTImageStorage', '1.2.840.10008.5.1.4.1.1.4'] });
    expect(few.contexts.map((c) => c.abstractSyntax)).toEqual([GET, CT, '1.2.840.10008.5.1.4.1.1.4']);
    expect(few.roles).toEqual([
      { sopClassUid: CT, scuRole: false, scpRole: true },
      { sopClassUid: '1.2.840.10008.5.1.4.1.1.4', scuRole: false, scpRole: true },
    ]);
    expect(few.omitted).toEqual([]);
    const all = retrieveContexts({ sopClasses: '*', others: [{ abstractSyntax: FIND, transferSyntaxes: [ILE] }] });
    expect(all.contexts).toHaveLength(128);
    expect(all.roles).toHaveLength(126);
    expect(all.omitted.length).toBeGreaterThan(0);
    expect(all.contexts.map((c) => c.abstractSyntax)).not.toContain(all.omitted[0]);
  });
});

describe('get()', () => {
  it('stores each instance with the handler, emits stored and progress events, then the result', async () => {
    const instances = instancesOf('1.2.9.1', 3);
    const p = await getPair(retrieveService(instances));
    const { store, kept } = memoryStore();
    const events = await lastValueFrom(get(p.requestor, study('1.2.9.1'), { store }).pipe(toArray()));
    expect(events.map((e) => e.type)).toEqual(['stored', 'progress', 'stored', 'progress', 'stored', 'progress', 'result']);
    expect(events.filter((e) => e.type === 'progress')).toEqual([
      { type: 'progress', remaining: 2, completed: 1, failed: 0, warning: 0 },
      { type: 'progress', remaining: 1, completed: 2, failed: 0, warning: 0 },
      { type: 'progress', remaining: 0, completed: 3, failed: 0, warning: 0 },
    ]);
    const result = events.at(-1) as RetrieveResult;
    expect(result.status.code).toBe(0);
    expect(result).toMatchObject({ completed: 3, failed: 0, warning: 0, failedSopInstanceUids: [] });
    expect([...kept.keys()]).toEqual(instances.map((i) => i.uid));
    expect(kept.get('1.2.9.1.1.2')).toMatchObject({ PatientName: [{ Alphabetic: 'DOE^JANE' }], SeriesInstanceUID: '1.2.9.1.1' });
    const stored = events.filter((e) => e.type === 'stored');
    expect(stored[0]).toMatchObject({ sopInstanceUid: '1.2.9.1.1.1', status: 0, stored: { path: 'memory:1.2.9.1.1.1' } });
    // The handler was registered for the get's lifetime only: a C-STORE now is not supported.
    const after = await lastValueFrom(
      invoke(p.acceptor, Requests.cStore({ affectedSopClassUid: CT, affectedSopInstanceUid: '1.2.9.9' }), {
        dataSet: encodeDataset(dataSetOf(instances[0]!), ILE),
      }),
    );
    expect(after.status.code).toBe(0x0122);
  });

  it('ends with the warning 0xB000, the counts and the Failed SOP Instance UID List when some failed', async () => {
    const instances = instancesOf('1.2.9.2', 4);
    const p = await getPair(retrieveService(instances));
    const { store } = memoryStore(new Set(['1.2.9.2.1.2', '1.2.9.2.1.4']));
    const events = await lastValueFrom(get(p.requestor, study('1.2.9.2'), { store }).pipe(toArray()));
    const result = events.at(-1) as RetrieveResult;
    expect(result.status.code).toBe(0xb000);
    expect(result.status.kind).toBe('warning');
    expect(result).toMatchObject({ completed: 2, failed: 2, failedSopInstanceUids: ['1.2.9.2.1.2', '1.2.9.2.1.4'] });
    expect(events.filter((e) => e.type === 'stored').map((e) => (e as { status: number }).status)).toEqual([0, 0xa700, 0, 0xa700]);
  });

  it.each([
    { code: 0xa701, hex: 'A701', failure: 'out-of-resources' },
    { code: 0xa702, hex: 'A702', failure: 'out-of-resources' },
    { code: 0xa900, hex: 'A900', failure: 'identifier-does-not-match-sop-class' },
    { code: 0xc001, hex: 'C001', failure: 'unable-to-process' },
  ] as const)('errors with RetrieveFailedError on 0x$hex ($failure)', async ({ code, failure }) => {
    const p = await getPair(retrieveService([], { final: code }));
    const error = await lastValueFrom(get(p.requestor, study('1.2.9.3'), { store: memoryStore().store })).catch((e: Error) => e);
    expect(error).toBeInstanceOf(RetrieveFailedError);
    expect((error as RetrieveFailedError).status.code).toBe(code);
    expect((error as RetrieveFailedError).failure).toBe(failure);
    expect((error as RetrieveFailedError).status.errorComment).toBe('as the test says');
    expect((error as RetrieveFailedError).service).toBe('C-GET');
  });

  it('refuses, before sending, a retrieval without the unique key of its level', async () => {
    const p = await getPair(retrieveService([]));
    const error = await lastValueFrom(get(p.requestor, study(''), { store: memoryStore().store })).catch((e: Error) => e);
    expect(error).toBeInstanceOf(QueryKeyError);
    expect(p.sentByRequestor.filter((c) => c.commandField === CommandField.CGetRq)).toHaveLength(0);
  });

  it('cancels on unsubscribe: C-CANCEL-RQ, the SCP answers 0xFE00, the association goes on', async () => {
    const instances = instancesOf('1.2.9.4', 40);
    let cancelledAt = -1;
    const p = await getPair(retrieveService(instances, { cancelled: ({ completed }) => (cancelledAt = completed) }));
    const { store, kept } = memoryStore();
    let stored = 0;
    await lastValueFrom(
      get(p.requestor, study('1.2.9.4'), { store }).pipe(takeWhile((e: RetrieveEvent) => e.type !== 'stored' || ++stored < 3)),
    );
    await settle(200);
    expect(p.sentByRequestor.map((c) => c.commandField).filter((f) => f !== CommandField.CStoreRsp)).toEqual([
      CommandField.CGetRq,
      CommandField.CCancelRq,
    ]);
    const final = p.sentByAcceptor.filter((c) => c.commandField === CommandField.CGetRsp).at(-1);
    expect(final?.status).toBe(Status.Cancel);
    // The third C-STORE-RSP may go after the cancel.
    expect(cancelledAt).toBeGreaterThanOrEqual(2);
    expect(cancelledAt).toBeLessThan(40);
    // Sub-operations already on their way were still stored: nothing answered "not supported".
    expect(kept.size).toBeGreaterThanOrEqual(cancelledAt);
    expect(kept.size).toBeLessThanOrEqual(cancelledAt + 1);
    expect((await firstValueFrom(echo(p.requestor))).code).toBe(0);
  });

  it('routes each sub-operation to its own get when two run at once (window 2), with or without Move Originator Message ID', async () => {
    for (const originator of [false, true]) {
      const instances = [...instancesOf('1.2.7.1', 5), ...instancesOf('1.2.7.2', 5)];
      const p = await getPair(retrieveService(instances, { originator }), 2);
      const a = memoryStore();
      const b = memoryStore();
      const [first, second] = await Promise.all([
        lastValueFrom(get(p.requestor, study('1.2.7.1'), { store: a.store }).pipe(toArray())),
        lastValueFrom(get(p.requestor, study('1.2.7.2'), { store: b.store }).pipe(toArray())),
      ]);
      expect([...a.kept.keys()]).toEqual(instancesOf('1.2.7.1', 5).map((i) => i.uid));
      expect([...b.kept.keys()]).toEqual(instancesOf('1.2.7.2', 5).map((i) => i.uid));
      expect(first.filter((e) => e.type === 'stored')).toHaveLength(5);
      expect(second.filter((e) => e.type === 'stored')).toHaveLength(5);
      expect((first.at(-1) as RetrieveResult).completed).toBe(5);
      expect((second.at(-1) as RetrieveResult).completed).toBe(5);
      // Both were outstanding at once.
      const gets = p.sentByRequestor.map((c) => c.commandField).filter((f) => f === CommandField.CGetRq || f === CommandField.CStoreRsp);
      expect(gets.slice(0, 2)).toEqual([CommandField.CGetRq, CommandField.CGetRq]);
    }
  });
});

/** A C-MOVE SCP whose destinations are loopback ports by AE title; it stores with Move Originator fields. */
async function movePair(instances: readonly Instance[], destinations: Readonly<Record<string, number>>, final?: number) {
  const handler = retrieveService(instances, {
    ...(final === undefined ? {} : { final }),
    toDestination: async (request) => {
      const destination = (request.message.command as { moveDestination?: string }).moveDestination!;
      // Subscribed until done(): unsubscribing releases the association.
      let subscription: Subscription | undefined;
      const association = await new Promise<Association>((resolve, reject) => {
        subscription = associate({
          host: '127.0.0.1',
          port: destinations[destination]!,
          callingAeTitle: 'ACCEPTOR',
          calledAeTitle: destination,
          presentationContexts: [{ abstractSyntax: CT, transferSyntaxes: [ILE] }],
        }).subscribe({ next: resolve, error: reject });
      });
      return {
        store: async (i) =>
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
                { dataSet: encodeDataset(dataSetOf(i), ILE) },
              ),
            )
          ).status.code,
        done: () => subscription?.unsubscribe(),
      };
    },
  });
  const p = await pair({
    contexts: [
      { abstractSyntax: VERIFICATION, transferSyntaxes: [ILE] },
      { abstractSyntax: MOVE, transferSyntaxes: [ILE] },
    ],
    services: [{ command: CommandField.CMoveRq, sopClasses: MOVE, handler }],
  });
  open.push(p);
  return p;
}

describe('move() and retrieve()', () => {
  it('move() to a receiver of this process: stored events for this move, then the result', async () => {
    const { store, kept } = memoryStore();
    const receiver = await moveReceiver({ aeTitle: 'ME', store });
    receivers.push(receiver);
    const instances = instancesOf('1.2.6.1', 3);
    const p = await movePair(instances, { ME: receiver.listening.port });
    const events = await lastValueFrom(move(p.requestor, study('1.2.6.1'), { destination: 'ME', receiver }).pipe(toArray()));
    expect(events.filter((e) => e.type === 'stored').map((e) => (e as { sopInstanceUid: string }).sopInstanceUid)).toEqual(
      instances.map((i) => i.uid),
    );
    expect(events.at(-1)).toMatchObject({ type: 'result', completed: 3, failed: 0 });
    expect(kept.size).toBe(3);
    expect(p.sentByRequestor.find((c) => c.commandField === CommandField.CMoveRq)?.moveDestination).toBe('ME');
  });

  it('retrieve() starts its own destination and stops it at the end', async () => {
    const { store, kept } = memoryStore();
    const instances = instancesOf('1.2.6.2', 4);
    const port = await new Promise<number>((resolve) => {
      void moveReceiver({ store: memoryStore().store }).then(async (r) => {
        const free = r.listening.port;
        await r.close();
        resolve(free);
      });
    });
    const p = await movePair(instances, { SELF: port });
    const events = await lastValueFrom(retrieve(p.requestor, study('1.2.6.2'), { destination: 'SELF', port, store }).pipe(toArray()));
    expect(events.filter((e) => e.type === 'stored')).toHaveLength(4);
    expect((events.at(-1) as RetrieveResult).completed).toBe(4);
    expect([...kept.keys()]).toEqual(instances.map((i) => i.uid));
    await settle(20);
    // Stopped: a new association to it is refused.
    const refused = await firstValueFrom(
      associate({
        host: '127.0.0.1',
        port,
        callingAeTitle: 'REQUESTOR',
        calledAeTitle: 'SELF',
        presentationContexts: [{ abstractSyntax: CT, transferSyntaxes: [ILE] }],
      }),
    ).catch((e: Error) => e);
    expect(refused).toBeInstanceOf(Error);
  });

  it('an unknown destination is the typed 0xA801 error', async () => {
    const p = await movePair([], {}, 0xa801);
    const error = await lastValueFrom(move(p.requestor, study('1.2.6.3'), { destination: 'NOWHERE' })).catch((e: Error) => e);
    expect(error).toBeInstanceOf(RetrieveFailedError);
    expect((error as RetrieveFailedError).failure).toBe('move-destination-unknown');
    expect((error as RetrieveFailedError).service).toBe('C-MOVE');
    expect((error as RetrieveFailedError).message).toContain('move destination unknown');
  });
});

describe('time limits', () => {
  it('firstResponse: a peer that never answers is given up (C-CANCEL-RQ) with OperationTimeoutError', async () => {
    const silent: RequestHandler = () => new Observable(() => undefined);
    const p = await getPair(silent);
    const error = await lastValueFrom(
      get(p.requestor, study('1.2.5.1'), { store: memoryStore().store, timeouts: { firstResponse: 50 } }),
    ).catch((e: Error) => e);
    expect(error).toBeInstanceOf(OperationTimeoutError);
    expect((error as OperationTimeoutError).limit).toBe('firstResponse');
    await settle(50);
    expect(p.sentByRequestor.map((c) => c.commandField)).toEqual([CommandField.CGetRq, CommandField.CCancelRq]);
  });

  it('betweenResponses restarts with each pending response unless pendingRestartsTimer is false', async () => {
    // A pending response every 30 ms, six of them, then success.
    const slow: RequestHandler = () =>
      (async function* () {
        for (let i = 0; i < 6; i++) {
          await new Promise((r) => setTimeout(r, 30));
          yield Responses.cGet(Status.Pending, { remaining: 6 - i, completed: i, failed: 0, warning: 0 });
        }
        yield Responses.cGet(Status.Success, { completed: 6, failed: 0, warning: 0 });
      })();
    const p = await getPair(slow);
    const ok = await lastValueFrom(get(p.requestor, study('1.2.5.2'), { store: memoryStore().store, timeouts: { betweenResponses: 120 } }));
    expect(ok).toMatchObject({ type: 'result', completed: 6 });
    const error = await lastValueFrom(
      get(p.requestor, study('1.2.5.2'), { store: memoryStore().store, timeouts: { betweenResponses: 120, pendingRestartsTimer: false } }),
    ).catch((e: Error) => e);
    expect(error).toBeInstanceOf(OperationTimeoutError);
    expect((error as OperationTimeoutError).limit).toBe('betweenResponses');
    const whole = await lastValueFrom(get(p.requestor, study('1.2.5.2'), { store: memoryStore().store, timeouts: { total: 90 } })).catch(
      (e: Error) => e,
    );
    expect((whole as OperationTimeoutError).limit).toBe('total');
  });
});

describe('findMatches()', () => {
  const description = 'A STUDY DESCRIPTION LONG ENOUGH TO MAKE EACH RESPONSE WEIGH SOME'.slice(0, 64);
  async function manyMatches(count: number) {
    const handler: RequestHandler = (request) => {
      const ts = request.presentationContext.transferSyntax;
      return (async function* () {
        for (let i = 0; i < count; i++)
          yield Responses.cFind(Status.Pending, {
            identifier: encodeDataset({ QueryRetrieveLevel: 'STUDY', StudyInstanceUID: `1.2.4.${i}`, StudyDescription: description }, ts),
          });
        yield Responses.cFind(Status.Success);
      })();
    };
    const p = await pair({
      contexts: [{ abstractSyntax: FIND, transferSyntaxes: [ILE] }],
      services: [{ command: CommandField.CFindRq, sopClasses: FIND, handler }],
    });
    open.push(p);
    return p;
  }

  it('a slow reader holds the socket: the SCP stalls, nothing piles up, and every match still comes in order', async () => {
    const count = 6000;
    const p = await manyMatches(count);
    const iterator = findMatches(p.requestor, { model: 'StudyRoot', keys: { StudyInstanceUID: '' } }, { highWaterMark: 8 })[
      Symbol.asyncIterator
    ]();
    const first = await iterator.next();
    expect(first.value?.identifier.StudyInstanceUID).toBe('1.2.4.0');
    // The SCP goes on until the link's buffer is full, then stalls: wait until it has.
    let sentWhileHeld = -1;
    for (let round = 0; round < 100 && p.sentByAcceptor.length !== sentWhileHeld; round++) {
      sentWhileHeld = p.sentByAcceptor.length;
      await settle(100);
    }
    // Held: the SCP got no further, far short of the whole result.
    expect(p.sentByAcceptor.length).toBe(sentWhileHeld);
    expect(sentWhileHeld).toBeLessThan(count / 2);
    let n = 1;
    for (let r = await iterator.next(); !r.done; r = await iterator.next()) {
      expect(r.value.identifier.StudyInstanceUID).toBe(`1.2.4.${n}`);
      n++;
    }
    expect(n).toBe(count);
  });

  it('leaving the loop early cancels the query, and the association goes on', async () => {
    const p = await manyMatches(500);
    const taken: string[] = [];
    for await (const match of findMatches(p.requestor, { model: 'StudyRoot', keys: { StudyInstanceUID: '' } })) {
      taken.push(String(match.identifier.StudyInstanceUID));
      if (taken.length === 5) break;
    }
    expect(taken).toEqual(['1.2.4.0', '1.2.4.1', '1.2.4.2', '1.2.4.3', '1.2.4.4']);
    await settle(100);
    expect(p.sentByRequestor.map((c) => c.commandField)).toEqual([CommandField.CFindRq, CommandField.CCancelRq]);
  });
});
