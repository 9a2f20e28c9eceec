/**
 * The association layer against DCMTK 3.6.7: `associate()` to storescp and dcmqrscp, and
 * echoscu to `serve()`. The expected values are what DCMTK 3.6.7 does (read from its output and
 * from the negotiation it answered), not what the standard merely allows.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  type AcceptorPolicy,
  type AssociateOptions,
  type Association,
  AssociationAbortedError,
  AssociationRejectedError,
  associate,
  type ProposedContext,
  serve,
} from '@dimse-rx/association';
import type { PDataTf } from '@dimse-rx/pdu';
import { firstValueFrom, ReplaySubject, type Subscription, skip, timeout } from 'rxjs';
import { afterEach, expect, it } from 'vitest';
import { describeDcmtk, freePort, LOOPBACK, type RunResult, runDcmtk, startDcmtk } from '../support/dcmtk.js';

const VERIFICATION = '1.2.840.10008.1.1';
const CT_IMAGE_STORAGE = '1.2.840.10008.5.1.4.1.1.2';
const UNKNOWN_SOP_CLASS = '1.2.3.4.5.6.7';
const IMPLICIT_LE = '1.2.840.10008.1.2';
const EXPLICIT_LE = '1.2.840.10008.1.2.1';
const EXPLICIT_BE = '1.2.840.10008.1.2.2';

/** What DCMTK 3.6.7 announces in its A-ASSOCIATE-RQ and -AC. */
const DCMTK_IMPLEMENTATION_CLASS_UID = '1.2.276.0.7230010.3.0.3.6.7';
const DCMTK_IMPLEMENTATION_VERSION_NAME = 'OFFIS_DCMTK_367';
/** storescp's and echoscu's default maximum receive PDU length (`--max-pdu`). */
const DCMTK_MAX_PDU_LENGTH = 16384;

/** Context IDs 1, 3, 5... in this order. */
const PROPOSED: readonly ProposedContext[] = [
  { abstractSyntax: VERIFICATION, transferSyntaxes: [IMPLICIT_LE] },
  { abstractSyntax: CT_IMAGE_STORAGE, transferSyntaxes: [EXPLICIT_LE, IMPLICIT_LE] },
  // The same, in the other order of preference: storescp's own preference decides.
  { abstractSyntax: CT_IMAGE_STORAGE, transferSyntaxes: [IMPLICIT_LE, EXPLICIT_LE] },
  { abstractSyntax: CT_IMAGE_STORAGE, transferSyntaxes: [EXPLICIT_BE, IMPLICIT_LE] },
  { abstractSyntax: CT_IMAGE_STORAGE, transferSyntaxes: [EXPLICIT_LE] },
  { abstractSyntax: UNKNOWN_SOP_CLASS, transferSyntaxes: [IMPLICIT_LE] },
];

const requestTo = (port: number, overrides: Partial<AssociateOptions> = {}): AssociateOptions => ({
  host: LOOPBACK,
  port,
  callingAeTitle: 'DIMSE-RX',
  calledAeTitle: 'STORESCP',
  presentationContexts: PROPOSED,
  timeouts: { connect: 5_000, acse: 5_000, artim: 5_000 },
  ...overrides,
});

/** How an Observable ended. */
type Ending = { readonly completed: true } | { readonly completed: false; readonly error: unknown };

/** An `associate()` kept subscribed: the association once accepted, and how the Observable ended. */
interface Requested {
  readonly association: Promise<Association>;
  readonly ended: Promise<Ending>;
  readonly subscription: Subscription;
}

const cleanups: (() => unknown)[] = [];

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** Subscribes to `associate()` and keeps the subscription until the test ends. */
function request(options: AssociateOptions): Requested {
  let accept: (association: Association) => void = () => {};
  let refuse: (error: unknown) => void = () => {};
  let end: (ending: Ending) => void = () => {};
  const association = new Promise<Association>((resolve, reject) => {
    accept = resolve;
    refuse = reject;
  });
  // Tests that expect an error read it from `ended`.
  association.catch(() => {});
  const ended = new Promise<Ending>((resolve) => {
    end = resolve;
  });
  const subscription = associate(options).subscribe({
    next: accept,
    error: (error: unknown) => {
      refuse(error);
      end({ completed: false, error });
    },
    complete: () => {
      refuse(new Error('associate() completed without an association'));
      end({ completed: true });
    },
  });
  cleanups.push(() => subscription.unsubscribe());
  return { association, ended, subscription };
}

