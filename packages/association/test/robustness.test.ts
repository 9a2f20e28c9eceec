/**
 * What a server and a requestor do with input that must not take them down: A-ASSOCIATE-RQs
 * that the codec refuses, acceptance policies that throw, fail, never answer or answer late,
 * options that cannot be sent, and connections that break with an error.
 */
import { createServer, type Socket } from 'node:net';
import { type AcceptorPolicy, AssociationAbortedError, AssociationTimeoutError, ConnectionError, serve } from '@dimse-rx/association';
import { encodePdu } from '@dimse-rx/pdu';
import fc from 'fast-check';
import { EMPTY, lastValueFrom, map, mergeMap, NEVER, throwError, timer } from 'rxjs';
import { afterEach, describe, expect, it } from 'vitest';
import {
  acceptAll,
  associateRq,
  baseRequest,
  Cleanup,
  expectRejected,
  IMPLICIT_LE,
  LOCALHOST,
  rawConnect,
  rawServer,
  request,
  startServer,
  VERIFICATION,
  within,
} from './support.js';

const cleanup = new Cleanup();
afterEach(() => cleanup.run());

const policy = { abstractSyntaxes: { [VERIFICATION]: [IMPLICIT_LE] } };

/** The A-ASSOCIATE-RQ bytes with the called AE title field (bytes 10-25) replaced. */
function rqWithCalledTitle(title: Buffer): Buffer {
  const bytes = Buffer.from(encodePdu(associateRq()));
  title.copy(bytes, 10);
  return bytes;
}

async function expectStillServing(port: number): Promise<void> {
  const requested = request(baseRequest(port), cleanup);
  await lastValueFrom((await requested.association).release(), { defaultValue: undefined });
  expect(await requested.end).toBeUndefined();
}

describe('A-ASSOCIATE-RQs the codec refuses', () => {
  it.each([
    ['not ASCII', Buffer.from('\u00c4CP             ', 'latin1')],
    ['a control character', Buffer.from('S\u0001P             ', 'latin1')],
    ['a backslash', Buffer.from('A\\B             ', 'latin1')],
    ['only spaces', Buffer.alloc(16, 0x20)],
  ])('answers a called AE title that is %s with A-ABORT as Sta2 + Evt19 says (AA-1), and keeps serving', async (_what, title) => {
    // After the abort, ARTIM closes the connection if the peer does not (Sta13).
    const server = await startServer({ ...policy, timeouts: { artim: 300 } }, cleanup);
    const raw = await rawConnect(server.port, cleanup);
    raw.sendBytes(rqWithCalledTitle(title));
    // PS3.8 Table 9-10: an invalid PDU in Sta2 is AA-1, A-ABORT with the service-user source.
    expect(await raw.expect('Abort')).toEqual({ type: 'Abort', source: 0, reason: 0 });
    await within(raw.closed, 2_000, 'close');
    expect(server.associations).toHaveLength(0);
    await expectStillServing(server.port);
    expect(server.errors).toEqual([]);
  });
});

