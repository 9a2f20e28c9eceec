/**
 * The asynchronous operations window on the performing side (issue 8, defect 8): never more of
 * the peer's operations at once than negotiated (1 unless negotiated), and a peer that sends
 * requests without reading the answers finds them unread in the socket, not piled up in memory.
 */
import { type Association, type ServeOptions, serve } from '@dimse-rx/association';
import { CommandField, decodeCommand, dimse, echo, encodeCommand, NO_DATA_SET, Status } from '@dimse-rx/dimse';
import { encodePdu, type Pdu } from '@dimse-rx/pdu';
import { finalize, firstValueFrom, lastValueFrom, of, ReplaySubject, type Subscription, timer } from 'rxjs';
import { map } from 'rxjs/operators';
import { afterEach, describe, expect, it } from 'vitest';
import {
  acceptAll,
  associateRq,
  baseRequest,
  Cleanup,
  rawConnect,
  rawServer,
  request,
  VERIFICATION,
  wait,
} from '../../association/test/support.js';

const cleanup = new Cleanup();
const subscriptions: Subscription[] = [];
afterEach(async () => {
  for (const s of subscriptions.splice(0)) s.unsubscribe();
  await cleanup.run();
});

/** A server whose C-ECHO handler takes `delayMs` and records how many run at once. */
async function echoServer(options: Partial<ServeOptions>, delayMs: number) {
  const port = new ReplaySubject<number>(1);
  const stats = { started: 0, running: 0, most: 0 };
  const associations: Association[] = [];
  subscriptions.push(
    serve({
      abstractSyntaxes: { [VERIFICATION]: ['1.2.840.10008.1.2'] },
      onListening: (l) => port.next(l.port),
      ...options,
    }).subscribe((association) => {
      associations.push(association);
      dimse(association).handle(CommandField.CEchoRq, VERIFICATION, () => {
        stats.started++;
        stats.running++;
        stats.most = Math.max(stats.most, stats.running);
        return (delayMs > 0 ? timer(delayMs) : of(0)).pipe(
          map(() => ({ status: Status.Success })),
          finalize(() => stats.running--),
        );
      });
    }),
  );
  return { port: await firstValueFrom(port), stats, associations };
}

/** One C-ECHO-RQ in one P-DATA-TF, as bytes. */
function echoRq(messageId: number): Uint8Array {
  const command = encodeCommand({
    commandField: CommandField.CEchoRq,
    messageId,
    affectedSopClassUid: VERIFICATION,
    commandDataSetType: NO_DATA_SET,
  });
  return encodePdu({ type: 'PDataTf', pdvs: [{ presentationContextId: 1, command: true, last: true, value: command }] });
}

/** The Message IDs Being Responded To of the C-ECHO-RSPs among `pdus`, with their statuses. */
function echoResponses(pdus: readonly Pdu[]): { id: number; status: number }[] {
  return pdus
    .filter((p): p is Extract<Pdu, { type: 'PDataTf' }> => p.type === 'PDataTf')
    .map((p) => decodeCommand(p.pdvs[0]!.value))
    .map((c) => ({ id: c.messageIdBeingRespondedTo!, status: c.status! }));
}

async function settled(read: () => number, quietMs = 400, maxMs = 20_000): Promise<number> {
  const deadline = performance.now() + maxMs;
  let last = read();
  for (;;) {
    await wait(quietMs);
    const now = read();
    if (now === last || performance.now() > deadline) return now;
    last = now;
  }
}