/** Starts storescp on a free port; it is stopped when the test ends. */
async function storescp(...options: string[]): Promise<number> {
  const port = await freePort();
  const peer = await startDcmtk('storescp', ['-aet', 'STORESCP', ...options, String(port)], { ready: port });
  cleanups.push(() => peer.stop());
  return port;
}

/** An association `serve()` emitted, with the first P-DATA-TF it received (undefined if none). */
interface Served {
  readonly association: Association;
  readonly firstPData: Promise<PDataTf | undefined>;
}

interface Server {
  readonly port: number;
  /** Every association emitted so far. */
  readonly served: Served[];
  /** The next association emitted (the first one not yet taken), within 5 s. */
  next(): Promise<Served>;
}

/** Runs `serve()` with a policy on 127.0.0.1:0; unsubscribed when the test ends. */
async function server(policy: Partial<AcceptorPolicy>): Promise<Server> {
  const emitted = new ReplaySubject<Served>();
  const served: Served[] = [];
  const listening = new ReplaySubject<number>(1);
  const subscription = serve({
    abstractSyntaxes: {},
    ...policy,
    onStop: 'abort',
    timeouts: { artim: 5_000, acse: 5_000 },
    onListening: ({ port }) => listening.next(port),
  }).subscribe({
    next: (association) => {
      // Subscribed at once, so that a P-DATA-TF arriving right after the A-ASSOCIATE-AC is not missed.
      const entry = { association, firstPData: firstValueFrom(association.pData, { defaultValue: undefined }) };
      served.push(entry);
      emitted.next(entry);
    },
    error: (error: unknown) => listening.error(error),
  });
  cleanups.push(() => subscription.unsubscribe());
  const port = await firstValueFrom(listening.pipe(timeout(5_000)));
  let taken = 0;
  return { port, served, next: () => firstValueFrom(emitted.pipe(skip(taken++), timeout(5_000))) };
}

/** echoscu with short timeouts, verbose, to 127.0.0.1. */
function echoscu(port: number, calledAeTitle: string, callingAeTitle = 'ECHOSCU'): Promise<RunResult> {
  return runDcmtk(
    'echoscu',
    ['-v', '-to', '5', '-ta', '5', '-td', '5', '-aet', callingAeTitle, '-aec', calledAeTitle, LOOPBACK, String(port)],
    { timeoutMs: 15_000 },
  );
}

const output = (result: RunResult) => `${result.stdout}${result.stderr}`;

