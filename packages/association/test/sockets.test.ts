/**
 * associate(), serve() and withAssociation() over real TCP and TLS sockets on 127.0.0.1: what
 * each side negotiates, how associations are rejected, released and aborted, what happens when
 * the peer closes the connection in each state or sends bad input, and the timers. The peer is
 * either our own other side or a raw node:net peer that writes PDUs built with encodePdu.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  type Association,
  AssociationAbortedError,
  AssociationRejectedError,
  AssociationTimeoutError,
  ConnectionError,
  IMPLEMENTATION_CLASS_UID,
  IMPLEMENTATION_VERSION_NAME,
  NoPresentationContextAcceptedError,
  type StateName,
  serve,
  withAssociation,
} from '@dimse-rx/association';
import type { PDataTf, UserIdentityRq } from '@dimse-rx/pdu';
import { firstValueFrom, lastValueFrom, map, of, throwError, timer, toArray } from 'rxjs';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  acceptAll,
  associateRq,
  baseRequest,
  Cleanup,
  CT_IMAGE_STORAGE,
  EXPLICIT_LE,
  expectRejected,
  finishedOf,
  IMPLICIT_LE,
  JPEG_BASELINE,
  MR_IMAGE_STORAGE,
  makeCertificate,
  rawConnect,
  rawServer,
  request,
  startServer,
  UNKNOWN_SOP_CLASS,
  VERIFICATION,
  wait,
  within,
} from './support.js';

const cleanup = new Cleanup();
afterEach(() => cleanup.run());

const text = (bytes: Uint8Array | undefined) => (bytes ? Buffer.from(bytes).toString('utf8') : undefined);

/** Every state an association passes through from now on, until Sta1. */
function recordStates(association: Association): StateName[] {
  const seen: StateName[] = [];
  association.states.subscribe((s) => seen.push(s));
  return seen;
}

function echoLike(value = 16): PDataTf {
  return { type: 'PDataTf', pdvs: [{ presentationContextId: 1, command: true, last: true, value: new Uint8Array(value).fill(7) }] };
}

async function expectAborted(end: Promise<Error | undefined>, source: number, reason?: number): Promise<AssociationAbortedError> {
  const error = await within(end, 3_000, 'end');
  expect(error).toBeInstanceOf(AssociationAbortedError);
  expect((error as AssociationAbortedError).source).toBe(source);
  if (reason !== undefined) expect((error as AssociationAbortedError).reason).toBe(reason);
  return error as AssociationAbortedError;
}

