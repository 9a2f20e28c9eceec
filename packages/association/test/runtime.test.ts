import {
  Association,
  AssociationAbortedError,
  AssociationTimeoutError,
  associate,
  DEFAULT_TIMEOUTS,
  FakeTransport,
  InvalidPrimitiveError,
  type Timeouts,
  UlMachine,
} from '@dimse-rx/association';
import type { AssociateAc, AssociateRq, Pdu } from '@dimse-rx/pdu';
import { map, NEVER, type Observable, of } from 'rxjs';
import { TestScheduler } from 'rxjs/testing';
import { describe, expect, it } from 'vitest';
import { negotiationOf } from '../src/negotiation/outcome.js';

const VERIFICATION = '1.2.840.10008.1.1';
const IMPLICIT = '1.2.840.10008.1.2';

const options = (timeouts: Partial<Timeouts> = {}) => ({
  host: 'fake',
  port: 104,
  callingAeTitle: 'SCU',
  calledAeTitle: 'SCP',
  presentationContexts: [{ abstractSyntax: VERIFICATION, transferSyntaxes: [IMPLICIT] }],
  timeouts,
});

const acceptFor = (rq: AssociateRq, maximumLength = 16384): AssociateAc => ({
  type: 'AssociateAc',
  protocolVersion: 1,
  calledAeTitle: rq.calledAeTitle,
  callingAeTitle: rq.callingAeTitle,
  applicationContextName: rq.applicationContextName,
  presentationContexts: rq.presentationContexts.map((pc) => ({ id: pc.id, result: 0, transferSyntax: pc.transferSyntaxes[0]! })),
  userInformation: [{ type: 'MaximumLength', maximumLength }],
});

const newScheduler = () => new TestScheduler((actual, expected) => expect(actual).toEqual(expected));

/** Records each PDU a fake transport writes with the virtual time it was written at. */
function recordWrites(scheduler: TestScheduler, fake: FakeTransport): string[] {
  const seen: string[] = [];
  const write = fake.write.bind(fake);
  fake.write = (bytes, onWritten) => {
    write(bytes, onWritten);
    const pdu = fake.writtenPdus.at(-1)!;
    seen.push(`${scheduler.now()} ${summarizePdu(pdu)}`);
  };
  const close = fake.close.bind(fake);
  fake.close = () => {
    close();
    seen.push(`${scheduler.now()} close`);
  };
  return seen;
}

function summarizePdu(pdu: Pdu): string {
  return pdu.type === 'Abort' ? `Abort(${pdu.source},${pdu.reason})` : pdu.type;
}

/** Two fakes wired to each other with a delay of `frames` virtual milliseconds each way. */
function link(scheduler: TestScheduler, a: FakeTransport, b: FakeTransport, frames = 1): void {
  for (const [from, to] of [
    [a, b],
    [b, a],
  ] as const) {
    const write = from.write.bind(from);
    from.write = (bytes, onWritten) => {
      write(bytes, onWritten);
      // What was written is the fake's last record, the PDU's parts joined.
      const written = from.written.at(-1)!;
      scheduler.schedule(() => to.receiveBytes(written), frames);
    };
    const close = from.close.bind(from);
    from.close = () => {
      close();
      scheduler.schedule(() => to.peerClose(), frames);
    };
  }
}

/** An acceptor machine answering every request with an accept, on a fake transport. */
function acceptor(
  transport: FakeTransport,
  timeouts: Partial<Timeouts> = {},
): { machine: UlMachine; association: () => Association | undefined } {
  const machine = new UlMachine({
    role: 'acceptor',
    maxPduLength: 16384,
    timeouts: { ...DEFAULT_TIMEOUTS, ...timeouts },
    label: 'acceptor',
  });
  let established: Association | undefined;
  machine.notices.subscribe((notice) => {
    if (notice.type === 'AssociateIndication') {
      const response = acceptFor(notice.request);
      machine.primitive({ type: 'Evt7', response });
      established = new Association(machine, negotiationOf('acceptor', notice.request, response));
    }
  });
  machine.acceptTransport(transport);
  return { machine, association: () => established };
}

const names = (machine: UlMachine): Observable<string> => machine.states.pipe(map((s) => s.name));

