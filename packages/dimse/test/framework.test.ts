/**
 * The DIMSE service framework without the network: two channels over linked in-memory
 * transports under virtual time. Cancel, the window both ways, handlers by SOP class with
 * removable registrations, roles, pulling handlers, time limits and the channel that exists
 * from the association's first moment, each checked with no socket and no sleep.
 */

import { AssociationAbortedError } from '@dimse-rx/association';
import {
  CommandField,
  decodeDataset,
  dimse,
  encodeDataset,
  invoke,
  type RequestHandler,
  Requests,
  type ResponseSpec,
  Responses,
  RoleNotNegotiatedError,
  Status,
  StoreStatus,
  storeAll,
  withAssociation,
} from '@dimse-rx/dimse';
import { firstValueFrom, lastValueFrom, map, of, take, timer, toArray } from 'rxjs';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import {
  acceptor,
  CT,
  ILE,
  MR,
  type Pair,
  pair,
  requestorOptions,
  STORAGE_COMMITMENT,
  STUDY_ROOT_FIND,
  STUDY_ROOT_GET,
  settle,
  VERIFICATION,
} from './harness.js';

/** A full collection before each heap sample (tests run with --expose-gc), so that growth is what is kept. */
const collect = () => (globalThis as { gc?: () => void }).gc?.();

const open: Pair[] = [];
beforeEach(() => {
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'setImmediate', 'clearImmediate', 'Date'] });
});
afterEach(async () => {
  for (const p of open.splice(0)) await p.close();
  vi.useRealTimers();
});
async function linked(options: Parameters<typeof pair>[0] = {}): Promise<Pair> {
  const p = await pair(options);
  open.push(p);
  return p;
}

const identifier = encodeDataset({ QueryRetrieveLevel: 'STUDY', StudyInstanceUID: '' }, ILE);
const names = (commands: readonly { commandField: number }[]) => commands.map((c) => c.commandField.toString(16));

describe('cancel on unsubscribe', () => {
  it('take(2) of a C-FIND sends C-CANCEL-RQ at once, drops what follows, and ends at the 0xFE00 with the handler’s counts', async () => {
    let produced = 0;
    let cancelSeen = -1;
    const matches: RequestHandler = (request) => {
      request.onCancel(() => {
        cancelSeen = produced;
        return { status: Status.Cancel, fields: { errorComment: `after ${produced}` } };
      });
      return (async function* (): AsyncGenerator<ResponseSpec> {
        for (let i = 0; ; i++) {
          produced++;
          yield Responses.cFind(Status.Pending, {
            identifier: encodeDataset({ QueryRetrieveLevel: 'STUDY', StudyInstanceUID: `1.2.${i}` }, ILE),
          });
        }
      })();
    };
    const p = await linked({
      contexts: [
        { abstractSyntax: VERIFICATION, transferSyntaxes: [ILE] },
        { abstractSyntax: STUDY_ROOT_FIND, transferSyntaxes: [ILE] },
      ],
      services: [{ command: CommandField.CFindRq, sopClasses: STUDY_ROOT_FIND, handler: matches }],
    });
    const first = await lastValueFrom(
      invoke(p.requestor, Requests.cFind({ affectedSopClassUid: STUDY_ROOT_FIND }), { dataSet: identifier, dataSets: 'collect' }).pipe(
        take(2),
        map((r) => ({ status: r.status.code, meaning: r.status.meaning, uid: decodeDataset(r.dataSet!, ILE).StudyInstanceUID })),
        toArray(),
      ),
    );
    expect(first).toEqual([
      { status: 0xff00, meaning: 'pending: matches are continuing', uid: '1.2.0' },
      { status: 0xff00, meaning: 'pending: matches are continuing', uid: '1.2.1' },
    ]);
    // The C-CANCEL went out when take(2) unsubscribed, before any more was read.
    await settle(50);
    expect(names(p.sentByRequestor)).toEqual(['20', 'fff']);
    expect(p.sentByRequestor[1]).toMatchObject({
      commandField: CommandField.CCancelRq,
      messageIdBeingRespondedTo: p.sentByRequestor[0]!.messageId,
    });
    await settle(200);
    // The performing side stopped pulling a few responses on, and ended with its own final.
    expect(cancelSeen).toBeGreaterThanOrEqual(2);
    expect(cancelSeen).toBeLessThan(3000);
    const finalSent = p.sentByAcceptor.at(-1)!;
    expect(finalSent).toMatchObject({ commandField: CommandField.CFindRsp, status: 0xfe00, errorComment: `after ${cancelSeen}` });
    // The window place is free again once the 0xFE00 came: the next operation goes through.
    expect((await firstValueFrom(invoke(p.requestor, Requests.cEcho()))).status.code).toBe(0);
    expect(p.requestor.state).toBe('Sta6');
  });

  it('aborts the association when the peer sends no final response within the grace time after a cancel', async () => {
    const p = await linked({
      contexts: [{ abstractSyntax: STUDY_ROOT_FIND, transferSyntaxes: [ILE] }],
      services: [
        {
          command: CommandField.CFindRq,
          sopClasses: '*',
          handler: () =>
            (async function* () {
              yield Responses.cFind(Status.Pending, { identifier });
              await new Promise(() => undefined);
            })(),
        },
      ],
      // The peer never gets the C-CANCEL, so never sends a final response.
      lostOnTheWay: (command) => command.commandField === CommandField.CCancelRq,
    });
    const ended = firstValueFrom(p.requestor.finished);
    await firstValueFrom(
      invoke(p.requestor, Requests.cFind({ affectedSopClassUid: STUDY_ROOT_FIND }), { dataSet: identifier, cancelGrace: 5_000 }),
    );
    await settle(50);
    expect(names(p.sentByRequestor)).toEqual(['20', 'fff']);
    await vi.advanceTimersByTimeAsync(4_999);
    expect(p.requestor.state).toBe('Sta6');
    await vi.advanceTimersByTimeAsync(1);
    expect(await ended).toBeInstanceOf(AssociationAbortedError);
    expect(p.requestor.state).toBe('Sta1');
    await settle(50);
    expect(p.acceptor.state).toBe('Sta1');
  });
});