describe('negotiation', () => {
  it('settles contexts, maximum lengths, implementation names, roles and extended negotiation the same on both sides', async () => {
    const common: unknown[] = [];
    const server = await startServer(
      {
        aeTitles: ['TEST_SCP'],
        abstractSyntaxes: {
          [VERIFICATION]: [EXPLICIT_LE, IMPLICIT_LE],
          [CT_IMAGE_STORAGE]: [JPEG_BASELINE],
          [MR_IMAGE_STORAGE]: [IMPLICIT_LE],
        },
        maxPduLength: 65536,
        implementationClassUid: '1.2.826.0.1.3680043.9.7433.2',
        implementationVersionName: 'SCP_SIDE_1',
        roles: { [VERIFICATION]: { scu: true, scp: false }, [MR_IMAGE_STORAGE]: { scu: true, scp: true } },
        extendedNegotiation: (item) => (item.sopClassUid === VERIFICATION ? Uint8Array.of(1) : undefined),
        commonExtendedNegotiation: (item) => common.push(item),
      },
      cleanup,
    );
    const requested = request(
      baseRequest(server.port, {
        maxPduLength: 32768,
        implementationClassUid: '1.2.826.0.1.3680043.9.7433.1',
        implementationVersionName: 'SCU_SIDE_1',
        presentationContexts: [
          { abstractSyntax: VERIFICATION, transferSyntaxes: [IMPLICIT_LE, EXPLICIT_LE] },
          { abstractSyntax: UNKNOWN_SOP_CLASS, transferSyntaxes: [IMPLICIT_LE] },
          { abstractSyntax: CT_IMAGE_STORAGE, transferSyntaxes: [IMPLICIT_LE, EXPLICIT_LE] },
          { abstractSyntax: MR_IMAGE_STORAGE, transferSyntaxes: [EXPLICIT_LE, IMPLICIT_LE] },
        ],
        roles: [
          { sopClassUid: VERIFICATION, scuRole: true, scpRole: true },
          { sopClassUid: CT_IMAGE_STORAGE, scuRole: true, scpRole: true },
          { sopClassUid: MR_IMAGE_STORAGE, scuRole: false, scpRole: true },
        ],
        extendedNegotiation: [
          { sopClassUid: VERIFICATION, serviceClassApplicationInformation: Uint8Array.of(1, 1) },
          { sopClassUid: MR_IMAGE_STORAGE, serviceClassApplicationInformation: Uint8Array.of(1) },
        ],
        commonExtendedNegotiation: [
          { sopClassUid: MR_IMAGE_STORAGE, serviceClassUid: '1.2.840.10008.4.2', relatedGeneralSopClassUids: [] },
        ],
      }),
      cleanup,
    );
    const requestor = await requested.association;
    const acceptor = await server.association();

    for (const side of [requestor, acceptor]) {
      expect(side.state).toBe('Sta6');
      // The acceptor's first preference among those proposed; 3 unknown abstract syntax, 4 no common transfer syntax.
      expect(side.negotiation.presentationContexts.map((pc) => [pc.id, pc.result, pc.transferSyntax])).toEqual([
        [1, 0, EXPLICIT_LE],
        [3, 3, undefined],
        [5, 4, undefined],
        [7, 0, IMPLICIT_LE],
      ]);
      expect(side.acceptedContexts.map((pc) => pc.abstractSyntax)).toEqual([VERIFICATION, MR_IMAGE_STORAGE]);
      // Proposed roles as far as the policy allows; none for CT, whose context was not accepted;
      // never a role the requestor did not propose (PS3.7 D.3.3.4).
      expect(side.negotiation.roles).toEqual([
        { sopClassUid: VERIFICATION, scuRole: true, scpRole: false },
        { sopClassUid: MR_IMAGE_STORAGE, scuRole: false, scpRole: true },
      ]);
      expect(side.negotiation.extendedNegotiation.map((e) => [e.sopClassUid, [...e.serviceClassApplicationInformation]])).toEqual([
        [VERIFICATION, [1]],
      ]);
      expect(side.negotiation.asynchronousOperationsWindow).toEqual({ maxOperationsInvoked: 1, maxOperationsPerformed: 1 });
      expect(side.negotiation.callingAeTitle).toBe('TEST_SCU');
      expect(side.negotiation.calledAeTitle).toBe('TEST_SCP');
    }
    expect(requestor.negotiation.role).toBe('requestor');
    expect(requestor.negotiation.localMaxPduLength).toBe(32768);
    expect(requestor.negotiation.peerMaxPduLength).toBe(65536);
    expect(requestor.maxPdvValueLength).toBe(65536 - 6);
    expect(requestor.negotiation.peerImplementationClassUid).toBe('1.2.826.0.1.3680043.9.7433.2');
    expect(requestor.negotiation.peerImplementationVersionName).toBe('SCP_SIDE_1');
    expect(acceptor.negotiation.role).toBe('acceptor');
    expect(acceptor.negotiation.localMaxPduLength).toBe(65536);
    expect(acceptor.negotiation.peerMaxPduLength).toBe(32768);
    expect(acceptor.negotiation.peerImplementationClassUid).toBe('1.2.826.0.1.3680043.9.7433.1');
    expect(acceptor.negotiation.peerImplementationVersionName).toBe('SCU_SIDE_1');
    expect(acceptor.negotiation.commonExtendedNegotiation.map((c) => c.serviceClassUid)).toEqual(['1.2.840.10008.4.2']);
    expect(common).toHaveLength(1);
    expect(requestor.negotiation.userIdentityResponse).toBeUndefined();

    await lastValueFrom(requestor.release(), { defaultValue: undefined });
    expect(await requested.end).toBeUndefined();
    expect(await finishedOf(acceptor)).toBeUndefined();
    expect(server.errors).toEqual([]);
  });

  it('announces the default implementation class UID, version name and maximum length', async () => {
    const server = await startServer({ abstractSyntaxes: { [VERIFICATION]: [IMPLICIT_LE] } }, cleanup);
    const requested = request(baseRequest(server.port), cleanup);
    const requestor = await requested.association;
    const acceptor = await server.association();
    for (const side of [requestor, acceptor]) {
      expect(side.negotiation.peerImplementationClassUid).toBe(IMPLEMENTATION_CLASS_UID);
      expect(side.negotiation.peerImplementationVersionName).toBe(IMPLEMENTATION_VERSION_NAME);
      expect(side.negotiation.peerMaxPduLength).toBe(16384);
    }
    requested.unsubscribe();
    // Unsubscribing releases.
    expect(await finishedOf(acceptor)).toBeUndefined();
  });

  it('answers the asynchronous operations window as PS3.7 D.3.3.3 says', async () => {
    // The acceptor may invoke 3 operations and perform any number (0: unlimited).
    const server = await startServer(
      {
        abstractSyntaxes: { [VERIFICATION]: [IMPLICIT_LE] },
        asynchronousOperationsWindow: { maxOperationsInvoked: 3, maxOperationsPerformed: 0 },
      },
      cleanup,
    );
    // The A-ASSOCIATE-AC's invoked is what the requestor may invoke (<= its proposed invoked, and
    // the acceptor performs without limit), its performed what the requestor may perform (<= its
    // proposed performed, and <= the 3 the acceptor invokes).
    for (const [proposed, expected] of [
      [
        { maxOperationsInvoked: 5, maxOperationsPerformed: 5 },
        { maxOperationsInvoked: 5, maxOperationsPerformed: 3 },
      ],
      [
        { maxOperationsInvoked: 1, maxOperationsPerformed: 5 },
        { maxOperationsInvoked: 1, maxOperationsPerformed: 3 },
      ],
    ] as const) {
      const requested = request(baseRequest(server.port, { asynchronousOperationsWindow: proposed }), cleanup);
      const requestor = await requested.association;
      expect(requestor.negotiation.asynchronousOperationsWindow).toEqual(expected);
      await lastValueFrom(requestor.release(), { defaultValue: undefined });
    }
    // Each side sees the window as it applies to itself: the acceptor invokes what the requestor performs.
    expect(server.associations.map((a) => a.negotiation.asynchronousOperationsWindow)).toEqual([
      { maxOperationsInvoked: 3, maxOperationsPerformed: 5 },
      { maxOperationsInvoked: 3, maxOperationsPerformed: 1 },
    ]);
  });

  it('answers an asynchronous operations window only when one is proposed, each side seeing its own', async () => {
    const server = await startServer(
      {
        abstractSyntaxes: { [VERIFICATION]: [IMPLICIT_LE] },
        asynchronousOperationsWindow: { maxOperationsInvoked: 3, maxOperationsPerformed: 0 },
      },
      cleanup,
    );
    const proposing = request(
      baseRequest(server.port, { asynchronousOperationsWindow: { maxOperationsInvoked: 5, maxOperationsPerformed: 5 } }),
      cleanup,
    );
    const requestor = await proposing.association;
    const acceptor = await server.association(0);
    const window = requestor.negotiation.asynchronousOperationsWindow;
    expect(requestor.negotiation.request.userInformation).toContainEqual({
      type: 'AsynchronousOperationsWindow',
      maxOperationsInvoked: 5,
      maxOperationsPerformed: 5,
    });
    expect(window).toEqual({ maxOperationsInvoked: 5, maxOperationsPerformed: 3 });
    expect(requestor.negotiation.response.userInformation).toContainEqual({ type: 'AsynchronousOperationsWindow', ...window });
    // The same window seen from the acceptor: it performs the 5 the requestor invokes and invokes 3.
    expect(acceptor.negotiation.asynchronousOperationsWindow).toEqual({ maxOperationsInvoked: 3, maxOperationsPerformed: 5 });
    await lastValueFrom(requestor.release(), { defaultValue: undefined });

    const silent = request(baseRequest(server.port), cleanup);
    const plain = await silent.association;
    expect(plain.negotiation.response.userInformation.some((i) => i.type === 'AsynchronousOperationsWindow')).toBe(false);
    expect(plain.negotiation.asynchronousOperationsWindow).toEqual({ maxOperationsInvoked: 1, maxOperationsPerformed: 1 });
    await lastValueFrom(plain.release(), { defaultValue: undefined });
  });

  it('checks user identities with a policy answering later, returns the server response, and rejects (1, 1, 1) a refused one', async () => {
    const seen: (UserIdentityRq | undefined)[] = [];
    const server = await startServer(
      {
        abstractSyntaxes: { [VERIFICATION]: [IMPLICIT_LE] },
        userIdentity: (identity) => {
          seen.push(identity);
          if (identity?.identityType === 2) {
            // An Observable that answers later.
            const ok = text(identity.primaryField) === 'alice' && text(identity.secondaryField) === 's3cret';
            return timer(150).pipe(map(() => ok));
          }
          if (identity?.identityType === 5) {
            // A Promise that answers later, with a server response.
            return wait(150).then(() => ({ accept: true, serverResponse: Buffer.from('jwt-accepted') }));
          }
          return false;
        },
      },
      cleanup,
    );

    let t0 = performance.now();
    const alice = request(
      baseRequest(server.port, {
        userIdentity: { identityType: 2, positiveResponseRequested: true, primaryField: 'alice', secondaryField: 's3cret' },
      }),
      cleanup,
    );
    const aliceAssociation = await alice.association;
    expect(performance.now() - t0).toBeGreaterThanOrEqual(140);
    // Positive response requested: a User Identity AC sub-item, empty for a username and passcode.
    expect(aliceAssociation.negotiation.userIdentityResponse).toBeDefined();
    expect(aliceAssociation.negotiation.userIdentityResponse).toHaveLength(0);
    const acceptorSide = await server.association(0);
    expect(text(acceptorSide.negotiation.userIdentity?.primaryField)).toBe('alice');
    expect(text(acceptorSide.negotiation.userIdentity?.secondaryField)).toBe('s3cret');
    expect(seen[0]).toMatchObject({ type: 'UserIdentityRq', identityType: 2, positiveResponseRequested: true });
    await lastValueFrom(aliceAssociation.release(), { defaultValue: undefined });

    const wrong = request(
      baseRequest(server.port, {
        userIdentity: { identityType: 2, positiveResponseRequested: true, primaryField: 'alice', secondaryField: 'guess' },
      }),
      cleanup,
    );
    await expectRejected(wrong.end, 1, 1, 1);

    t0 = performance.now();
    const jwt = request(
      baseRequest(server.port, { userIdentity: { identityType: 5, positiveResponseRequested: true, primaryField: 'eyJhbGciOi.x.y' } }),
      cleanup,
    );
    const jwtAssociation = await jwt.association;
    expect(performance.now() - t0).toBeGreaterThanOrEqual(140);
    expect(text(jwtAssociation.negotiation.userIdentityResponse)).toBe('jwt-accepted');
    await lastValueFrom(jwtAssociation.release(), { defaultValue: undefined });

    // No positive response requested: no User Identity AC sub-item.
    const quiet = request(
      baseRequest(server.port, { userIdentity: { identityType: 5, positiveResponseRequested: false, primaryField: 'eyJhbGciOi.x.y' } }),
      cleanup,
    );
    const quietAssociation = await quiet.association;
    expect(quietAssociation.negotiation.userIdentityResponse).toBeUndefined();
    await lastValueFrom(quietAssociation.release(), { defaultValue: undefined });

    // No identity at all: the policy sees undefined and refuses.
    const anonymous = request(baseRequest(server.port), cleanup);
    await expectRejected(anonymous.end, 1, 1, 1);
    expect(seen.at(-1)).toBeUndefined();
    expect(seen).toHaveLength(5);
    expect(server.associations).toHaveLength(3);
  });

  it('emits a served association once it is established (Sta6), usable at once', async () => {
    const states: StateName[] = [];
    const used: unknown[] = [];
    let port = 0;
    await new Promise<void>((resolve) => {
      const subscription = serve({
        abstractSyntaxes: { [VERIFICATION]: [IMPLICIT_LE] },
        onListening: (l) => {
          port = l.port;
          resolve();
        },
      }).subscribe((association) => {
        states.push(association.state);
        try {
          association.send(echoLike()).subscribe({ error: (e: unknown) => used.push(e) });
          used.push('sent');
          association.release().subscribe({ error: (e: unknown) => used.push(e) });
        } catch (error) {
          used.push(error);
        }
      });
      cleanup.add(() => subscription.unsubscribe());
    });
    const requested = request(baseRequest(port), cleanup);
    await requested.association;
    expect(states).toEqual(['Sta6']);
    expect(used).toEqual(['sent']);
    // The release the acceptor asked for at once ends the association.
    expect(await within(requested.end, 1_000, 'associate() end')).toBeUndefined();
  });
});