describeDcmtk('Association: associate() to DCMTK storescp', () => {
  it('storescp accepts with its default preference (explicit VR LE, explicit VR BE, implicit VR LE), then releases', async () => {
    const port = await storescp();
    const requested = request(requestTo(port));
    const association = await requested.association;
    const { negotiation } = association;

    expect(negotiation.role).toBe('requestor');
    expect(
      negotiation.presentationContexts.map(({ id, abstractSyntax, result, accepted, transferSyntax }) => ({
        id,
        abstractSyntax,
        result,
        accepted,
        transferSyntax,
      })),
    ).toEqual([
      { id: 1, abstractSyntax: VERIFICATION, result: 0, accepted: true, transferSyntax: IMPLICIT_LE },
      { id: 3, abstractSyntax: CT_IMAGE_STORAGE, result: 0, accepted: true, transferSyntax: EXPLICIT_LE },
      // Implicit VR LE was proposed first; storescp prefers explicit VR little endian anyway.
      { id: 5, abstractSyntax: CT_IMAGE_STORAGE, result: 0, accepted: true, transferSyntax: EXPLICIT_LE },
      // Explicit VR big endian still ranks before implicit VR LE in storescp's default list.
      { id: 7, abstractSyntax: CT_IMAGE_STORAGE, result: 0, accepted: true, transferSyntax: EXPLICIT_BE },
      { id: 9, abstractSyntax: CT_IMAGE_STORAGE, result: 0, accepted: true, transferSyntax: EXPLICIT_LE },
      // 3: abstract syntax not supported.
      { id: 11, abstractSyntax: UNKNOWN_SOP_CLASS, result: 3, accepted: false, transferSyntax: undefined },
    ]);
    expect(association.acceptedContexts.map((pc) => pc.id)).toEqual([1, 3, 5, 7, 9]);
    expect(negotiation.peerImplementationClassUid).toBe(DCMTK_IMPLEMENTATION_CLASS_UID);
    expect(negotiation.peerImplementationVersionName).toBe(DCMTK_IMPLEMENTATION_VERSION_NAME);
    expect(negotiation.peerMaxPduLength).toBe(DCMTK_MAX_PDU_LENGTH);
    expect(association.maxPdvValueLength).toBe(DCMTK_MAX_PDU_LENGTH - 6);
    expect(negotiation.response.calledAeTitle).toBe('STORESCP');
    expect(negotiation.response.callingAeTitle).toBe('DIMSE-RX');
    expect(association.state).toBe('Sta6');

    const finished = firstValueFrom(association.finished);
    await expect(firstValueFrom(association.release(), { defaultValue: 'released' })).resolves.toBe('released');
    await expect(finished).resolves.toBeUndefined();
    await expect(requested.ended).resolves.toEqual({ completed: true });
    expect(association.state).toBe('Sta1');
  });

  it('storescp +xi (--implicit) accepts implicit VR little endian only', async () => {
    const port = await storescp('+xi');
    const requested = request(requestTo(port));
    const association = await requested.association;

    expect(association.negotiation.presentationContexts.map(({ id, result, transferSyntax }) => ({ id, result, transferSyntax }))).toEqual([
      { id: 1, result: 0, transferSyntax: IMPLICIT_LE },
      { id: 3, result: 0, transferSyntax: IMPLICIT_LE },
      { id: 5, result: 0, transferSyntax: IMPLICIT_LE },
      { id: 7, result: 0, transferSyntax: IMPLICIT_LE },
      // Explicit VR LE alone: 4, transfer syntaxes not supported.
      { id: 9, result: 4, transferSyntax: undefined },
      { id: 11, result: 3, transferSyntax: undefined },
    ]);
    expect(association.negotiation.peerImplementationClassUid).toBe(DCMTK_IMPLEMENTATION_CLASS_UID);

    const finished = firstValueFrom(association.finished);
    await expect(firstValueFrom(association.release(), { defaultValue: 'released' })).resolves.toBe('released');
    await expect(finished).resolves.toBeUndefined();
    await expect(requested.ended).resolves.toEqual({ completed: true });
  });

  it('storescp --refuse: associate() errors with AssociationRejectedError (1, 1, 1)', async () => {
    const port = await storescp('--refuse');
    const { ended } = request(requestTo(port));
    const ending = await ended;
    expect(ending.completed).toBe(false);
    const error = ending.completed ? undefined : ending.error;
    expect(error).toBeInstanceOf(AssociationRejectedError);
    expect(error).toMatchObject({ name: 'AssociationRejectedError', result: 1, source: 1, reason: 1 });
    const message = (error as Error).message;
    expect(message).toContain('no reason given');
    expect(message).toContain('permanent');
    expect(message).toContain('service-user');
  });

  it('storescp has no option to check the called AE title: it accepts any', async () => {
    // storescp 3.6.7 --help lists -aet (its own title) but nothing that checks the called AE
    // title; the rejection (1, 1, 7) is taken from dcmqrscp below.
    const port = await storescp();
    const requested = request(requestTo(port, { calledAeTitle: 'WRONG-AE', presentationContexts: [PROPOSED[0]!] }));
    const association = await requested.association;
    expect(association.acceptedContexts.map((pc) => pc.abstractSyntax)).toEqual([VERIFICATION]);
    // The A-ASSOCIATE-AC returns the called AE title of the request, not storescp's -aet.
    expect(association.negotiation.response.calledAeTitle).toBe('WRONG-AE');
    await firstValueFrom(association.release(), { defaultValue: undefined });
    await expect(requested.ended).resolves.toEqual({ completed: true });
  });
});