describe('acceptance policies', () => {
  const cases: [string, NonNullable<AcceptorPolicy['userIdentity']>][] = [
    [
      'throws',
      () => {
        throw new Error('directory down');
      },
    ],
    ['errors', () => timer(10).pipe(mergeMap(() => throwError(() => new Error('directory down'))))],
    ['completes without an answer', () => EMPTY],
  ];
  it.each(cases)('rejects (2, 1, 1) when the identity check %s, and keeps serving', async (_what, userIdentity) => {
    const server = await startServer({ ...policy, userIdentity }, cleanup);
    const requested = request(baseRequest(server.port), cleanup);
    await expectRejected(requested.end, 2, 1, 1);
    expect(server.associations).toHaveLength(0);
    expect(server.errors).toEqual([]);
  });

  it('rejects (2, 1, 1) when an abstract syntax policy throws', async () => {
    const server = await startServer(
      {
        abstractSyntaxes: () => {
          throw new Error('bad configuration');
        },
      },
      cleanup,
    );
    const requested = request(baseRequest(server.port), cleanup);
    await expectRejected(requested.end, 2, 1, 1);
    expect(server.errors).toEqual([]);
  });

  it('rejects (2, 1, 1) once the ACSE timeout passes when the identity check never answers', async () => {
    const server = await startServer({ ...policy, userIdentity: () => NEVER, timeouts: { acse: 300 } }, cleanup);
    const started = performance.now();
    const requested = request(baseRequest(server.port), cleanup);
    await expectRejected(requested.end, 2, 1, 1);
    const elapsed = performance.now() - started;
    expect(elapsed).toBeGreaterThanOrEqual(250);
    expect(elapsed).toBeLessThan(2_000);
  });

  it('aborts, and keeps serving, when the answer it built cannot be encoded (a server response over 65535 bytes)', async () => {
    const server = await startServer(
      { ...policy, userIdentity: () => ({ accept: true, serverResponse: new Uint8Array(70_000) }) },
      cleanup,
    );
    const requested = request(
      baseRequest(server.port, { userIdentity: { identityType: 1, positiveResponseRequested: true, primaryField: 'bob' } }),
      cleanup,
    );
    const error = await within(requested.end, 3_000, 'associate() end');
    expect(error).toBeInstanceOf(AssociationAbortedError);
    expect(server.errors).toEqual([]);
    await expectStillServing(server.port);
  });

  it('counts requests still being decided against maxAssociations', async () => {
    // Each identity check takes 200 ms: both requests are being decided at once.
    const server = await startServer({ ...policy, maxAssociations: 1, userIdentity: () => timer(200).pipe(map(() => true)) }, cleanup);
    const first = request(baseRequest(server.port), cleanup);
    const second = request(baseRequest(server.port), cleanup);
    await expectRejected(second.end, 2, 3, 2);
    await lastValueFrom((await first.association).release(), { defaultValue: undefined });
    expect(server.associations).toHaveLength(1);
  });
});

describe('options that cannot be sent', () => {
  it.each([
    ['maxPduLength -1', { maxPduLength: -1 }, /maxPduLength/],
    ['maxPduLength 1.5', { maxPduLength: 1.5 }, /maxPduLength/],
    ['a UID that is not ASCII', { presentationContexts: [{ abstractSyntax: '1.2.\u00e9', transferSyntaxes: [IMPLICIT_LE] }] }, /ASCII/],
  ])('errors with a RangeError for %s, before connecting', async (_what, overrides, message) => {
    let connections = 0;
    const server = createServer((socket) => {
      connections++;
      socket.destroy();
    });
    await new Promise<void>((resolve) => server.listen(0, LOCALHOST, resolve));
    cleanup.add(() => new Promise((resolve) => server.close(resolve)));
    const address = server.address();
    const port = typeof address === 'object' && address ? address.port : 0;
    const requested = request(baseRequest(port, overrides), cleanup);
    const error = await within(requested.end, 2_000, 'associate() end');
    expect(error).toBeInstanceOf(RangeError);
    expect(error?.message).toMatch(message);
    expect(connections).toBe(0);
  });

  it('errors serve() with a RangeError for a maxPduLength that cannot be sent, without listening', () => {
    let error: unknown;
    let listened = false;
    serve({ ...policy, port: 0, maxPduLength: 2 ** 32, onListening: () => (listened = true) }).subscribe({
      error: (e: unknown) => (error = e),
    });
    expect(error).toBeInstanceOf(RangeError);
    expect((error as Error).message).toMatch(/maxPduLength: 4294967296/);
    expect(listened).toBe(false);
  });
});

describe('a connection that breaks', () => {
  it('ends an established association with ConnectionError when the peer resets the connection', async () => {
    const sockets: Socket[] = [];
    const server = createServer((socket) => {
      sockets.push(socket);
      socket.once('data', (bytes) => {
        // Accept whatever was proposed, then reset the connection.
        const rq = associateRq();
        expect(bytes[0]).toBe(0x01);
        socket.write(
          encodePdu({
            type: 'AssociateAc',
            protocolVersion: 1,
            calledAeTitle: 'TEST_SCP',
            callingAeTitle: 'TEST_SCU',
            applicationContextName: rq.applicationContextName,
            presentationContexts: [{ id: 1, result: 0, transferSyntax: IMPLICIT_LE }],
            userInformation: [{ type: 'MaximumLength', maximumLength: 16384 }],
          }),
          () => setTimeout(() => socket.resetAndDestroy(), 50),
        );
      });
    });
    await new Promise<void>((resolve) => server.listen(0, LOCALHOST, resolve));
    cleanup.add(() => new Promise((resolve) => server.close(resolve)));
    cleanup.add(() => {
      for (const s of sockets) s.destroy();
    });
    const address = server.address();
    const port = typeof address === 'object' && address ? address.port : 0;
    const requested = request(baseRequest(port), cleanup);
    const association = await requested.association;
    expect(association.state).toBe('Sta6');
    const error = await within(requested.end, 2_000, 'associate() end');
    expect(error).toBeInstanceOf(ConnectionError);
    expect(error?.message).toMatch(/ECONNRESET|reset/i);
  });
});