describe('rejection', () => {
  const policy = { abstractSyntaxes: { [VERIFICATION]: [IMPLICIT_LE] } };

  it('rejects an unknown called AE title (1, 1, 7)', async () => {
    const server = await startServer({ ...policy, aeTitles: ['TEST_SCP'] }, cleanup);
    const requested = request(baseRequest(server.port, { calledAeTitle: 'SOMEONE_ELSE' }), cleanup);
    await expectRejected(requested.end, 1, 1, 7);
    await expect(requested.association).rejects.toBeInstanceOf(AssociationRejectedError);
    expect(server.associations).toHaveLength(0);
  });

  it('rejects an unknown calling AE title (1, 1, 3)', async () => {
    const server = await startServer({ ...policy, aeTitles: ['TEST_SCP'], callingAeTitles: ['TEST_SCU'] }, cleanup);
    const requested = request(baseRequest(server.port, { callingAeTitle: 'STRANGER' }), cleanup);
    await expectRejected(requested.end, 1, 1, 3);
    // The allowed one is accepted by the same server.
    const allowed = request(baseRequest(server.port), cleanup);
    await lastValueFrom((await allowed.association).release(), { defaultValue: undefined });
    expect(server.associations).toHaveLength(1);
  });

  it("rejects (1, 1, 1) with noAcceptableContext: 'reject' when no context is acceptable", async () => {
    const server = await startServer({ abstractSyntaxes: { [CT_IMAGE_STORAGE]: [IMPLICIT_LE] }, noAcceptableContext: 'reject' }, cleanup);
    const requested = request(baseRequest(server.port), cleanup);
    await expectRejected(requested.end, 1, 1, 1);
    expect(server.associations).toHaveLength(0);
  });

  it('rejects transiently (2, 3, 2) beyond maxAssociations, and accepts again once one ends', async () => {
    const server = await startServer({ ...policy, maxAssociations: 1 }, cleanup);
    const first = request(baseRequest(server.port), cleanup);
    const firstAssociation = await first.association;
    const second = request(baseRequest(server.port), cleanup);
    await expectRejected(second.end, 2, 3, 2);
    await lastValueFrom(firstAssociation.release(), { defaultValue: undefined });
    expect(await finishedOf(await server.association(0))).toBeUndefined();
    const third = request(baseRequest(server.port), cleanup);
    await lastValueFrom((await third.association).release(), { defaultValue: undefined });
    expect(server.associations).toHaveLength(2);
  });

  it("with noAcceptableContext: 'accept' the requestor errors with NoPresentationContextAcceptedError and releases", async () => {
    const server = await startServer({ abstractSyntaxes: { [CT_IMAGE_STORAGE]: [IMPLICIT_LE] } }, cleanup);
    const requested = request(
      baseRequest(server.port, {
        presentationContexts: [
          { abstractSyntax: VERIFICATION, transferSyntaxes: [IMPLICIT_LE] },
          { abstractSyntax: CT_IMAGE_STORAGE, transferSyntaxes: [JPEG_BASELINE] },
        ],
      }),
      cleanup,
    );
    const error = await within(requested.end, 3_000, 'associate() end');
    expect(error).toBeInstanceOf(NoPresentationContextAcceptedError);
    expect((error as NoPresentationContextAcceptedError).results).toMatchObject([
      { abstractSyntax: VERIFICATION, result: 3 },
      { abstractSyntax: CT_IMAGE_STORAGE, result: 4 },
    ]);
    const acceptor = await server.association();
    expect(acceptor.acceptedContexts).toEqual([]);
    // Released, not aborted.
    expect(await finishedOf(acceptor)).toBeUndefined();
  });
});

