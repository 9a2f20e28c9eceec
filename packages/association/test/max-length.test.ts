/**
 * A Maximum Length Sub-Item of 1 to 7 bytes (issue 8): no P-DATA-TF that short holds an even
 * fragment (6 bytes of PDV header, 2 of value at least), so not one message could be sent to that
 * side. The acceptor rejects such a request (A-ASSOCIATE-RJ permanent, service-user, no reason
 * given); the requestor aborts on such an accept (A-ABORT service-provider, invalid PDU parameter
 * value) and fails with why. 8 is the smallest that works; 0 means no limit. Over real sockets
 * on 127.0.0.1, against raw peers written with node:net.
 */
import { AssociationAbortedError, serve } from '@dimse-rx/association';
import { AbortReason, AbortSource, RejectReason, RejectResult, RejectSource } from '@dimse-rx/pdu';
import { afterEach, describe, expect, it } from 'vitest';
import {
  acceptAll,
  associateRq,
  baseRequest,
  Cleanup,
  rawConnect,
  rawServer,
  request,
  startServer,
  VERIFICATION,
  within,
} from './support.js';

const cleanup = new Cleanup();
afterEach(() => cleanup.run());

/** Verification accepted; a short ARTIM, so that the acceptor closes soon after a rejection. */
const policy = { abstractSyntaxes: { [VERIFICATION]: ['1.2.840.10008.1.2'] }, timeouts: { artim: 300 } };

describe('an A-ASSOCIATE-RQ with a Maximum Length of 1 to 7', () => {
  it.each([1, 2, 6, 7])('is rejected (permanent, service-user, no reason given) when it says %i', async (maxPduLength) => {
    const served = await startServer(policy, cleanup);
    const raw = await rawConnect(served.port, cleanup);
    raw.send(associateRq({}, maxPduLength));
    const rj = await raw.expect('AssociateRj');
    expect(rj).toEqual({
      type: 'AssociateRj',
      result: RejectResult.Permanent,
      source: RejectSource.ServiceUser,
      reason: RejectReason.ServiceUser.NoReasonGiven,
    });
    // The requestor does not close: ARTIM expires and the acceptor does (AA-2).
    await within(raw.closed, 3_000, 'the connection closed after the rejection');
    expect(served.associations).toEqual([]);
    expect(served.errors).toEqual([]);
  });

  it.each([0, 8, 9])('is accepted when it says %i (0: no limit, 8 the smallest that works)', async (maxPduLength) => {
    const served = await startServer(policy, cleanup);
    const raw = await rawConnect(served.port, cleanup);
    raw.send(associateRq({}, maxPduLength));
    await raw.expect('AssociateAc');
    const acceptor = await served.association();
    expect(acceptor.negotiation.peerMaxPduLength).toBe(maxPduLength);
  });

  it.each([1, 7])(
    'is not sent: associate() and serve() with maxPduLength %i fail with a RangeError, nothing on the wire',
    async (maxPduLength) => {
      const served = await startServer(policy, cleanup);
      const requested = request(baseRequest(served.port, { maxPduLength }), cleanup);
      const error = await within(requested.end, 3_000, 'associate() end');
      expect(error).toBeInstanceOf(RangeError);
      expect(error!.message).toBe(`maxPduLength: ${maxPduLength} is below 8, the least a P-DATA-TF carrying a message needs (0: no limit)`);
      expect(served.associations).toEqual([]);
      let serveError: unknown;
      serve({ ...policy, maxPduLength }).subscribe({ error: (e: unknown) => (serveError = e) });
      expect(serveError).toBeInstanceOf(RangeError);
    },
  );
});

describe('an A-ASSOCIATE-AC with a Maximum Length of 1 to 7', () => {
  it.each([1, 5, 7])('makes the requestor abort (service-provider, reason 6) and fail with why, when it says %i', async (maxPduLength) => {
    const peer = await rawServer(cleanup);
    const requested = request(baseRequest(peer.port), cleanup);
    const raw = await peer.peer();
    raw.send(acceptAll(await raw.expect('AssociateRq'), maxPduLength));
    const abort = await raw.expect('Abort');
    expect(abort).toEqual({ type: 'Abort', source: AbortSource.ServiceProvider, reason: AbortReason.InvalidPduParameterValue });
    const error = await within(requested.end, 3_000, 'associate() end');
    expect(error).toBeInstanceOf(AssociationAbortedError);
    expect(error).toMatchObject({ source: 2, reason: 6 });
    expect(error!.message).toContain(`the A-ASSOCIATE-AC gives a Maximum Length of ${maxPduLength}, below 8`);
    expect(error!.message).toContain('(source 2 service-provider, reason 6 invalid PDU parameter value)');
    // The association was never given out.
    await expect(requested.association).rejects.toBe(error);
    // AA-8 waits for the peer to close (ARTIM): the raw peer does, and sees nothing more.
    raw.destroy();
    expect(raw.received.map((pdu) => pdu.type)).toEqual(['AssociateRq', 'Abort']);
  });

  it.each([0, 8])('is taken when it says %i', async (maxPduLength) => {
    const peer = await rawServer(cleanup);
    const requested = request(baseRequest(peer.port), cleanup);
    const raw = await peer.peer();
    raw.send(acceptAll(await raw.expect('AssociateRq'), maxPduLength));
    const association = await within(requested.association, 3_000, 'the association');
    expect(association.state).toBe('Sta6');
    expect(association.negotiation.peerMaxPduLength).toBe(maxPduLength);
  });
});
