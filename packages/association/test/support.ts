/**
 * Helpers for the tests over real sockets on 127.0.0.1: a started serve(), a subscribed
 * associate(), and raw peers (a client or a server written with node:net) that send PDUs built
 * with encodePdu and read what our side writes with a PduFramer.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer, connect as netConnect, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import {
  type AssociateOptions,
  type Association,
  AssociationRejectedError,
  associate,
  type Listening,
  type ServeOptions,
  serve,
} from '@dimse-rx/association';
import { type AssociateAc, type AssociateRq, DICOM_APPLICATION_CONTEXT_NAME, encodePdu, type Pdu, PduFramer } from '@dimse-rx/pdu';
import { firstValueFrom, ReplaySubject, skip, timeout } from 'rxjs';
import { expect } from 'vitest';

export const VERIFICATION = '1.2.840.10008.1.1';
export const CT_IMAGE_STORAGE = '1.2.840.10008.5.1.4.1.1.2';
export const MR_IMAGE_STORAGE = '1.2.840.10008.5.1.4.1.1.4';
export const UNKNOWN_SOP_CLASS = '1.2.3.4.5.6.7.8.9';
export const IMPLICIT_LE = '1.2.840.10008.1.2';
export const EXPLICIT_LE = '1.2.840.10008.1.2.1';
export const JPEG_BASELINE = '1.2.840.10008.1.2.4.50';

export const LOCALHOST = '127.0.0.1';

export const wait = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Rejects when `promise` has not settled within `ms`, naming what was awaited. */
export function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const expiry = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: nothing within ${ms} ms`)), ms);
  });
  return Promise.race([promise, expiry]).finally(() => clearTimeout(timer));
}

/** What a test must undo, run last-in first-out after it (servers stopped, sockets destroyed). */
export class Cleanup {
  readonly #tasks: (() => unknown)[] = [];

  add(task: () => unknown): void {
    this.#tasks.push(task);
  }

  async run(): Promise<void> {
    for (const task of this.#tasks.splice(0).reverse()) {
      try {
        await task();
      } catch {
        // Cleaning up what already ended.
      }
    }
  }
}

/** A serve() subscribed for one test. */
export interface Served {
  readonly port: number;
  /** Every association emitted so far, in order. */
  readonly associations: Association[];
  /** Errors of the serve() Observable (none expected). */
  readonly errors: unknown[];
  /** The association emitted at `index` (0 is the first), waiting for it if need be. */
  association(index?: number, ms?: number): Promise<Association>;
  stop(): void;
}

export async function startServer(options: ServeOptions, cleanup: Cleanup): Promise<Served> {
  const listening = new ReplaySubject<Listening>(1);
  const emitted = new ReplaySubject<Association>();
  const associations: Association[] = [];
  const errors: unknown[] = [];
  const subscription = serve({ ...options, port: 0, onListening: (l) => listening.next(l) }).subscribe({
    next: (association) => {
      associations.push(association);
      emitted.next(association);
    },
    error: (error: unknown) => errors.push(error),
  });
  cleanup.add(() => subscription.unsubscribe());
  const { port } = await firstValueFrom(listening.pipe(timeout(2_000)));
  return {
    port,
    associations,
    errors,
    association: (index = 0, ms = 2_000) => firstValueFrom(emitted.pipe(skip(index), timeout(ms))),
    stop: () => subscription.unsubscribe(),
  };
}

/** An associate() subscribed for one test. */
export interface Requested {
  /** The accepted association; rejects when associate() errors first. */
  readonly association: Promise<Association>;
  /** How associate() ended: undefined when it completed, else its error. */
  readonly end: Promise<Error | undefined>;
  /** Unsubscribes: releases the association, or aborts one being negotiated. */
  unsubscribe(): void;
}

export function baseRequest(port: number, overrides: Partial<AssociateOptions> = {}): AssociateOptions {
  return {
    host: LOCALHOST,
    port,
    callingAeTitle: 'TEST_SCU',
    calledAeTitle: 'TEST_SCP',
    presentationContexts: [{ abstractSyntax: VERIFICATION, transferSyntaxes: [IMPLICIT_LE] }],
    ...overrides,
  };
}

export function request(options: AssociateOptions, cleanup: Cleanup): Requested {
  let accept!: (association: Association) => void;
  let refuse!: (error: unknown) => void;
  const association = new Promise<Association>((resolve, reject) => {
    accept = resolve;
    refuse = reject;
  });
  // Tests that expect an error do not await the association: keep Node quiet about it.
  association.catch(() => undefined);
  let finish!: (error: Error | undefined) => void;
  const end = new Promise<Error | undefined>((resolve) => {
    finish = resolve;
  });
  const subscription = associate(options).subscribe({
    next: (a) => accept(a),
    error: (error: unknown) => {
      const e = error instanceof Error ? error : new Error(String(error));
      refuse(e);
      finish(e);
    },
    complete: () => {
      refuse(new Error('associate() completed without an association'));
      finish(undefined);
    },
  });
  cleanup.add(() => subscription.unsubscribe());
  return { association, end, unsubscribe: () => subscription.unsubscribe() };
}

/** associate() ended with AssociationRejectedError carrying the standard's result, source and reason. */
export async function expectRejected(end: Promise<Error | undefined>, result: number, source: number, reason: number): Promise<void> {
  const error = await within(end, 3_000, 'associate() end');
  expect(error).toBeInstanceOf(AssociationRejectedError);
  expect(error).toMatchObject({ result, source, reason });
}

/** The first value `finished` emits: undefined after a release, else the error. */
export const finishedOf = (association: Association, ms = 3_000): Promise<Error | undefined> =>
  firstValueFrom(association.finished.pipe(timeout(ms)));

/** A peer written by hand on a node:net socket: it sends PDUs or bytes, and records the PDUs it receives. */
export class RawPeer {
  readonly socket: Socket;
  /** Every PDU received, in order. */
  readonly received: Pdu[] = [];
  /** Resolves when the socket is closed (by either side). */
  readonly closed: Promise<void>;
  /** Time at which the socket closed, from performance.now(). */
  closedAt: number | undefined;
  /** Whether the peer (our side) ended its half of the connection. */
  ended = false;
  /** Bytes received that are not PDUs (a TLS ClientHello, say): the framer's error. */
  garbage: Error | undefined;
  readonly #framer = new PduFramer({ maxPduLength: 0 });
  #read = 0;
  #waiters: (() => void)[] = [];

  constructor(socket: Socket) {
    this.socket = socket;
    socket.on('data', (chunk: Buffer) => {
      if (this.garbage) return;
      try {
        this.received.push(...this.#framer.push(chunk));
      } catch (error) {
        this.garbage = error as Error;
      }
      for (const w of this.#waiters.splice(0)) w();
    });
    socket.on('end', () => {
      this.ended = true;
    });
    // Resets are expected when a side destroys its socket.
    socket.on('error', () => undefined);
    this.closed = new Promise((resolve) =>
      socket.once('close', () => {
        this.closedAt = performance.now();
        resolve();
        for (const w of this.#waiters.splice(0)) w();
      }),
    );
  }

  send(pdu: Pdu): void {
    this.socket.write(encodePdu(pdu));
  }

  sendBytes(bytes: Uint8Array): void {
    this.socket.write(bytes);
  }

  /** The next PDU not yet taken; rejects after `ms`, or when the socket closes without one. */
  async next(ms = 2_000): Promise<Pdu> {
    const deadline = performance.now() + ms;
    for (;;) {
      const pdu = this.received[this.#read];
      if (pdu) {
        this.#read++;
        return pdu;
      }
      if (this.closedAt !== undefined) throw new Error(`Socket closed; PDUs received: ${this.received.map((p) => p.type).join(', ')}`);
      const left = deadline - performance.now();
      if (left <= 0) throw new Error(`No PDU within ${ms} ms; PDUs received: ${this.received.map((p) => p.type).join(', ')}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.#waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  /** The next PDU, which must be of `type`. */
  async expect<T extends Pdu['type']>(type: T, ms = 2_000): Promise<Extract<Pdu, { type: T }>> {
    const pdu = await this.next(ms);
    if (pdu.type !== type) throw new Error(`Expected ${type}, received ${pdu.type}: ${JSON.stringify(pdu)}`);
    return pdu as Extract<Pdu, { type: T }>;
  }

  destroy(): void {
    this.socket.destroy();
  }
}