describe('the runtime over a fake transport, in virtual time', () => {
  it('closes the transport when no A-ASSOCIATE-RQ arrives before ARTIM expires (Sta2, Evt18, AA-2)', () => {
    const scheduler = newScheduler();
    const fake = new FakeTransport();
    let seen: string[] = [];
    scheduler.run(({ expectObservable }) => {
      seen = recordWrites(scheduler, fake);
      const { machine } = acceptor(fake, { artim: 1000 });
      expectObservable(names(machine)).toBe('a 999ms b', { a: 'Sta2', b: 'Sta1' });
    });
    expect(seen).toEqual(['1000 close']);
    expect(fake.writtenPdus).toEqual([]);
  });

  it('aborts when the A-ASSOCIATE-AC does not come within the ACSE timeout, then closes on ARTIM', () => {
    const scheduler = newScheduler();
    const fake = new FakeTransport();
    let seen: string[] = [];
    let error: unknown;
    scheduler.run(() => {
      seen = recordWrites(scheduler, fake);
      associate(options({ acse: 500, artim: 200 }), { connect: () => of(fake) }).subscribe({ error: (e) => (error = e) });
    });
    expect(seen).toEqual(['0 AssociateRq', '500 Abort(0,0)', '700 close']);
    expect(error).toBeInstanceOf(AssociationTimeoutError);
    expect((error as AssociationTimeoutError).timer).toBe('acse');
    expect((error as Error).message).toBe('acse timeout: no A-ASSOCIATE-AC or -RJ received within 500 ms');
  });

  it('fails with a connect timeout when the transport does not open in time', () => {
    const scheduler = newScheduler();
    let error: unknown;
    let at = -1;
    scheduler.run(() => {
      associate(options({ connect: 250 }), { connect: () => NEVER }).subscribe({
        error: (e) => {
          error = e;
          at = scheduler.now();
        },
      });
    });
    expect(at).toBe(250);
    expect(error).toMatchObject({ name: 'AssociationTimeoutError', timer: 'connect', milliseconds: 250 });
  });

  it('releases on unsubscribe: A-RELEASE-RQ written at once, transport closed on A-RELEASE-RP', () => {
    const scheduler = newScheduler();
    const fake = new FakeTransport();
    let seen: string[] = [];
    scheduler.run(({ cold, expectObservable, expectSubscriptions }) => {
      seen = recordWrites(scheduler, fake);
      const connection = cold<FakeTransport>('a', { a: fake });
      const states = associate(options(), { connect: () => connection }).pipe(map((a) => a.state));
      scheduler.schedule(() => fake.receive(acceptFor(fake.writtenPdus[0] as AssociateRq)), 5);
      scheduler.schedule(() => fake.receive({ type: 'ReleaseRp' }), 30);
      expectObservable(states, '^ 19ms !').toBe('5ms a', { a: 'Sta6' });
      expectSubscriptions(connection.subscriptions).toBe('(^!)');
    });
    expect(seen).toEqual(['0 AssociateRq', '20 ReleaseRq', '30 close']);
  });

  it('aborts on unsubscribe while the association is being negotiated (Sta5, Evt15, AA-1)', () => {
    const scheduler = newScheduler();
    const fake = new FakeTransport();
    let seen: string[] = [];
    scheduler.run(({ expectObservable }) => {
      seen = recordWrites(scheduler, fake);
      expectObservable(associate(options({ artim: 100 }), { connect: () => of(fake) }), '^ 9ms !').toBe('');
    });
    expect(seen).toEqual(['0 AssociateRq', '10 Abort(0,0)', '110 close']);
  });

  it('completes when released and errors with the abort the peer sent', () => {
    const scheduler = newScheduler();
    const released = new FakeTransport();
    const aborted = new FakeTransport();
    const ends: string[] = [];
    scheduler.run(() => {
      for (const [fake, name] of [
        [released, 'released'],
        [aborted, 'aborted'],
      ] as const) {
        associate(options(), { connect: () => of(fake) }).subscribe({
          next: (a) => {
            if (name === 'released') a.release().subscribe();
          },
          complete: () => ends.push(`${scheduler.now()} ${name} completed`),
          error: (e: AssociationAbortedError) => ends.push(`${scheduler.now()} ${name} ${e.name} ${e.source}/${e.reason}`),
        });
        scheduler.schedule(() => fake.receive(acceptFor(fake.writtenPdus[0] as AssociateRq)), 2);
      }
      scheduler.schedule(() => released.receive({ type: 'ReleaseRp' }), 4);
      scheduler.schedule(() => aborted.receive({ type: 'Abort', source: 2, reason: 5 }), 6);
    });
    expect(ends).toEqual(['4 released completed', '6 aborted AssociationAbortedError 2/5']);
    expect(aborted.closed).toBe(true);
  });

  it('aborts with reason 6 when the peer sends a P-DATA-TF longer than our maximum', () => {
    const scheduler = newScheduler();
    const fake = new FakeTransport();
    let seen: string[] = [];
    let error: unknown;
    scheduler.run(() => {
      seen = recordWrites(scheduler, fake);
      associate({ ...options({ artim: 50 }), maxPduLength: 1000 }, { connect: () => of(fake) }).subscribe({ error: (e) => (error = e) });
      scheduler.schedule(() => fake.receive(acceptFor(fake.writtenPdus[0] as AssociateRq)), 1);
      scheduler.schedule(
        () =>
          fake.receive({ type: 'PDataTf', pdvs: [{ presentationContextId: 1, command: true, last: true, value: new Uint8Array(995) }] }),
        2,
      );
    });
    expect(seen).toEqual(['0 AssociateRq', '2 Abort(2,6)', '52 close']);
    expect(error).toBeInstanceOf(AssociationAbortedError);
    expect((error as AssociationAbortedError).reason).toBe(6);
    expect((error as Error).message).toContain('PDU length 1001 exceeds the limit of 1000');
  });

  it('releases an idle association when the idle timer expires and reports the timeout', () => {
    const scheduler = newScheduler();
    const fake = new FakeTransport();
    let seen: string[] = [];
    let error: unknown;
    scheduler.run(() => {
      seen = recordWrites(scheduler, fake);
      associate(options({ idle: 300 }), { connect: () => of(fake) }).subscribe({
        next: (a) =>
          scheduler.schedule(
            () =>
              a
                .send({ type: 'PDataTf', pdvs: [{ presentationContextId: 1, command: true, last: true, value: new Uint8Array(4) }] })
                .subscribe(),
            100,
          ),
        error: (e) => (error = e),
      });
      scheduler.schedule(() => fake.receive(acceptFor(fake.writtenPdus[0] as AssociateRq)), 1);
      scheduler.schedule(() => fake.receive({ type: 'ReleaseRp' }), 450);
    });
    // Accepted at 1, P-DATA sent at 101: idle from 101, released at 401.
    expect(seen).toEqual(['0 AssociateRq', '101 PDataTf', '401 ReleaseRq', '450 close']);
    expect(error).toMatchObject({ name: 'AssociationTimeoutError', timer: 'idle' });
  });

  it('exchanges P-DATA between two machines (DT-1 on one side, DT-2 on the other)', () => {
    const scheduler = newScheduler();
    const a = new FakeTransport();
    const b = new FakeTransport();
    const received: string[] = [];
    scheduler.run(() => {
      link(scheduler, a, b);
      const server = acceptor(b);
      associate(options(), { connect: () => of(a) }).subscribe((association) => {
        association
          .send({ type: 'PDataTf', pdvs: [{ presentationContextId: 1, command: true, last: true, value: Uint8Array.of(1, 2, 3) }] })
          .subscribe();
      });
      scheduler.schedule(() => {
        server.association()?.pData.subscribe((pdu) => received.push(`${scheduler.now()} ${[...pdu.pdvs[0]!.value].join(',')}`));
      }, 2);
    });
    expect(received).toEqual(['3 1,2,3']);
  });

  it('resolves a release collision: requestor Sta7, Sta9, Sta11, Sta1; acceptor Sta7, Sta10, Sta12, Sta13, Sta1', () => {
    const scheduler = newScheduler();
    const a = new FakeTransport();
    const b = new FakeTransport();
    const ends: string[] = [];
    const requestorStates: string[] = [];
    const acceptorStates: string[] = [];
    scheduler.run(() => {
      link(scheduler, a, b);
      const server = acceptor(b);
      names(server.machine).subscribe((s) => acceptorStates.push(`${scheduler.now()} ${s}`));
      let requestor: Association | undefined;
      associate(options(), { connect: () => of(a) }).subscribe({
        next: (association) => (requestor = association),
        complete: () => ends.push(`${scheduler.now()} requestor completed`),
      });
      // RQ written at 0, read at 1 and answered, AC read at 2: both sides release at 5.
      scheduler.schedule(() => {
        requestor!.states.subscribe((s) => requestorStates.push(`${scheduler.now()} ${s}`));
        server.machine.finished.subscribe((e) => ends.push(`${scheduler.now()} acceptor ${e ? e.message : 'released'}`));
        requestor!.release().subscribe();
        server.association()!.release().subscribe();
      }, 5);
    });
    // Each side reads the other's A-RELEASE-RQ at 6; the requestor answers first (AR-9), the
    // acceptor answers once it has the requestor's A-RELEASE-RP (AR-10, then AR-4).
    expect(requestorStates).toEqual(['5 Sta6', '5 Sta7', '6 Sta9', '6 Sta11', '8 Sta1']);
    expect(acceptorStates).toEqual(['0 Sta2', '1 Sta3', '1 Sta6', '5 Sta7', '6 Sta10', '7 Sta12', '7 Sta13', '9 Sta1']);
    expect(ends).toEqual(['7 acceptor released', '8 requestor completed']);
    expect(a.writtenPdus.map((p) => p.type)).toEqual(['AssociateRq', 'ReleaseRq', 'ReleaseRp']);
    expect(b.writtenPdus.map((p) => p.type)).toEqual(['AssociateAc', 'ReleaseRq', 'ReleaseRp']);
  });

  it('refuses a P-DATA request after the association ended with InvalidPrimitiveError', () => {
    const scheduler = newScheduler();
    const fake = new FakeTransport();
    let association: Association | undefined;
    scheduler.run(() => {
      associate(options(), { connect: () => of(fake) }).subscribe({ next: (a) => (association = a), error: () => {} });
      scheduler.schedule(() => fake.receive(acceptFor(fake.writtenPdus[0] as AssociateRq)), 1);
      scheduler.schedule(() => fake.receive({ type: 'Abort', source: 0, reason: 0 }), 2);
    });
    let error: unknown;
    association!
      .send({ type: 'PDataTf', pdvs: [{ presentationContextId: 1, command: true, last: true, value: new Uint8Array(1) }] })
      .subscribe({ error: (e) => (error = e) });
    expect(error).toBeInstanceOf(InvalidPrimitiveError);
    expect((error as Error).message).toBe('Evt9 is not allowed in state Sta1');
  });

  it("refuses to send a P-DATA-TF longer than the peer's maximum, and says how much fits", () => {
    const scheduler = newScheduler();
    const fake = new FakeTransport();
    let association: Association | undefined;
    scheduler.run(() => {
      associate(options(), { connect: () => of(fake) }).subscribe((a) => (association = a));
      scheduler.schedule(() => fake.receive(acceptFor(fake.writtenPdus[0] as AssociateRq, 4096)), 1);
    });
    expect(association!.maxPdvValueLength).toBe(4090);
    let error: unknown;
    association!
      .send({ type: 'PDataTf', pdvs: [{ presentationContextId: 1, command: false, last: true, value: new Uint8Array(4091) }] })
      .subscribe({ error: (e) => (error = e) });
    expect(error).toBeInstanceOf(RangeError);
    expect((error as Error).message).toBe("P-DATA-TF of 4097 bytes exceeds the peer's maximum length of 4096");
    association!
      .send({ type: 'PDataTf', pdvs: [{ presentationContextId: 1, command: false, last: true, value: new Uint8Array(4090) }] })
      .subscribe();
    expect(fake.writtenPdus.map((p) => p.type)).toEqual(['AssociateRq', 'PDataTf']);
    expect(fake.written[1]!.length).toBe(6 + 4096);
  });
});
