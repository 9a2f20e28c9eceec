import { initialUlState, STATE_TABLE, type UlEvent, type UlState, ulReducer } from '@dimse-rx/association';
import type { AssociateAc, AssociateRq, PDataTf } from '@dimse-rx/pdu';
import { describe, expect, it } from 'vitest';

/**
 * PS3.8 Table 9-10 transcribed again, here by rows (events) as the standard prints it, so that
 * the reducer's table is checked against an independent copy. '-' is an empty cell.
 */
const TABLE_9_10 = `
        Sta1 Sta2 Sta3 Sta4 Sta5 Sta6 Sta7 Sta8 Sta9 Sta10 Sta11 Sta12 Sta13
Evt1    AE-1 -    -    -    -    -    -    -    -    -     -     -     -
Evt2    -    -    -    AE-2 -    -    -    -    -    -     -     -     -
Evt3    -    AA-1 AA-8 -    AE-3 AA-8 AA-8 AA-8 AA-8 AA-8  AA-8  AA-8  AA-6
Evt4    -    AA-1 AA-8 -    AE-4 AA-8 AA-8 AA-8 AA-8 AA-8  AA-8  AA-8  AA-6
Evt5    AE-5 -    -    -    -    -    -    -    -    -     -     -     -
Evt6    -    AE-6 AA-8 -    AA-8 AA-8 AA-8 AA-8 AA-8 AA-8  AA-8  AA-8  AA-7
Evt7    -    -    AE-7 -    -    -    -    -    -    -     -     -     -
Evt8    -    -    AE-8 -    -    -    -    -    -    -     -     -     -
Evt9    -    -    -    -    -    DT-1 -    AR-7 -    -     -     -     -
Evt10   -    AA-1 AA-8 -    AA-8 DT-2 AR-6 AA-8 AA-8 AA-8  AA-8  AA-8  AA-6
Evt11   -    -    -    -    -    AR-1 -    -    -    -     -     -     -
Evt12   -    AA-1 AA-8 -    AA-8 AR-2 AR-8 AA-8 AA-8 AA-8  AA-8  AA-8  AA-6
Evt13   -    AA-1 AA-8 -    AA-8 AA-8 AR-3 AA-8 AA-8 AR-10 AR-3  AA-8  AA-6
Evt14   -    -    -    -    -    -    -    AR-4 AR-9 -     -     AR-4  -
Evt15   -    -    AA-1 AA-2 AA-1 AA-1 AA-1 AA-1 AA-1 AA-1  AA-1  AA-1  -
Evt16   -    AA-2 AA-3 -    AA-3 AA-3 AA-3 AA-3 AA-3 AA-3  AA-3  AA-3  AA-2
Evt17   -    AA-5 AA-4 AA-4 AA-4 AA-4 AA-4 AA-4 AA-4 AA-4  AA-4  AA-4  AR-5
Evt18   -    AA-2 -    -    -    -    -    -    -    -     -     -     AA-2
Evt19   -    AA-1 AA-8 -    AA-8 AA-8 AA-8 AA-8 AA-8 AA-8  AA-8  AA-8  AA-7
`;

/** Next states of the actions, PS3.8 Tables 9-6 to 9-9; AE-6 and AR-8 are checked case by case. */
const NEXT: Record<string, string> = {
  'AE-1': 'Sta4',
  'AE-2': 'Sta5',
  'AE-3': 'Sta6',
  'AE-4': 'Sta1',
  'AE-5': 'Sta2',
  'AE-7': 'Sta6',
  'AE-8': 'Sta13',
  'DT-1': 'Sta6',
  'DT-2': 'Sta6',
  'AR-1': 'Sta7',
  'AR-2': 'Sta8',
  'AR-3': 'Sta1',
  'AR-4': 'Sta13',
  'AR-5': 'Sta1',
  'AR-6': 'Sta7',
  'AR-7': 'Sta8',
  'AR-9': 'Sta11',
  'AR-10': 'Sta12',
  'AA-1': 'Sta13',
  'AA-2': 'Sta1',
  'AA-3': 'Sta1',
  'AA-4': 'Sta1',
  'AA-5': 'Sta1',
  'AA-6': 'Sta13',
  'AA-7': 'Sta13',
  'AA-8': 'Sta13',
};