describe('a peer that aborts while we send (issue 8, defect 11)', () => {
  /** A raw acceptor that takes `bytes` of P-DATA, then sends `last` (an A-ABORT, or nothing) and drops the connection. */
  async function abortingPeer(last: Buffer | undefined, bytes: number): Promise<number> {
    const raw = await rawServer(cleanup);
    void raw.peer().then(async (peer) => {
      const rq = await peer.expect('AssociateRq');
      peer.send(acceptAll(rq));
      let received = 0;
      peer.socket.on('data', (chunk: Buffer) => {
        received += chunk.length;
        if (received < bytes || peer.socket.destroyed) return;
        if (last) peer.socket.write(last);
        peer.socket.destroy();
      });
    });
    return raw.port;
  }

  async function sendUntilEnd(port: number): Promise<Error | undefined> {
    const requested = request(baseRequest(port), cleanup);
    const association = await requested.association;
    // Reading held, as while a handler is slow: the peer's A-ABORT waits in the socket, unread.
    association.hold();
    const value = new Uint8Array(16_000);
    const pdu = { type: 'PDataTf' as const, pdvs: [{ presentationContextId: 1, command: false, last: false, value }] };
    for (let i = 0; i < 400 && association.state === 'Sta6'; i++) {
      await lastValueFrom(association.send(pdu), { defaultValue: undefined }).catch(() => undefined);
    }
    return within(requested.end, 3_000, 'associate() end');
  }

  it('reports the A-ABORT the peer sent before it closed, not the write that found the connection closed', async () => {
    const port = await abortingPeer(Buffer.from(encodePdu({ type: 'Abort', source: 2, reason: 0 })), 200_000);
    const error = await sendUntilEnd(port);
    expect(error).toBeInstanceOf(AssociationAbortedError);
    expect(error).toMatchObject({ source: 2, reason: 0 });
  });

  it('reports a connection dropped without A-ABORT in words, with the errno as its code', async () => {
    const port = await abortingPeer(undefined, 200_000);
    const error = await sendUntilEnd(port);
    expect(error).toBeInstanceOf(ConnectionError);
    const { code, message } = error as ConnectionError;
    expect(['EPIPE', 'ECONNRESET']).toContain(code);
    expect(message).toMatch(
      /^Connection to 127\.0\.0\.1:\d+ (closed by the peer while sending \(EPIPE\)|reset by the peer \(ECONNRESET\))$/,
    );
  });
});

