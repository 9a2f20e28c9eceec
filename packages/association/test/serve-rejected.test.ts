import type { AssociateRj, AssociateRq } from '@dimse-rx/pdu';
import { afterEach, describe, expect, it } from 'vitest';
import { baseRequest, Cleanup, expectRejected, IMPLICIT_LE, request, startServer, VERIFICATION } from './support.js';

describe('serve(): onRejected', () => {
  const cleanup = new Cleanup();
  afterEach(() => cleanup.run());

  it('tells of each rejected request, with the requestor address, its request and the A-ASSOCIATE-RJ', async () => {
    const rejected: { peer: string; request: AssociateRq; response: AssociateRj }[] = [];
    const served = await startServer(
      {
        aeTitles: ['ONLY-ME'],
        abstractSyntaxes: { [VERIFICATION]: [IMPLICIT_LE] },
        onRejected: (r) => rejected.push(r),
      },
      cleanup,
    );
    const refused = request(baseRequest(served.port, { calledAeTitle: 'SOMEONE' }), cleanup);
    // Called AE title not recognized: permanent, service-user, reason 7 (PS3.8 9.3.4).
    await expectRejected(refused.end, 1, 1, 7);
    const accepted = request(baseRequest(served.port, { calledAeTitle: 'ONLY-ME' }), cleanup);
    await accepted.association;
    expect(rejected).toHaveLength(1);
    expect(rejected[0]!.peer).toMatch(/^127\.0\.0\.1:\d+$/);
    expect(rejected[0]!.request).toMatchObject({ callingAeTitle: 'TEST_SCU', calledAeTitle: 'SOMEONE' });
    expect(rejected[0]!.response).toMatchObject({ type: 'AssociateRj', result: 1, source: 1, reason: 7 });
  });

  it('keeps serving when onRejected throws', async () => {
    const served = await startServer(
      {
        aeTitles: ['ONLY-ME'],
        abstractSyntaxes: { [VERIFICATION]: [IMPLICIT_LE] },
        onRejected: () => {
          throw new Error('a broken logger');
        },
      },
      cleanup,
    );
    await expectRejected(request(baseRequest(served.port, { calledAeTitle: 'SOMEONE' }), cleanup).end, 1, 1, 7);
    await request(baseRequest(served.port, { calledAeTitle: 'ONLY-ME' }), cleanup).association;
    expect(served.errors).toEqual([]);
  });
});