describe('release and abort', () => {
  const policy = { abstractSyntaxes: { [VERIFICATION]: [IMPLICIT_LE] } };

  it('release from the requestor: associate() completes, the acceptor finishes with undefined', async () => {
    const server = await startServer(policy, cleanup);
    const requested = request(baseRequest(server.port), cleanup);
    const requestor = await requested.association;
    const acceptor = await server.association();
    const requestorStates = recordStates(requestor);
    const acceptorStates = recordStates(acceptor);
    await within(lastValueFrom(requestor.release(), { defaultValue: 'completed' }), 2_000, 'release()');
    expect(await requested.end).toBeUndefined();
    expect(await finishedOf(acceptor)).toBeUndefined();
    await Promise.all([lastValueFrom(requestor.states), lastValueFrom(acceptor.states)]);
    expect(requestorStates).toEqual(['Sta6', 'Sta7', 'Sta1']);
    expect(acceptorStates).toEqual(['Sta6', 'Sta8', 'Sta13', 'Sta1']);
  });

  it('release from the acceptor: the requestor answers and associate() completes', async () => {
    const server = await startServer(policy, cleanup);
    const requested = request(baseRequest(server.port), cleanup);
    const requestor = await requested.association;
    const acceptor = await server.association();
    const requestorStates = recordStates(requestor);
    const acceptorStates = recordStates(acceptor);
    await within(lastValueFrom(acceptor.release(), { defaultValue: 'completed' }), 2_000, 'release()');
    expect(await within(requested.end, 2_000, 'associate() end')).toBeUndefined();
    expect(await finishedOf(requestor)).toBeUndefined();
    await Promise.all([lastValueFrom(requestor.states), lastValueFrom(acceptor.states)]);
    expect(acceptorStates).toEqual(['Sta6', 'Sta7', 'Sta1']);
    expect(requestorStates).toEqual(['Sta6', 'Sta8', 'Sta13', 'Sta1']);
  });

  it('abort from the requestor: the acceptor finishes with AssociationAbortedError, source 0', async () => {
    const server = await startServer(policy, cleanup);
    const requested = request(baseRequest(server.port), cleanup);
    const requestor = await requested.association;
    const acceptor = await server.association();
    requestor.abort();
    const error = await expectAborted(finishedOf(acceptor), 0);
    expect(error.message).toMatch(/peer aborted/);
    await expectAborted(requested.end, 0);
    await lastValueFrom(requestor.states);
    expect(requestor.state).toBe('Sta1');
  });

  it('abort from the acceptor: associate() errors with AssociationAbortedError, source 0', async () => {
    const server = await startServer(policy, cleanup);
    const requested = request(baseRequest(server.port), cleanup);
    await requested.association;
    const acceptor = await server.association();
    acceptor.abort();
    const error = await expectAborted(requested.end, 0);
    expect(error.message).toMatch(/peer aborted/);
    await expectAborted(finishedOf(acceptor), 0);
  });

  it('release collision: both sides release in the same tick and both end released', async () => {
    const server = await startServer(policy, cleanup);
    const requested = request(baseRequest(server.port), cleanup);
    const requestor = await requested.association;
    const acceptor = await server.association();
    const requestorStates = recordStates(requestor);
    const acceptorStates = recordStates(acceptor);
    const releases = [
      lastValueFrom(requestor.release(), { defaultValue: 'released' }),
      lastValueFrom(acceptor.release(), { defaultValue: 'released' }),
    ];
    expect(await within(Promise.all(releases), 2_000, 'both releases')).toEqual(['released', 'released']);
    expect(await finishedOf(requestor)).toBeUndefined();
    expect(await finishedOf(acceptor)).toBeUndefined();
    expect(await requested.end).toBeUndefined();
    // PS3.8 9.2.3: the requestor answers first (Sta9 -> Sta11), the acceptor after the A-RELEASE-RP (Sta10 -> Sta12).
    await Promise.all([lastValueFrom(requestor.states), lastValueFrom(acceptor.states)]);
    expect(requestorStates).toEqual(['Sta6', 'Sta7', 'Sta9', 'Sta11', 'Sta1']);
    expect(acceptorStates).toEqual(['Sta6', 'Sta7', 'Sta10', 'Sta12', 'Sta13', 'Sta1']);
  });
});