const [header, ...rows] = TABLE_9_10.trim().split('\n');
const STATES = header!.trim().split(/\s+/);
const CELLS = rows.flatMap((row) => {
  const [event, ...actions] = row.trim().split(/\s+/);
  return actions.map((action, i) => ({ state: STATES[i]!, event: event!, action }));
});

const request: AssociateRq = {
  type: 'AssociateRq',
  protocolVersion: 1,
  calledAeTitle: 'SCP',
  callingAeTitle: 'SCU',
  applicationContextName: '1.2.840.10008.3.1.1.1',
  presentationContexts: [{ id: 1, abstractSyntax: '1.2.840.10008.1.1', transferSyntaxes: ['1.2.840.10008.1.2'] }],
  userInformation: [{ type: 'MaximumLength', maximumLength: 16384 }],
};
const accept: AssociateAc = {
  ...request,
  type: 'AssociateAc',
  presentationContexts: [{ id: 1, result: 0, transferSyntax: '1.2.840.10008.1.2' }],
};
const data: PDataTf = { type: 'PDataTf', pdvs: [{ presentationContextId: 1, command: true, last: true, value: new Uint8Array([1]) }] };

/** An instance of each event with the data it carries. */
const EVENTS: Record<string, UlEvent> = {
  Evt1: { type: 'Evt1', request },
  Evt2: { type: 'Evt2' },
  Evt3: { type: 'Evt3', pdu: accept },
  Evt4: { type: 'Evt4', pdu: { type: 'AssociateRj', result: 1, source: 1, reason: 7 } },
  Evt5: { type: 'Evt5' },
  Evt6: { type: 'Evt6', pdu: request },
  Evt7: { type: 'Evt7', response: accept },
  Evt8: { type: 'Evt8', response: { type: 'AssociateRj', result: 1, source: 1, reason: 3 } },
  Evt9: { type: 'Evt9', pdu: data },
  Evt10: { type: 'Evt10', pdu: data },
  Evt11: { type: 'Evt11' },
  Evt12: { type: 'Evt12', pdu: { type: 'ReleaseRq' } },
  Evt13: { type: 'Evt13', pdu: { type: 'ReleaseRp' } },
  Evt14: { type: 'Evt14' },
  Evt15: { type: 'Evt15' },
  Evt16: { type: 'Evt16', pdu: { type: 'Abort', source: 0, reason: 0 } },
  Evt17: { type: 'Evt17' },
  Evt18: { type: 'Evt18' },
  Evt19: { type: 'Evt19', reason: 6, problem: 'bad PDU' },
};

const at = (name: string, role: 'requestor' | 'acceptor' = 'requestor', artim = false): UlState =>
  ({ ...initialUlState(role), name, artim }) as UlState;