describe('the asynchronous operations window, performing side', () => {
  it('performs one request at a time when no window was negotiated, answering all in order', async () => {
    const server = await echoServer({}, 20);
    const raw = await rawConnect(server.port, cleanup);
    raw.send(associateRq());
    const ac = await raw.expect('AssociateAc');
    expect(ac.userInformation.find((u) => u.type === 'AsynchronousOperationsWindow')).toBeUndefined();
    // Ten requests at once: a peer that ignores the window of 1.
    for (let id = 1; id <= 10; id++) raw.sendBytes(echoRq(id));
    const responses = [];
    for (let i = 0; i < 10; i++) responses.push(await raw.expect('PDataTf', 3_000));
    expect(echoResponses(responses)).toEqual(Array.from({ length: 10 }, (_, i) => ({ id: i + 1, status: 0 })));
    expect(server.stats.most).toBe(1);
  });

  it('performs up to the negotiated window at once, and no more', async () => {
    const server = await echoServer({ asynchronousOperationsWindow: { maxOperationsInvoked: 1, maxOperationsPerformed: 8 } }, 50);
    const raw = await rawConnect(server.port, cleanup);
    raw.send(
      associateRq({
        userInformation: [
          { type: 'MaximumLength', maximumLength: 16384 },
          { type: 'ImplementationClassUid', uid: '1.2.3.4.5' },
          { type: 'AsynchronousOperationsWindow', maxOperationsInvoked: 3, maxOperationsPerformed: 1 },
        ],
      }),
    );
    const ac = await raw.expect('AssociateAc');
    expect(ac.userInformation.find((u) => u.type === 'AsynchronousOperationsWindow')).toEqual({
      type: 'AsynchronousOperationsWindow',
      maxOperationsInvoked: 3,
      maxOperationsPerformed: 1,
    });
    for (let id = 1; id <= 12; id++) raw.sendBytes(echoRq(id));
    const responses = [];
    for (let i = 0; i < 12; i++) responses.push(await raw.expect('PDataTf', 3_000));
    expect(echoResponses(responses).map((r) => r.id)).toEqual(Array.from({ length: 12 }, (_, i) => i + 1));
    expect(server.stats.most).toBe(3);
  });

  it('leaves the requests of a peer that does not read its answers unread in the socket, and answers them all once it reads', async () => {
    const server = await echoServer({}, 0);
    const raw = await rawConnect(server.port, cleanup);
    raw.send(associateRq());
    await raw.expect('AssociateAc');
    raw.socket.pause();
    const total = 200_000;
    const batch: Uint8Array[] = [];
    for (let i = 0; i < total; i++) {
      batch.push(echoRq((i % 0xffff) + 1));
      if (batch.length === 1000) raw.sendBytes(Buffer.concat(batch.splice(0)));
    }
    // The server performs what fits in the sockets' buffers, then stops reading.
    const performedWhileUnread = await settled(() => server.stats.started);
    expect(performedWhileUnread).toBeGreaterThan(0);
    expect(performedWhileUnread).toBeLessThan(total / 2);
    // The requests not performed are in the sockets, not in the server's memory: the client
    // still holds most of its bytes unsent.
    expect(raw.socket.writableLength).toBeGreaterThan(0);
    raw.socket.resume();
    const all = await settled(() => server.stats.started, 400, 60_000);
    expect(all).toBe(total);
    await settled(() => raw.received.length);
    const responses = echoResponses(raw.received);
    expect(responses).toHaveLength(total);
    expect(responses.every((r, i) => r.id === (i % 0xffff) + 1 && r.status === 0)).toBe(true);
  }, 90_000);
});

describe('the asynchronous operations window, invoking side', () => {
  /** A C-ECHO-RSP to the C-ECHO-RQ in `pdu`. */
  const answer = (pdu: Pdu) => {
    const rq = decodeCommand((pdu as Extract<Pdu, { type: 'PDataTf' }>).pdvs[0]!.value);
    const rsp = encodeCommand({
      commandField: CommandField.CEchoRsp,
      messageIdBeingRespondedTo: rq.messageId!,
      affectedSopClassUid: VERIFICATION,
      commandDataSetType: NO_DATA_SET,
      status: 0,
    });
    return { type: 'PDataTf' as const, pdvs: [{ presentationContextId: 1, command: true, last: true, value: rsp }] };
  };

  it.each([
    ['none negotiated: one at a time', undefined, 1],
    ['a window of 2 negotiated: two at a time', 2, 2],
  ] as const)('%s, the others waiting their turn in order', async (_name, window, atOnce) => {
    const peer = await rawServer(cleanup);
    const requested = request(
      baseRequest(peer.port, window ? { asynchronousOperationsWindow: { maxOperationsInvoked: 3, maxOperationsPerformed: 1 } } : {}),
      cleanup,
    );
    const raw = await peer.peer();
    const rq = await raw.expect('AssociateRq');
    const ac = acceptAll(rq);
    raw.send(
      window
        ? {
            ...ac,
            userInformation: [
              ...ac.userInformation,
              { type: 'AsynchronousOperationsWindow', maxOperationsInvoked: window, maxOperationsPerformed: 1 },
            ],
          }
        : ac,
    );
    const association = await requested.association;
    expect(association.negotiation.asynchronousOperationsWindow.maxOperationsInvoked).toBe(atOnce);
    // Four C-ECHOs at once.
    const results = Promise.all([1, 2, 3, 4].map(() => lastValueFrom(echo(association))));
    const ids: number[] = [];
    for (let answered = 0; answered < 4; ) {
      // What the peer gets before it answers: never more than the window.
      await wait(150);
      const waiting = raw.received.filter((p) => p.type === 'PDataTf').slice(ids.length);
      expect(waiting.length).toBe(Math.min(atOnce, 4 - answered));
      for (const pdu of waiting) {
        ids.push(decodeCommand((pdu as Extract<Pdu, { type: 'PDataTf' }>).pdvs[0]!.value).messageId!);
        raw.send(answer(pdu));
        answered++;
      }
    }
    expect((await results).map((s) => s.code)).toEqual([0, 0, 0, 0]);
    // Sent in the order asked.
    expect(ids).toEqual([...ids].sort((a, b) => a - b));
    expect(new Set(ids).size).toBe(4);
  });
});