describe('the peer closes the connection', () => {
  it('right after connecting (acceptor in Sta2): ends quietly and serve() keeps accepting', async () => {
    const server = await startServer({ abstractSyntaxes: { [VERIFICATION]: [IMPLICIT_LE] }, maxAssociations: 1 }, cleanup);
    const raw = await rawConnect(server.port, cleanup);
    raw.destroy();
    await raw.closed;
    await wait(50);
    // maxAssociations 1: accepted only if the closed connection no longer counts.
    const requested = request(baseRequest(server.port), cleanup);
    const requestor = await requested.association;
    await lastValueFrom(requestor.release(), { defaultValue: undefined });
    expect(await requested.end).toBeUndefined();
    expect(server.associations).toHaveLength(1);
    expect(server.errors).toEqual([]);
    expect(raw.received).toEqual([]);
  });

  it('after the A-ASSOCIATE-RQ, while the acceptor decides (Sta3): nothing is emitted, the late answer is dropped', async () => {
    let decisions = 0;
    const server = await startServer(
      {
        abstractSyntaxes: { [VERIFICATION]: [IMPLICIT_LE] },
        maxAssociations: 1,
        userIdentity: () => {
          decisions++;
          return wait(200).then(() => true);
        },
      },
      cleanup,
    );
    const raw = await rawConnect(server.port, cleanup);
    raw.send(associateRq());
    for (let i = 0; i < 100 && decisions === 0; i++) await wait(5);
    expect(decisions).toBe(1);
    raw.destroy();
    await wait(300);
    expect(server.associations).toHaveLength(0);
    expect(server.errors).toEqual([]);
    const requested = request(baseRequest(server.port), cleanup);
    await lastValueFrom((await requested.association).release(), { defaultValue: undefined });
    expect(server.associations).toHaveLength(1);
    expect(decisions).toBe(2);
  });

  it('once established (acceptor in Sta6): the served association finishes with AssociationAbortedError (A-P-ABORT)', async () => {
    const server = await startServer({ abstractSyntaxes: { [VERIFICATION]: [IMPLICIT_LE] } }, cleanup);
    const raw = await rawConnect(server.port, cleanup);
    raw.send(associateRq());
    const ac = await raw.expect('AssociateAc');
    expect(ac.presentationContexts).toEqual([{ id: 1, result: 0, transferSyntax: IMPLICIT_LE }]);
    const acceptor = await server.association();
    raw.destroy();
    const error = await expectAborted(finishedOf(acceptor), 2, 0);
    expect(error.message).toMatch(/closed in Sta6/);
    await lastValueFrom(acceptor.states);
    expect(acceptor.state).toBe('Sta1');
  });

  it('while our requestor waits for the A-ASSOCIATE-AC (Sta5): AssociationAbortedError', async () => {
    const peer = await rawServer(cleanup);
    const requested = request(baseRequest(peer.port), cleanup);
    const raw = await peer.peer();
    const rq = await raw.expect('AssociateRq');
    expect(rq.callingAeTitle).toBe('TEST_SCU');
    raw.destroy();
    const error = await expectAborted(requested.end, 2, 0);
    expect(error.message).toMatch(/closed in Sta5/);
    await expect(requested.association).rejects.toBeInstanceOf(AssociationAbortedError);
  });

  it('once established (requestor in Sta6): associate() errors with AssociationAbortedError', async () => {
    const peer = await rawServer(cleanup);
    const requested = request(baseRequest(peer.port), cleanup);
    const raw = await peer.peer();
    raw.send(acceptAll(await raw.expect('AssociateRq')));
    const requestor = await requested.association;
    expect(requestor.state).toBe('Sta6');
    raw.destroy();
    const error = await expectAborted(requested.end, 2, 0);
    expect(error.message).toMatch(/closed in Sta6/);
    await lastValueFrom(requestor.states);
    expect(requestor.state).toBe('Sta1');
  });

  it('while our requestor waits for the A-RELEASE-RP (Sta7): the release fails with AssociationAbortedError', async () => {
    const peer = await rawServer(cleanup);
    const requested = request(baseRequest(peer.port), cleanup);
    const raw = await peer.peer();
    raw.send(acceptAll(await raw.expect('AssociateRq')));
    const requestor = await requested.association;
    const releasing = lastValueFrom(requestor.release(), { defaultValue: undefined }).then(
      () => undefined,
      (e: unknown) => e,
    );
    await raw.expect('ReleaseRq');
    expect(requestor.state).toBe('Sta7');
    raw.destroy();
    const error = await expectAborted(requested.end, 2, 0);
    expect(error.message).toMatch(/closed in Sta7/);
    expect(await releasing).toBe(error);
  });
});