describe('PS3.8 Table 9-10', () => {
  it('has 123 cells, and the reducer has the same ones', () => {
    const filled = CELLS.filter((c) => c.action !== '-');
    expect(filled).toHaveLength(123);
    const ours = Object.entries(STATE_TABLE).flatMap(([state, row]) =>
      Object.entries(row).map(([event, action]) => ({ state, event, action })),
    );
    expect(ours.sort((a, b) => `${a.state}${a.event}`.localeCompare(`${b.state}${b.event}`))).toEqual(
      filled.sort((a, b) => `${a.state}${a.event}`.localeCompare(`${b.state}${b.event}`)),
    );
  });

  for (const cell of CELLS.filter((c) => c.action !== '-' && c.action !== 'AE-6' && c.action !== 'AR-8')) {
    it(`takes ${cell.action} to ${NEXT[cell.action]} on ${cell.event} in ${cell.state}`, () => {
      const result = ulReducer(at(cell.state), EVENTS[cell.event]!);
      expect(result.action).toBe(cell.action);
      expect(result.state.name).toBe(NEXT[cell.action]);
      expect(result.effects.some((e) => e.type === 'NoTransition')).toBe(false);
    });
  }

  it('takes AE-6 to Sta3 with an A-ASSOCIATE indication when the request is acceptable', () => {
    const result = ulReducer(at('Sta2', 'acceptor', true), EVENTS.Evt6!);
    expect(result.action).toBe('AE-6');
    expect(result.state).toEqual({ name: 'Sta3', role: 'acceptor', artim: false });
    expect(result.effects).toEqual([{ type: 'StopArtim' }, { type: 'Notify', notice: { type: 'AssociateIndication', request } }]);
  });

  it('takes AE-6 to Sta13 with A-ASSOCIATE-RJ (2, protocol version) when the protocol version lacks bit 0', () => {
    const result = ulReducer(at('Sta2', 'acceptor', true), { type: 'Evt6', pdu: { ...request, protocolVersion: 2 } });
    expect(result.action).toBe('AE-6');
    expect(result.state.name).toBe('Sta13');
    expect(result.state.artim).toBe(true);
    expect(result.effects).toEqual([
      { type: 'StopArtim' },
      { type: 'Send', pdu: { type: 'AssociateRj', result: 1, source: 2, reason: 2 } },
      { type: 'StartArtim' },
    ]);
  });

  it('takes AR-8 to Sta9 for the requestor and to Sta10 for the acceptor', () => {
    for (const [role, next] of [
      ['requestor', 'Sta9'],
      ['acceptor', 'Sta10'],
    ] as const) {
      const result = ulReducer(at('Sta7', role), EVENTS.Evt12!);
      expect(result.action).toBe('AR-8');
      expect(result.state.name).toBe(next);
      expect(result.effects).toEqual([{ type: 'Notify', notice: { type: 'ReleaseIndication', collision: true } }]);
    }
  });

  for (const cell of CELLS.filter((c) => c.action === '-')) {
    it(`changes nothing on ${cell.event} in ${cell.state}, where the table is empty`, () => {
      const state = at(cell.state);
      const result = ulReducer(state, EVENTS[cell.event]!);
      expect(result.state).toBe(state);
      expect(result.action).toBeUndefined();
      const primitive = ['Evt1', 'Evt7', 'Evt8', 'Evt9', 'Evt11', 'Evt14', 'Evt15'].includes(cell.event);
      expect(result.effects).toEqual([{ type: 'NoTransition', state: cell.state, event: cell.event, primitive }]);
    });
  }
});