describeDcmtk('Association: associate() to DCMTK dcmqrscp', () => {
  it('dcmqrscp rejects an unknown called AE title with (1, 1, 7) and accepts its own', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'dimse-rx-association-dcmtk-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    await mkdir(join(dir, 'db'));
    const config = join(dir, 'dcmqrscp.cfg');
    await writeFile(
      config,
      [
        'NetworkTCPPort = 0',
        'MaxPDUSize = 16384',
        'MaxAssociations = 16',
        'HostTable BEGIN',
        'HostTable END',
        'VendorTable BEGIN',
        'VendorTable END',
        'AETable BEGIN',
        `QRSCP ${join(dir, 'db')} RW (10, 1024mb) ANY`,
        'AETable END',
        '',
      ].join('\n'),
    );
    const port = await freePort();
    const peer = await startDcmtk('dcmqrscp', ['--single-process', '-c', config, String(port)], { ready: port });
    cleanups.push(() => peer.stop());

    const wrong = await request(requestTo(port, { calledAeTitle: 'WRONG-AE', presentationContexts: [PROPOSED[0]!] })).ended;
    expect(wrong.completed).toBe(false);
    const error = wrong.completed ? undefined : wrong.error;
    expect(error).toBeInstanceOf(AssociationRejectedError);
    expect(error).toMatchObject({ result: 1, source: 1, reason: 7 });
    expect((error as Error).message).toContain('called AE title not recognized');

    const right = request(requestTo(port, { calledAeTitle: 'QRSCP', presentationContexts: [PROPOSED[0]!] }));
    const association = await right.association;
    expect(association.acceptedContexts.map((pc) => pc.transferSyntax)).toEqual([IMPLICIT_LE]);
    expect(association.negotiation.peerImplementationClassUid).toBe(DCMTK_IMPLEMENTATION_CLASS_UID);
    await firstValueFrom(association.release(), { defaultValue: undefined });
    await expect(right.ended).resolves.toEqual({ completed: true });
  });
});