describe('bad input', () => {
  it('answers an unrecognized PDU type in Sta2 with A-ABORT (AA-1, service-user source) and closes', async () => {
    const server = await startServer({ abstractSyntaxes: { [VERIFICATION]: [IMPLICIT_LE] }, timeouts: { artim: 300 } }, cleanup);
    const raw = await rawConnect(server.port, cleanup);
    raw.sendBytes(Uint8Array.of(0x0a, 0x00, 0x00, 0x00, 0x00, 0x04, 0xde, 0xad, 0xbe, 0xef));
    // PS3.8 Table 9-10: Sta2 + Evt19 is AA-1, an A-ABORT with source 0 (reason sent as 0, not significant).
    const abort = await raw.expect('Abort');
    expect(abort).toEqual({ type: 'Abort', source: 0, reason: 0 });
    const t0 = performance.now();
    // Then Sta13: the ARTIM timer closes the connection if the peer does not.
    await within(raw.closed, 1_500, 'close');
    expect(raw.closedAt! - t0).toBeLessThan(1_000);
    expect(raw.received).toHaveLength(1);
    // The server keeps working.
    const requested = request(baseRequest(server.port), cleanup);
    await lastValueFrom((await requested.association).release(), { defaultValue: undefined });
    expect(server.associations).toHaveLength(1);
    expect(server.errors).toEqual([]);
  });

  it('aborts (2, 6) a P-DATA-TF longer than our maximum length, and other associations go on', async () => {
    const server = await startServer(
      { abstractSyntaxes: { [VERIFICATION]: [IMPLICIT_LE] }, maxPduLength: 1024, timeouts: { artim: 300 } },
      cleanup,
    );
    const other = request(baseRequest(server.port), cleanup);
    const otherRequestor = await other.association;
    const otherAcceptor = await server.association(0);

    const raw = await rawConnect(server.port, cleanup);
    raw.send(associateRq());
    const ac = await raw.expect('AssociateAc');
    expect(ac.userInformation).toContainEqual({ type: 'MaximumLength', maximumLength: 1024 });
    const victim = await server.association(1);
    raw.send({ type: 'PDataTf', pdvs: [{ presentationContextId: 1, command: true, last: true, value: new Uint8Array(2000) }] });
    expect(await raw.expect('Abort')).toEqual({ type: 'Abort', source: 2, reason: 6 });
    const error = await expectAborted(finishedOf(victim), 2, 6);
    expect(error.message).toMatch(/exceeds/);
    await within(raw.closed, 1_500, 'close');

    // The association opened before goes on: P-DATA still flows and it releases normally.
    expect(otherAcceptor.state).toBe('Sta6');
    const received = firstValueFrom(otherAcceptor.pData);
    await lastValueFrom(otherRequestor.send(echoLike(1000)), { defaultValue: undefined });
    expect((await within(received, 1_000, 'P-DATA')).pdvs[0]!.value).toHaveLength(1000);
    await lastValueFrom(otherRequestor.release(), { defaultValue: undefined });
    expect(await other.end).toBeUndefined();
    expect(await finishedOf(otherAcceptor)).toBeUndefined();
    // And a new one is accepted.
    const next = request(baseRequest(server.port), cleanup);
    await lastValueFrom((await next.association).release(), { defaultValue: undefined });
    expect(server.associations).toHaveLength(3);
    expect(server.errors).toEqual([]);
  });
});