/** A raw client connected to `port`. */
export function rawConnect(port: number, cleanup: Cleanup): Promise<RawPeer> {
  return new Promise((resolve, reject) => {
    const socket = netConnect({ host: LOCALHOST, port }, () => {
      socket.off('error', reject);
      resolve(new RawPeer(socket));
    });
    socket.once('error', reject);
    cleanup.add(() => socket.destroy());
  });
}

/** A raw server: each connection becomes a RawPeer. */
export interface RawServer {
  readonly port: number;
  /** The peer of the connection number `index` (0 is the first), waiting for it if need be. */
  peer(index?: number): Promise<RawPeer>;
}

export function rawServer(cleanup: Cleanup): Promise<RawServer> {
  const peers = new ReplaySubject<RawPeer>();
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    peers.next(new RawPeer(socket));
  });
  cleanup.add(
    () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  );
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, LOCALHOST, () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      resolve({ port, peer: (index = 0) => firstValueFrom(peers.pipe(skip(index), timeout(2_000))) });
    });
  });
}

/** An A-ASSOCIATE-RQ as a raw client sends it: Verification in Implicit VR Little Endian, max length 16384. */
export function associateRq(overrides: Partial<AssociateRq> = {}, maxPduLength = 16384): AssociateRq {
  return {
    type: 'AssociateRq',
    protocolVersion: 1,
    calledAeTitle: 'TEST_SCP',
    callingAeTitle: 'RAW_SCU',
    applicationContextName: DICOM_APPLICATION_CONTEXT_NAME,
    presentationContexts: [{ id: 1, abstractSyntax: VERIFICATION, transferSyntaxes: [IMPLICIT_LE] }],
    userInformation: [
      { type: 'MaximumLength', maximumLength: maxPduLength },
      { type: 'ImplementationClassUid', uid: '1.2.3.4.5' },
    ],
    ...overrides,
  };
}