describe('withAssociation()', () => {
  it('releases only after the C-CANCEL of what the work gave up: take(2) of a C-FIND, then the release', async () => {
    let cancelled = false;
    const side = acceptor({
      contexts: [{ abstractSyntax: STUDY_ROOT_FIND, transferSyntaxes: [ILE] }],
      services: [
        {
          command: CommandField.CFindRq,
          sopClasses: '*',
          handler: (request) => {
            request.onCancel(() => {
              cancelled = true;
              return { status: Status.Cancel };
            });
            return (async function* () {
              for (;;) yield Responses.cFind(Status.Pending, { identifier });
            })();
          },
        },
      ],
    });
    const found = await lastValueFrom(
      withAssociation(
        requestorOptions([{ abstractSyntax: STUDY_ROOT_FIND, transferSyntaxes: [ILE] }]),
        (association) =>
          invoke(association, Requests.cFind({ affectedSopClassUid: STUDY_ROOT_FIND }), { dataSet: identifier }).pipe(take(2), toArray()),
        { connect: side.connect },
      ),
    );
    expect(found).toHaveLength(2);
    const acceptorSide = await side.accepted;
    await settle(50);
    expect(names(side.sentByRequestor)).toEqual(['20', 'fff']);
    // The peer got the C-CANCEL before the A-RELEASE-RQ: its service ended with its own final.
    expect(cancelled).toBe(true);
    expect(acceptorSide.state).toBe('Sta1');
    await side.close();
  });
});