describe('timers', () => {
  it('ARTIM: the acceptor closes a connection that sends no A-ASSOCIATE-RQ', async () => {
    const server = await startServer({ abstractSyntaxes: { [VERIFICATION]: [IMPLICIT_LE] }, timeouts: { artim: 200 } }, cleanup);
    const t0 = performance.now();
    const raw = await rawConnect(server.port, cleanup);
    await within(raw.closed, 1_000, 'close by the acceptor');
    const elapsed = raw.closedAt! - t0;
    expect(elapsed).toBeGreaterThanOrEqual(180);
    expect(elapsed).toBeLessThan(1_000);
    // AA-2: closed without a PDU.
    expect(raw.received).toEqual([]);
    expect(server.associations).toHaveLength(0);
  });

  it('ACSE: no answer to the A-ASSOCIATE-RQ gives AssociationTimeoutError (acse) after an A-ABORT', async () => {
    const peer = await rawServer(cleanup);
    const t0 = performance.now();
    const requested = request(baseRequest(peer.port, { timeouts: { acse: 200, artim: 200 } }), cleanup);
    const raw = await peer.peer();
    await raw.expect('AssociateRq');
    expect(await raw.expect('Abort', 1_000)).toEqual({ type: 'Abort', source: 0, reason: 0 });
    expect(performance.now() - t0).toBeGreaterThanOrEqual(180);
    const error = await within(requested.end, 2_000, 'associate() end');
    expect(error).toBeInstanceOf(AssociationTimeoutError);
    expect(error).toMatchObject({ timer: 'acse', milliseconds: 200 });
    // The raw peer never closed: the requestor's ARTIM (200 ms) did.
    await within(raw.closed, 1_000, 'close');
    expect(raw.ended).toBe(true);
  });

  it('connect: a TLS handshake that never completes gives AssociationTimeoutError (connect)', async () => {
    const peer = await rawServer(cleanup);
    const t0 = performance.now();
    const requested = request(baseRequest(peer.port, { tls: { servername: 'localhost' }, timeouts: { connect: 200 } }), cleanup);
    const raw = await peer.peer();
    const error = await within(requested.end, 2_000, 'associate() end');
    expect(performance.now() - t0).toBeGreaterThanOrEqual(180);
    expect(error).toBeInstanceOf(AssociationTimeoutError);
    expect(error).toMatchObject({ timer: 'connect', milliseconds: 200 });
    // The half-open TLS connection is dropped.
    await within(raw.closed, 1_000, 'close');
    expect(raw.received).toEqual([]);
  });

  it('idle: an association with no PDU for the idle time is released with AssociationTimeoutError (idle)', async () => {
    const server = await startServer({ abstractSyntaxes: { [VERIFICATION]: [IMPLICIT_LE] } }, cleanup);
    const requested = request(baseRequest(server.port, { timeouts: { idle: 200 } }), cleanup);
    const requestor = await requested.association;
    const t0 = performance.now();
    const acceptor = await server.association();
    // A P-DATA at 120 ms restarts the idle period.
    await wait(120);
    await lastValueFrom(requestor.send(echoLike()), { defaultValue: undefined });
    const error = await within(requested.end, 2_000, 'associate() end');
    expect(performance.now() - t0).toBeGreaterThanOrEqual(300);
    expect(error).toBeInstanceOf(AssociationTimeoutError);
    expect(error).toMatchObject({ timer: 'idle', milliseconds: 200 });
    // Released, not aborted: the acceptor saw a normal release.
    expect(await finishedOf(acceptor)).toBeUndefined();
  });
});

describe('P-DATA before anybody reads it', () => {
  it('is kept for the first subscriber of pData: a peer that sends right after its A-ASSOCIATE-AC loses nothing', async () => {
    const peer = await rawServer(cleanup);
    const requested = request(baseRequest(peer.port), cleanup);
    const raw = await peer.peer();
    raw.send(acceptAll(await raw.expect('AssociateRq')));
    // Three PDUs at once after the accept, before the requestor has looked at P-DATA.
    for (const n of [1, 2, 3])
      raw.send({ type: 'PDataTf', pdvs: [{ presentationContextId: 1, command: true, last: true, value: Uint8Array.of(n, n) }] });
    const association = await requested.association;
    await wait(150);
    const received: number[] = [];
    association.pData.subscribe((pdu) => received.push(pdu.pdvs[0]!.value[0]!));
    raw.send({ type: 'PDataTf', pdvs: [{ presentationContextId: 1, command: true, last: true, value: Uint8Array.of(4, 4) }] });
    const deadline = performance.now() + 2_000;
    while (received.length < 4 && performance.now() < deadline) await wait(10);
    expect(received).toEqual([1, 2, 3, 4]);
  });

  it('does not keep a release waiting when nobody reads it', async () => {
    const peer = await rawServer(cleanup);
    const requested = request(baseRequest(peer.port), cleanup);
    const raw = await peer.peer();
    raw.send(acceptAll(await raw.expect('AssociateRq')));
    // More than the 1 MiB kept for a first subscriber: reading pauses...
    const value = new Uint8Array(16_000);
    for (let i = 0; i < 80; i++) raw.send({ type: 'PDataTf', pdvs: [{ presentationContextId: 1, command: false, last: false, value }] });
    const association = await requested.association;
    await wait(200);
    // ...and a release without a reader reads again, to take the A-RELEASE-RP.
    const released = lastValueFrom(association.release(), { defaultValue: undefined });
    await raw.expect('ReleaseRq', 3_000);
    raw.send({ type: 'ReleaseRp' });
    await within(released, 3_000, 'release');
    expect(await requested.end).toBeUndefined();
  });
});