describe('a handler that gives its responses as an async iterable', () => {
  /** A server whose C-ECHO handler is `handler` (pending responses are the channel's business, not C-ECHO's). */
  async function server(handler: () => AsyncIterable<{ status: number }>) {
    const port = new ReplaySubject<number>(1);
    subscriptions.push(
      serve({ abstractSyntaxes: { [VERIFICATION]: ['1.2.840.10008.1.2'] }, onListening: (l) => port.next(l.port) }).subscribe(
        (association) => {
          dimse(association).handle(CommandField.CEchoRq, VERIFICATION, handler);
        },
      ),
    );
    return firstValueFrom(port);
  }

  it('is pulled as its responses are written: a peer that does not read holds it, and gets every response once it reads', async () => {
    // More than the sockets' buffers on 127.0.0.1 hold (about 70,000 of these responses).
    const total = 250_000;
    let pulled = 0;
    const port = await server(async function* () {
      for (let i = 0; i < total; i++) {
        pulled++;
        yield { status: Status.Pending };
      }
      yield { status: Status.Success };
    });
    const raw = await rawConnect(port, cleanup);
    raw.send(associateRq());
    await raw.expect('AssociateAc');
    raw.socket.pause();
    raw.sendBytes(echoRq(7));
    // Taken only as fast as the socket takes them: what the kernel's buffers hold, no more.
    const whileUnread = await settled(() => pulled);
    expect(whileUnread).toBeGreaterThan(0);
    expect(whileUnread).toBeLessThan(total / 2);
    raw.socket.resume();
    await settled(() => raw.received.length, 400, 60_000);
    const responses = echoResponses(raw.received);
    expect(responses).toHaveLength(total + 1);
    expect(responses.slice(0, total).every((r) => r.id === 7 && r.status === Status.Pending)).toBe(true);
    expect(responses.at(-1)).toEqual({ id: 7, status: Status.Success });
  }, 90_000);

  it('is stopped by a C-CANCEL (its finally runs) and answered Cancel', async () => {
    let stopped = false;
    const port = await server(async function* () {
      try {
        for (;;) {
          await wait(5);
          yield { status: Status.Pending };
        }
      } finally {
        stopped = true;
      }
    });
    const raw = await rawConnect(port, cleanup);
    raw.send(associateRq());
    await raw.expect('AssociateAc');
    raw.sendBytes(echoRq(9));
    await wait(100);
    const cancel = encodeCommand({ commandField: CommandField.CCancelRq, messageIdBeingRespondedTo: 9, commandDataSetType: NO_DATA_SET });
    raw.send({ type: 'PDataTf', pdvs: [{ presentationContextId: 1, command: true, last: true, value: cancel }] });
    const deadline = performance.now() + 3_000;
    while (!echoResponses(raw.received).some((r) => r.status === Status.Cancel) && performance.now() < deadline) await wait(10);
    const responses = echoResponses(raw.received);
    expect(responses.at(-1)).toEqual({ id: 9, status: Status.Cancel });
    expect(responses.slice(0, -1).every((r) => r.status === Status.Pending)).toBe(true);
    expect(responses.length).toBeGreaterThan(3);
    expect(stopped).toBe(true);
  });
});