describe('the asynchronous operations window', () => {
  it('window 2: a third invoke waits until one of the two ends, and the performing side never runs more than 2', async () => {
    const running = { now: 0, most: 0, started: 0 };
    const slowEcho: RequestHandler = () => {
      running.now++;
      running.started++;
      running.most = Math.max(running.most, running.now);
      return timer(1_000).pipe(
        map(() => {
          running.now--;
          return { status: Status.Success };
        }),
      );
    };
    const p = await linked({
      acceptor: { asynchronousOperationsWindow: { maxOperationsInvoked: 2, maxOperationsPerformed: 2 } },
      requestor: { asynchronousOperationsWindow: { maxOperationsInvoked: 2, maxOperationsPerformed: 2 } },
      services: [{ command: CommandField.CEchoRq, sopClasses: VERIFICATION, handler: slowEcho }],
    });
    expect(p.requestor.negotiation.asynchronousOperationsWindow).toEqual({ maxOperationsInvoked: 2, maxOperationsPerformed: 2 });
    const done: number[] = [];
    for (let i = 0; i < 3; i++) invoke(p.requestor, Requests.cEcho()).subscribe(() => done.push(i));
    await settle(50);
    expect(p.sentByRequestor.filter((c) => c.commandField === CommandField.CEchoRq)).toHaveLength(2);
    expect(running.started).toBe(2);
    await vi.advanceTimersByTimeAsync(1_000);
    expect(done).toEqual([0, 1]);
    expect(p.sentByRequestor.filter((c) => c.commandField === CommandField.CEchoRq)).toHaveLength(3);
    await vi.advanceTimersByTimeAsync(1_000);
    expect(done).toEqual([0, 1, 2]);
    expect(running.most).toBe(2);
  });

  it('does not offer a window when asked for 1/1, and takes an acceptor answer of 0 as no limit', async () => {
    const plain = await linked({ requestor: { asynchronousOperationsWindow: { maxOperationsInvoked: 1, maxOperationsPerformed: 1 } } });
    expect(plain.requestor.negotiation.request.userInformation.some((i) => i.type === 'AsynchronousOperationsWindow')).toBe(false);
    const unlimited = await linked({
      acceptor: { asynchronousOperationsWindow: { maxOperationsInvoked: 0, maxOperationsPerformed: 0 } },
      requestor: { asynchronousOperationsWindow: { maxOperationsInvoked: 0, maxOperationsPerformed: 0 } },
      services: [{ command: CommandField.CEchoRq, sopClasses: VERIFICATION, handler: () => timer(1_000).pipe(map(() => ({ status: 0 }))) }],
    });
    for (let i = 0; i < 40; i++) invoke(unlimited.requestor, Requests.cEcho()).subscribe();
    await settle(200);
    expect(unlimited.sentByRequestor.filter((c) => c.commandField === CommandField.CEchoRq)).toHaveLength(40);
    await vi.advanceTimersByTimeAsync(1_000);
    expect(unlimited.sentByAcceptor.filter((c) => c.commandField === CommandField.CEchoRsp)).toHaveLength(40);
  });
});

describe('storeAll() within the window', () => {
  it('keeps up to the negotiated 3 C-STOREs outstanding, and all are stored in order', async () => {
    let running = 0;
    let most = 0;
    const seen: string[] = [];
    const p = await linked({
      contexts: [{ abstractSyntax: CT, transferSyntaxes: [ILE] }],
      acceptor: { asynchronousOperationsWindow: { maxOperationsInvoked: 3, maxOperationsPerformed: 3 } },
      requestor: { asynchronousOperationsWindow: { maxOperationsInvoked: 3, maxOperationsPerformed: 3 } },
      services: [
        {
          command: CommandField.CStoreRq,
          sopClasses: CT,
          handler: ({ message }) => {
            running++;
            most = Math.max(most, running);
            seen.push(message.command.affectedSopInstanceUid!);
            message.dataSet?.discard();
            return timer(100).pipe(
              map(() => {
                running--;
                return { status: Status.Success };
              }),
            );
          },
        },
      ],
    });
    const inputs = Array.from({ length: 8 }, (_, i) => ({
      dataset: { SOPClassUID: CT, SOPInstanceUID: `1.2.3.${i}`, PatientName: 'WINDOW^TEST', _meta: {} },
    }));
    const responses: number[] = [];
    const done = lastValueFrom(storeAll(p.requestor, inputs as never).pipe(toArray()));
    for (let t = 0; t < 10; t++) await vi.advanceTimersByTimeAsync(100);
    for (const event of await done) if (event.type === 'response') responses.push(event.index);
    expect(most).toBe(3);
    expect(seen).toEqual(inputs.map((input) => input.dataset.SOPInstanceUID));
    expect(responses).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
  });
});