describe('the idle timer in the middle of a message', () => {
  it.each([
    ['between messages', true, 'ReleaseRq'],
    ['with a data set half received', false, 'Abort'],
  ] as const)('%s: %s', async (_when, last, expected) => {
    const server = await startServer({ abstractSyntaxes: { [VERIFICATION]: [IMPLICIT_LE] }, timeouts: { idle: 200, artim: 300 } }, cleanup);
    const raw = await rawConnect(server.port, cleanup);
    raw.send(associateRq());
    await raw.expect('AssociateAc');
    const acceptor = await server.association();
    raw.send({ type: 'PDataTf', pdvs: [{ presentationContextId: 1, command: false, last, value: new Uint8Array(64).fill(3) }] });
    // Then nothing: after 200 ms the acceptor releases (0x05) or aborts (0x07, service user, reason 0).
    const pdu = await raw.next(2_000);
    expect(pdu.type).toBe(expected);
    if (pdu.type === 'Abort') expect(pdu).toEqual({ type: 'Abort', source: 0, reason: 0 });
    else raw.send({ type: 'ReleaseRp' });
    const error = await finishedOf(acceptor);
    expect(error).toBeInstanceOf(AssociationTimeoutError);
    expect(error).toMatchObject({ timer: 'idle', milliseconds: 200 });
    expect((error as Error).message).toContain(last ? 'no PDU sent or received' : 'in the middle of a message');
  });
});

describe('TLS', () => {
  let dir = '';
  let key = '';
  let cert = '';
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'dimse-rx-tls-'));
    ({ key, cert } = makeCertificate(dir));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('associates, carries P-DATA and releases over TLS with a trusted certificate', async () => {
    const server = await startServer({ abstractSyntaxes: { [VERIFICATION]: [IMPLICIT_LE] }, tls: { key, cert } }, cleanup);
    const requested = request(baseRequest(server.port, { tls: { ca: cert, servername: 'localhost' } }), cleanup);
    const requestor = await requested.association;
    const acceptor = await server.association();
    expect(requestor.acceptedContexts).toHaveLength(1);
    const received = firstValueFrom(acceptor.pData);
    await lastValueFrom(requestor.send(echoLike(100)), { defaultValue: undefined });
    expect((await within(received, 1_000, 'P-DATA')).pdvs[0]!.value).toHaveLength(100);
    await lastValueFrom(requestor.release(), { defaultValue: undefined });
    expect(await requested.end).toBeUndefined();
    expect(await finishedOf(acceptor)).toBeUndefined();
  });

  it('fails with ConnectionError when the requestor does not trust the certificate', async () => {
    const server = await startServer({ abstractSyntaxes: { [VERIFICATION]: [IMPLICIT_LE] }, tls: { key, cert } }, cleanup);
    const requested = request(baseRequest(server.port, { tls: { servername: 'localhost' } }), cleanup);
    const error = await within(requested.end, 3_000, 'associate() end');
    expect(error).toBeInstanceOf(ConnectionError);
    expect((error as ConnectionError).code).toBe('DEPTH_ZERO_SELF_SIGNED_CERT');
    await wait(50);
    expect(server.associations).toHaveLength(0);
    expect(server.errors).toEqual([]);
  });
});

describe('withAssociation', () => {
  const policy = { abstractSyntaxes: { [VERIFICATION]: [IMPLICIT_LE] } };

  it('completes after the release once the work completes', async () => {
    const server = await startServer(policy, cleanup);
    let used: Association | undefined;
    const values = await lastValueFrom(
      withAssociation(baseRequest(server.port), (association) => {
        used = association;
        return of(association.acceptedContexts.length, association.state);
      }).pipe(
        map((v) => [v, used?.state]),
        toArray(),
      ),
    );
    // The values came while established; the result completed only after the release.
    expect(values).toEqual([
      [1, 'Sta6'],
      ['Sta6', 'Sta6'],
    ]);
    await lastValueFrom(used!.states, { defaultValue: undefined });
    expect(used?.state).toBe('Sta1');
    expect(await finishedOf(used!)).toBeUndefined();
    expect(await finishedOf(await server.association())).toBeUndefined();
  });

  it('passes the work error on and releases the association', async () => {
    const server = await startServer(policy, cleanup);
    let used: Association | undefined;
    const failure = new Error('work failed');
    await expect(
      lastValueFrom(
        withAssociation(baseRequest(server.port), (association) => {
          used = association;
          return throwError(() => failure);
        }),
      ),
    ).rejects.toBe(failure);
    expect(await finishedOf(used!)).toBeUndefined();
    expect(await finishedOf(await server.association())).toBeUndefined();
  });
});