describe('effects of the actions', () => {
  const run = (state: UlState, ...events: UlEvent[]) => {
    let s = state;
    const effects = [];
    for (const e of events) {
      const r = ulReducer(s, e);
      s = r.state;
      effects.push(...r.effects);
    }
    return { state: s, effects };
  };

  it('connects, then sends the A-ASSOCIATE-RQ of Evt1 once the transport is up (AE-1, AE-2)', () => {
    const { state, effects } = run(initialUlState('requestor'), EVENTS.Evt1!, EVENTS.Evt2!);
    expect(state.name).toBe('Sta5');
    expect(effects).toEqual([{ type: 'Connect' }, { type: 'Send', pdu: request }]);
  });

  it('confirms a rejection and closes the transport (AE-4)', () => {
    const { state, effects } = run(at('Sta5'), EVENTS.Evt4!);
    expect(state.name).toBe('Sta1');
    expect(effects).toEqual([
      { type: 'Notify', notice: { type: 'AssociateRejected', response: { type: 'AssociateRj', result: 1, source: 1, reason: 7 } } },
      { type: 'Close' },
    ]);
  });

  it('aborts with reason 2 (unexpected PDU) when an A-ASSOCIATE-RQ arrives in Sta6 (AA-8)', () => {
    const { state, effects } = run(at('Sta6'), EVENTS.Evt6!);
    expect(state).toEqual({ name: 'Sta13', role: 'requestor', artim: true });
    expect(effects).toEqual([
      { type: 'Send', pdu: { type: 'Abort', source: 2, reason: 2 } },
      { type: 'Notify', notice: { type: 'ProviderAbortIndication', source: 2, reason: 2, problem: 'unexpected Evt6 PDU in Sta6' } },
      { type: 'StartArtim' },
    ]);
  });

  it('aborts with the decoder reason when an invalid PDU arrives in Sta6 (AA-8)', () => {
    const { effects } = run(at('Sta6'), EVENTS.Evt19!);
    expect(effects[0]).toEqual({ type: 'Send', pdu: { type: 'Abort', source: 2, reason: 6 } });
  });

  it('sends a service-user A-ABORT and starts ARTIM on the local abort (AA-1), then closes on ARTIM expiry (AA-2)', () => {
    const { state, effects } = run(at('Sta6'), EVENTS.Evt15!, EVENTS.Evt18!);
    expect(state).toEqual({ name: 'Sta1', role: 'requestor', artim: false });
    expect(effects).toEqual([
      { type: 'Send', pdu: { type: 'Abort', source: 0, reason: 0 } },
      { type: 'StartArtim' },
      { type: 'StopArtim' },
      { type: 'Close' },
    ]);
  });

  it('tells A-ABORT from A-P-ABORT by the source of the received A-ABORT (AA-3)', () => {
    expect(run(at('Sta6'), { type: 'Evt16', pdu: { type: 'Abort', source: 0, reason: 0 } }).effects).toEqual([
      { type: 'Notify', notice: { type: 'AbortIndication', source: 0, reason: 0 } },
      { type: 'Close' },
    ]);
    expect(run(at('Sta6'), { type: 'Evt16', pdu: { type: 'Abort', source: 2, reason: 6 } }).effects).toEqual([
      { type: 'Notify', notice: { type: 'ProviderAbortIndication', source: 2, reason: 6, problem: 'the peer aborted' } },
      { type: 'Close' },
    ]);
  });

  it('releases as requestor: A-RELEASE-RQ, then confirmation and close on A-RELEASE-RP (AR-1, AR-3)', () => {
    const { state, effects } = run(at('Sta6'), EVENTS.Evt11!, EVENTS.Evt13!);
    expect(state.name).toBe('Sta1');
    expect(effects).toEqual([
      { type: 'Send', pdu: { type: 'ReleaseRq' } },
      { type: 'Notify', notice: { type: 'ReleaseConfirmation' } },
      { type: 'Close' },
    ]);
  });

  it('releases as acceptor: indication, A-RELEASE-RP and ARTIM, then stops ARTIM when the peer closes (AR-2, AR-4, AR-5)', () => {
    const { state, effects } = run(at('Sta6', 'acceptor'), EVENTS.Evt12!, EVENTS.Evt14!, EVENTS.Evt17!);
    expect(state.name).toBe('Sta1');
    expect(effects).toEqual([
      { type: 'Notify', notice: { type: 'ReleaseIndication', collision: false } },
      { type: 'Send', pdu: { type: 'ReleaseRp' } },
      { type: 'StartArtim' },
      { type: 'StopArtim' },
    ]);
  });

  it('resolves a release collision on the requestor side: Sta7, Sta9, Sta11, Sta1', () => {
    const states: string[] = [];
    let s = at('Sta6', 'requestor');
    for (const e of [EVENTS.Evt11!, EVENTS.Evt12!, EVENTS.Evt14!, EVENTS.Evt13!]) {
      s = ulReducer(s, e).state;
      states.push(s.name);
    }
    expect(states).toEqual(['Sta7', 'Sta9', 'Sta11', 'Sta1']);
  });

  it('resolves a release collision on the acceptor side: Sta7, Sta10, Sta12, Sta13, Sta1', () => {
    const states: string[] = [];
    let s = at('Sta6', 'acceptor');
    for (const e of [EVENTS.Evt11!, EVENTS.Evt12!, EVENTS.Evt13!, EVENTS.Evt14!, EVENTS.Evt17!]) {
      s = ulReducer(s, e).state;
      states.push(s.name);
    }
    expect(states).toEqual(['Sta7', 'Sta10', 'Sta12', 'Sta13', 'Sta1']);
  });

  it('closes without sending anything when aborted before the transport is up (AA-2 in Sta4)', () => {
    const { state, effects } = run(at('Sta4'), EVENTS.Evt15!);
    expect(state.name).toBe('Sta1');
    expect(effects).toEqual([{ type: 'Close' }]);
  });

  it('reports the transport closing in Sta6 as an A-P-ABORT (AA-4)', () => {
    expect(run(at('Sta6'), EVENTS.Evt17!).effects).toEqual([
      { type: 'Notify', notice: { type: 'ProviderAbortIndication', source: 2, reason: 0, problem: 'transport connection closed in Sta6' } },
    ]);
  });
});