describe('handlers by command and SOP class', () => {
  it('a C-STORE sub-operation of a C-GET reaches the handler the get registered, for exactly its lifetime', async () => {
    const stored: string[] = [];
    const p = await linked({
      contexts: [
        { abstractSyntax: STUDY_ROOT_GET, transferSyntaxes: [ILE] },
        { abstractSyntax: CT, transferSyntaxes: [ILE] },
      ],
      requestor: { roles: [{ sopClassUid: CT, scuRole: false, scpRole: true }] },
      acceptor: { roles: { [CT]: { scu: false, scp: true } } },
      services: [
        {
          command: CommandField.CGetRq,
          sopClasses: STUDY_ROOT_GET,
          // The C-GET SCP: one C-STORE back on the same association per instance, then the final.
          handler: ({ association }) =>
            (async function* () {
              for (const uid of ['1.2.3.1', '1.2.3.2']) {
                const answer = await lastValueFrom(
                  invoke(association, Requests.cStore({ affectedSopClassUid: CT, affectedSopInstanceUid: uid }), {
                    dataSet: Buffer.alloc(64),
                  }),
                );
                yield Responses.cGet(Status.Pending, { remaining: 1, completed: answer.status.code === 0 ? 1 : 0, failed: 0, warning: 0 });
              }
              yield Responses.cGet(Status.Success, { completed: 2, failed: 0, warning: 0 });
            })(),
        },
      ],
    });
    const channel = dimse(p.requestor);
    // A general storage handler registered before: the get's own takes its place while it runs.
    const general = channel.handle(CommandField.CStoreRq, '*', ({ message }) => {
      message.dataSet?.discard();
      stored.push(`general ${message.command.affectedSopInstanceUid}`);
      return of({ status: StoreStatus.OutOfResources });
    });
    const mine = channel.handle(CommandField.CStoreRq, CT, ({ message }) => {
      message.dataSet?.discard();
      stored.push(`get ${message.command.affectedSopInstanceUid}`);
      return of({ status: Status.Success });
    });
    const responses = await lastValueFrom(
      invoke(p.requestor, Requests.cGet({ affectedSopClassUid: STUDY_ROOT_GET }), { dataSet: identifier }).pipe(
        map((r) => [r.status.code, r.command.numberOfCompletedSuboperations]),
        toArray(),
      ),
    );
    mine.remove();
    general.remove();
    expect(stored).toEqual(['get 1.2.3.1', 'get 1.2.3.2']);
    expect(responses).toEqual([
      [0xff00, 1],
      [0xff00, 1],
      [0x0000, 2],
    ]);
    // Neither registered now: a C-STORE gets the table's "not supported".
    const after = await lastValueFrom(
      invoke(p.acceptor, Requests.cStore({ affectedSopClassUid: CT, affectedSopInstanceUid: '1.2.3.3' }), { dataSet: Buffer.alloc(8) }),
    );
    expect(after.status).toMatchObject({ code: 0x0122, meaning: 'failure: SOP class not supported' });
  });

  it('refuses, before anything is sent, an operation whose role was not negotiated', async () => {
    const p = await linked({ contexts: [{ abstractSyntax: CT, transferSyntaxes: [ILE] }] });
    const before = p.sentByAcceptor.length;
    const error = await firstValueFrom(
      invoke(p.acceptor, Requests.cStore({ affectedSopClassUid: CT, affectedSopInstanceUid: '1.2.3' }), { dataSet: Buffer.alloc(8) }),
    ).catch((e: Error) => e);
    expect(error).toBeInstanceOf(RoleNotNegotiatedError);
    expect((error as Error).message).toContain('cannot be sent by the association acceptor');
    expect(p.sentByAcceptor.length).toBe(before);
    // The requestor, SCU by default, may.
    const ok = await lastValueFrom(
      invoke(p.requestor, Requests.cStore({ affectedSopClassUid: CT, affectedSopInstanceUid: '1.2.3' }), { dataSet: Buffer.alloc(8) }),
    );
    expect(ok.status.code).toBe(0x0122);
  });
});