describe('more of PS3.8 on real sockets', () => {
  it('rejects (1, 1, 2) an A-ASSOCIATE-RQ whose application context is not DICOM', async () => {
    const server = await startServer(policy, cleanup);
    const raw = await rawConnect(server.port, cleanup);
    raw.send(associateRq({ applicationContextName: '1.2.3.4' }));
    expect(await raw.expect('AssociateRj')).toEqual({ type: 'AssociateRj', result: 1, source: 1, reason: 2 });
    expect(server.associations).toHaveLength(0);
  });

  it('rejects (1, 2, 2) an A-ASSOCIATE-RQ without protocol version 1 (AE-6)', async () => {
    const server = await startServer(policy, cleanup);
    const raw = await rawConnect(server.port, cleanup);
    raw.send(associateRq({ protocolVersion: 2 }));
    expect(await raw.expect('AssociateRj')).toEqual({ type: 'AssociateRj', result: 1, source: 2, reason: 2 });
    await expectStillServing(server.port);
  });

  it('a refused connection (Sta4) errors with ConnectionError ECONNREFUSED', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, LOCALHOST, resolve));
    const address = closed.address();
    const port = typeof address === 'object' && address ? address.port : 0;
    await new Promise((resolve) => closed.close(resolve));
    const requested = request(baseRequest(port), cleanup);
    const error = await within(requested.end, 2_000, 'associate() end');
    expect(error).toBeInstanceOf(ConnectionError);
    expect((error as ConnectionError).code).toBe('ECONNREFUSED');
  });

  it('ACSE: no A-RELEASE-RP (Sta7) fails the release with AssociationTimeoutError (acse) after an A-ABORT', async () => {
    const peer = await rawServer(cleanup);
    const requested = request(baseRequest(peer.port, { timeouts: { acse: 250, artim: 200 } }), cleanup);
    const raw = await peer.peer();
    raw.send(acceptAll(await raw.expect('AssociateRq')));
    const requestor = await requested.association;
    const started = performance.now();
    const releasing = lastValueFrom(requestor.release(), { defaultValue: undefined }).then(
      () => undefined,
      (e: unknown) => e,
    );
    await raw.expect('ReleaseRq');
    // Never answered: A-ABORT once the ACSE timer runs out.
    expect(await raw.expect('Abort', 1_500)).toEqual({ type: 'Abort', source: 0, reason: 0 });
    expect(performance.now() - started).toBeGreaterThanOrEqual(230);
    const error = await within(releasing, 2_000, 'release');
    expect(error).toBeInstanceOf(AssociationTimeoutError);
    expect(error).toMatchObject({ timer: 'acse', milliseconds: 250 });
    await within(raw.closed, 1_500, 'close');
  });

  it('the acceptor releasing (Sta7) while the peer closes instead of answering finishes with AssociationAbortedError', async () => {
    const server = await startServer(policy, cleanup);
    const raw = await rawConnect(server.port, cleanup);
    raw.send(associateRq());
    await raw.expect('AssociateAc');
    const acceptor = await server.association();
    const releasing = lastValueFrom(acceptor.release(), { defaultValue: undefined }).then(
      () => undefined,
      (e: unknown) => e,
    );
    await raw.expect('ReleaseRq');
    expect(acceptor.state).toBe('Sta7');
    raw.destroy();
    const error = await within(releasing, 2_000, 'release');
    expect(error).toBeInstanceOf(AssociationAbortedError);
    expect((error as Error).message).toMatch(/closed in Sta7/);
    await expectStillServing(server.port);
  });

  it('after a rejection the requestor closes the connection itself (AE-4), whatever the peer does', async () => {
    const peer = await rawServer(cleanup);
    const requested = request(baseRequest(peer.port), cleanup);
    const raw = await peer.peer();
    await raw.expect('AssociateRq');
    raw.send({ type: 'AssociateRj', result: 2, source: 3, reason: 1 });
    await expectRejected(requested.end, 2, 3, 1);
    // The raw peer never closes: our side does.
    await within(raw.closed, 1_500, 'close');
  });
});

describe('fuzzed PDUs against serve()', () => {
  it('survives 150 connections sending mutated PDUs, before and after association, and goes on serving', async () => {
    const server = await startServer({ ...policy, timeouts: { artim: 200 } }, cleanup);
    const rq = Buffer.from(encodePdu(associateRq()));
    const samples = [
      rq,
      Buffer.from(
        encodePdu({ type: 'PDataTf', pdvs: [{ presentationContextId: 1, command: true, last: true, value: Buffer.alloc(40, 3) }] }),
      ),
      Buffer.from(encodePdu({ type: 'ReleaseRq' })),
      Buffer.from(encodePdu({ type: 'Abort', source: 0, reason: 0 })),
    ];
    const cases = fc.sample(
      fc.record({
        associateFirst: fc.boolean(),
        which: fc.nat({ max: samples.length - 1 }),
        flips: fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 5 }),
        cut: fc.nat(),
      }),
      { numRuns: 150, seed: 77 },
    );
    let closed = 0;
    for (const c of cases) {
      const raw = await rawConnect(server.port, cleanup);
      if (c.associateFirst) {
        raw.sendBytes(rq);
        await raw.expect('AssociateAc');
      }
      const bytes = Buffer.from(samples[c.which]!);
      for (const [at, value] of c.flips) bytes[at % bytes.length] = value;
      raw.sendBytes(c.cut % 4 === 0 ? bytes.subarray(0, c.cut % bytes.length) : bytes);
      // Whatever the server makes of it, the test lets go after a short while.
      await Promise.race([raw.closed, new Promise((resolve) => setTimeout(resolve, 30))]);
      if (raw.closedAt !== undefined) closed++;
      raw.destroy();
    }
    expect(closed).toBeGreaterThan(0);
    expect(server.errors).toEqual([]);
    await expectStillServing(server.port);
  }, 60_000);
});