describeDcmtk('Association: echoscu to serve()', () => {
  it('accepts Verification for DIMSE-RX and sees the C-ECHO-RQ arrive (not answered yet: the test aborts)', async () => {
    const { port, next } = await server({ aeTitles: ['DIMSE-RX'], abstractSyntaxes: { [VERIFICATION]: [IMPLICIT_LE] } });
    const run = echoscu(port, 'DIMSE-RX');
    cleanups.push(() => run.catch(() => {}));
    const { association, firstPData } = await next();
    const { negotiation } = association;

    expect(negotiation.role).toBe('acceptor');
    expect(negotiation.callingAeTitle).toBe('ECHOSCU');
    expect(negotiation.calledAeTitle).toBe('DIMSE-RX');
    expect(negotiation.presentationContexts).toEqual([
      {
        id: 1,
        abstractSyntax: VERIFICATION,
        proposedTransferSyntaxes: [IMPLICIT_LE],
        result: 0,
        accepted: true,
        transferSyntax: IMPLICIT_LE,
      },
    ]);
    expect(negotiation.peerImplementationClassUid).toBe(DCMTK_IMPLEMENTATION_CLASS_UID);
    expect(negotiation.peerImplementationVersionName).toBe(DCMTK_IMPLEMENTATION_VERSION_NAME);
    expect(negotiation.peerMaxPduLength).toBe(DCMTK_MAX_PDU_LENGTH);

    // The C-ECHO-RQ: one command PDV, complete, on the Verification context.
    const pData = await firstPData;
    expect(pData?.pdvs.map(({ presentationContextId, command, last }) => ({ presentationContextId, command, last }))).toEqual([
      { presentationContextId: 1, command: true, last: true },
    ]);

    const finished = firstValueFrom(association.finished);
    association.abort();
    const ended = await finished;
    expect(ended).toBeInstanceOf(AssociationAbortedError);
    expect(ended).toMatchObject({ source: 0 });

    const result = await run;
    const text = output(result);
    expect(text).toContain('Association Accepted (Max Send PDV: 16372)');
    expect(text).toContain('Sending Echo Request (MsgID 1)');
    expect(text).toContain('Echo Failed: 0006:0317 Peer aborted Association (or never connected)');
    expect(text).toContain('Peer Aborted Association');
    // echoscu 3.6.7 exits 0 even though the echo failed because the peer aborted.
    expect(result.code).toBe(0);
  });

  it('rejects a called AE title the policy does not answer: (1, 1, 7) as echoscu words it', async () => {
    const { port, served } = await server({ aeTitles: ['DIMSE-RX'], abstractSyntaxes: { [VERIFICATION]: [IMPLICIT_LE] } });
    const result = await echoscu(port, 'WRONG');
    expect(result.code).toBe(1);
    const text = output(result);
    expect(text).toContain('Association Rejected:');
    expect(text).toContain('Result: Rejected Permanent, Source: Service User');
    expect(text).toContain('Reason: Called AE Title Not Recognized');
    expect(served).toHaveLength(0);
  });

  it('rejects a calling AE title the policy does not allow: (1, 1, 3) as echoscu words it', async () => {
    const { port, served } = await server({ callingAeTitles: ['FRIEND'], abstractSyntaxes: { [VERIFICATION]: [IMPLICIT_LE] } });
    const result = await echoscu(port, 'DIMSE-RX', 'STRANGER');
    expect(result.code).toBe(1);
    const text = output(result);
    expect(text).toContain('Association Rejected:');
    expect(text).toContain('Result: Rejected Permanent, Source: Service User');
    expect(text).toContain('Reason: Calling AE Title Not Recognized');
    expect(served).toHaveLength(0);
  });

  it('Verification not accepted, noAcceptableContext accept (default): echoscu finds no acceptable context and drops the connection', async () => {
    const { port, next } = await server({ abstractSyntaxes: { [CT_IMAGE_STORAGE]: [IMPLICIT_LE] } });
    const result = await echoscu(port, 'DIMSE-RX');
    expect(result.code).toBe(1);
    const text = output(result);
    expect(text).toContain('F: No Acceptable Presentation Contexts');
    expect(text).not.toContain('Association Rejected');

    const { association } = await next();
    expect(association.negotiation.presentationContexts).toEqual([
      { id: 1, abstractSyntax: VERIFICATION, proposedTransferSyntaxes: [IMPLICIT_LE], result: 3, accepted: false },
    ]);
    // echoscu closes the connection without A-RELEASE or A-ABORT: an A-P-ABORT on this side.
    const ended = await firstValueFrom(association.finished.pipe(timeout(5_000)));
    expect(ended).toBeInstanceOf(AssociationAbortedError);
    expect(ended).toMatchObject({ source: 2 });
  });

  it("Verification not accepted, noAcceptableContext 'reject': echoscu is rejected (1, 1, 1)", async () => {
    const { port, served } = await server({ abstractSyntaxes: { [CT_IMAGE_STORAGE]: [IMPLICIT_LE] }, noAcceptableContext: 'reject' });
    const result = await echoscu(port, 'DIMSE-RX');
    expect(result.code).toBe(1);
    const text = output(result);
    expect(text).toContain('Association Rejected:');
    expect(text).toContain('Result: Rejected Permanent, Source: Service User');
    expect(text).toContain('Reason: No Reason');
    expect(served).toHaveLength(0);
  });

  it('maxAssociations 1: while one association is open, echoscu is rejected transient, local limit exceeded (2, 3, 2)', async () => {
    const { port, served, next } = await server({ abstractSyntaxes: { [VERIFICATION]: [IMPLICIT_LE] }, maxAssociations: 1 });
    const held = request(requestTo(port, { calledAeTitle: 'DIMSE-RX', presentationContexts: [PROPOSED[0]!] }));
    const holder = await held.association;
    const { association: servedHolder } = await next();
    expect(servedHolder.negotiation.callingAeTitle).toBe('DIMSE-RX');

    const result = await echoscu(port, 'DIMSE-RX');
    expect(result.code).toBe(1);
    const text = output(result);
    expect(text).toContain('Association Rejected:');
    expect(text).toContain('Result: Rejected Transient, Source: Service Provider (Presentation Related)');
    expect(text).toContain('Reason: Local Limit Exceeded');
    expect(served).toHaveLength(1);

    // Once the held association is over on the server's side, echoscu gets in again.
    const serverSideEnd = firstValueFrom(servedHolder.finished.pipe(timeout(5_000)));
    await firstValueFrom(holder.release(), { defaultValue: undefined });
    await expect(serverSideEnd).resolves.toBeUndefined();
    await expect(held.ended).resolves.toEqual({ completed: true });
    const again = echoscu(port, 'DIMSE-RX');
    cleanups.push(() => again.catch(() => {}));
    const { association: second, firstPData } = await next();
    expect(second.negotiation.callingAeTitle).toBe('ECHOSCU');
    await firstPData;
    second.abort();
    const secondResult = await again;
    expect(output(secondResult)).toContain('Association Accepted');
    expect(output(secondResult)).toContain('Peer Aborted Association');
  });
});