/** The A-ASSOCIATE-AC a raw server answers with: every context accepted with its first transfer syntax. */
export function acceptAll(rq: AssociateRq, maxPduLength = 16384): AssociateAc {
  return {
    type: 'AssociateAc',
    protocolVersion: 1,
    calledAeTitle: rq.calledAeTitle,
    callingAeTitle: rq.callingAeTitle,
    applicationContextName: DICOM_APPLICATION_CONTEXT_NAME,
    presentationContexts: rq.presentationContexts.map((pc) => ({ id: pc.id, result: 0, transferSyntax: pc.transferSyntaxes[0]! })),
    userInformation: [
      { type: 'MaximumLength', maximumLength: maxPduLength },
      { type: 'ImplementationClassUid', uid: '1.2.3.4.6' },
    ],
  };
}

/** A self-signed certificate for 127.0.0.1 and localhost, made with openssl in `dir` (valid one day). */
export function makeCertificate(dir: string): { key: string; cert: string } {
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-keyout',
      join(dir, 'key.pem'),
      '-out',
      join(dir, 'cert.pem'),
      '-days',
      '1',
      '-subj',
      '/CN=localhost',
      '-addext',
      'subjectAltName=IP:127.0.0.1,DNS:localhost',
    ],
    { stdio: 'ignore' },
  );
  return { key: readFileSync(join(dir, 'key.pem'), 'utf8'), cert: readFileSync(join(dir, 'cert.pem'), 'utf8') };
}