describe('the performing side', () => {
  it('pulls a handler of 1,000,000 pending responses one write at a time: a bounded number ahead, memory flat', async () => {
    const total = 1_000_000;
    let produced = 0;
    let received = 0;
    let mostAhead = 0;
    const heap: number[] = [];
    const p = await linked({
      contexts: [{ abstractSyntax: STUDY_ROOT_FIND, transferSyntaxes: [ILE] }],
      services: [
        {
          command: CommandField.CFindRq,
          sopClasses: '*',
          handler: () =>
            (async function* () {
              for (let i = 0; i < total; i++) {
                produced++;
                mostAhead = Math.max(mostAhead, produced - received);
                yield { status: Status.Pending };
              }
            })(),
        },
      ],
    });
    vi.useRealTimers();
    await new Promise<void>((resolve, reject) =>
      invoke(p.requestor, Requests.cFind({ affectedSopClassUid: STUDY_ROOT_FIND }), { dataSet: identifier }).subscribe({
        next: () => {
          received++;
          if (received % 200_000 === 0) {
            collect();
            heap.push(process.memoryUsage().heapUsed);
          }
        },
        error: reject,
        complete: resolve,
      }),
    );
    expect(received).toBe(total + 1);
    // What the link buffers (256 KiB of ~100-byte responses) plus a few: never the million.
    expect(mostAhead).toBeLessThan(4_000);
    const growth = (heap.at(-1)! - heap[0]!) / 2 ** 20;
    expect(growth).toBeLessThan(32);
  }, 120_000);

  it('answers a handler past its time limit with the command’s failure status, and the next request is served', async () => {
    const p = await linked({
      contexts: [
        { abstractSyntax: VERIFICATION, transferSyntaxes: [ILE] },
        { abstractSyntax: STORAGE_COMMITMENT, transferSyntaxes: [ILE] },
      ],
      services: [
        {
          command: CommandField.NActionRq,
          sopClasses: STORAGE_COMMITMENT,
          handler: () => timer(60_000).pipe(map(() => ({ status: Status.Success }))),
          options: { timeLimit: 5_000 },
        },
      ],
    });
    let answer: number | undefined;
    invoke(
      p.requestor,
      Requests.nAction({ requestedSopClassUid: STORAGE_COMMITMENT, requestedSopInstanceUid: '1.2.840.10008.1.20.1.1', actionTypeId: 1 }),
    ).subscribe((r) => (answer = r.status.code));
    await vi.advanceTimersByTimeAsync(4_999);
    expect(answer).toBeUndefined();
    await vi.advanceTimersByTimeAsync(1);
    expect(answer).toBe(0x0110);
    expect(p.sentByAcceptor.at(-1)).toMatchObject({ status: 0x0110, errorComment: 'Not performed within its time limit of 5000 ms' });
    expect((await firstValueFrom(invoke(p.requestor, Requests.cEcho()))).status.code).toBe(0);
  });

  it('answers a request that arrives before any user code runs on the requestor’s side (an N-EVENT-REPORT)', async () => {
    let answer: { code: number; meaning: string } | undefined;
    const p = await linked({
      contexts: [{ abstractSyntax: STORAGE_COMMITMENT, transferSyntaxes: [ILE] }],
      onAcceptor: (association) => {
        invoke(
          association,
          Requests.nEventReport({
            affectedSopClassUid: STORAGE_COMMITMENT,
            affectedSopInstanceUid: '1.2.840.10008.1.20.1.1',
            eventTypeId: 1,
          }),
          { dataSet: Buffer.alloc(8) },
        ).subscribe((r) => (answer = { code: r.status.code, meaning: r.status.meaning }));
      },
    });
    await settle(50);
    // Nobody on the requestor registered a storage commitment service: the table's answer for DIMSE-N.
    expect(answer).toEqual({ code: 0x0118, meaning: 'failure: no such SOP class' });
    expect(p.sentByRequestor.at(-1)).toMatchObject({ commandField: CommandField.NEventReportRsp, status: 0x0118 });
  });
});

describe('the command table at the edges', () => {
  it('refuses a handler for what is not a request', async () => {
    const p = await linked();
    expect(() => dimse(p.requestor).handle(CommandField.CEchoRsp, '*', () => timer(0).pipe(map(() => ({ status: 0 }))))).toThrow(
      RangeError,
    );
    expect(() => dimse(p.requestor).handle(CommandField.CCancelRq, '*', () => timer(0).pipe(map(() => ({ status: 0 }))))).toThrow(
      RangeError,
    );
  });

  it('serves the latest registration of a SOP class, then the earlier one once it is removed', async () => {
    const p = await linked({ contexts: [{ abstractSyntax: MR, transferSyntaxes: [ILE] }] });
    const channel = dimse(p.acceptor);
    const answer = (status: number) => () => of({ status });
    channel.handle(CommandField.CStoreRq, '*', answer(0xb000));
    const specific = channel.handle(CommandField.CStoreRq, [CT, MR], answer(0));
    const send = async () =>
      (
        await lastValueFrom(
          invoke(p.requestor, Requests.cStore({ affectedSopClassUid: MR, affectedSopInstanceUid: '1.2.9' }), { dataSet: Buffer.alloc(8) }),
        )
      ).status;
    expect((await send()).code).toBe(0);
    specific.remove();
    expect(await send()).toMatchObject({ code: 0xb000, meaning: 'warning: coercion of data elements' });
  });
});
