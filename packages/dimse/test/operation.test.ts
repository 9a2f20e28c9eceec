/**
 * The invoking side's operation reducer, cell by cell: every state against every event, for a
 * cancelable operation (C-FIND) and, where it differs, one that is not (C-STORE).
 */
import { initialOperationState, isTerminal, type OperationEvent, type OperationStateName, operationReducer } from '@dimse-rx/dimse';
import { describe, expect, it } from 'vitest';

const STATES: readonly OperationStateName[] = ['queued', 'sending', 'sent', 'pending', 'cancelling', 'final', 'cancelled', 'givenUp'];
const EVENTS: readonly OperationEvent['type'][] = ['slot', 'written', 'pending', 'final', 'unsubscribe', 'grace', 'failed', 'ended'];

type Cell = readonly [OperationStateName, readonly string[], boolean?];
/** Expected next state, effects, and whether the caller is still subscribed (true unless said). Cells not listed change nothing. */
const TABLE: Readonly<Partial<Record<OperationStateName, Partial<Record<OperationEvent['type'], Cell>>>>> = {
  queued: {
    slot: ['sending', ['send']],
    unsubscribe: ['givenUp', ['dequeue'], false],
    failed: ['givenUp', ['dequeue', 'error']],
    ended: ['givenUp', ['dequeue', 'error']],
  },
  sending: {
    written: ['sent', []],
    unsubscribe: ['givenUp', ['stopSending', 'releaseSlot'], false],
    failed: ['givenUp', ['error', 'releaseSlot']],
    ended: ['givenUp', ['error', 'releaseSlot']],
  },
  sent: {
    pending: ['pending', ['emit']],
    final: ['final', ['emit', 'complete', 'releaseSlot']],
    unsubscribe: ['cancelling', ['stopSending', 'sendCancel', 'startGrace'], false],
    failed: ['givenUp', ['error', 'releaseSlot']],
    ended: ['givenUp', ['error', 'releaseSlot']],
  },
  pending: {
    pending: ['pending', ['emit']],
    final: ['final', ['emit', 'complete', 'releaseSlot']],
    unsubscribe: ['cancelling', ['stopSending', 'sendCancel', 'startGrace'], false],
    failed: ['givenUp', ['error', 'releaseSlot']],
    ended: ['givenUp', ['error', 'releaseSlot']],
  },
  cancelling: {
    pending: ['cancelling', ['drop']],
    final: ['cancelled', ['drop', 'stopGrace', 'releaseSlot']],
    grace: ['givenUp', ['abort', 'releaseSlot']],
    failed: ['givenUp', ['stopGrace', 'releaseSlot']],
    ended: ['givenUp', ['stopGrace', 'releaseSlot']],
  },
  final: { pending: ['final', ['drop']], final: ['final', ['drop']] },
  cancelled: { pending: ['cancelled', ['drop']], final: ['cancelled', ['drop']] },
  givenUp: { pending: ['givenUp', ['drop']], final: ['givenUp', ['drop']] },
};

/** The cancelling state is entered unsubscribed: its cells start from there. */
const startSubscribed = (name: OperationStateName) => name !== 'cancelling';

describe('operationReducer', () => {
  for (const name of STATES)
    for (const type of EVENTS) {
      it(`${name} × ${type}`, () => {
        const state = { name, cancelable: true, subscribed: startSubscribed(name) };
        const result = operationReducer(state, { type } as OperationEvent);
        const cell = TABLE[name]?.[type];
        if (!cell) {
          expect(result.state).toBe(state);
          expect(result.effects).toEqual([]);
          return;
        }
        const [next, effects, subscribed = startSubscribed(name)] = cell;
        expect(result.state).toEqual({ name: next, cancelable: true, subscribed });
        expect(result.effects).toEqual(effects);
      });
    }

  it('gives up a non-cancelable operation without a C-CANCEL: its answers are awaited for the grace time', () => {
    for (const name of ['sent', 'pending'] as const) {
      const result = operationReducer({ name, cancelable: false, subscribed: true }, { type: 'unsubscribe' });
      expect(result.state.name).toBe('cancelling');
      expect(result.effects).toEqual(['stopSending', 'startGrace']);
    }
  });

  it('does not error a subscriber that already left, when the association ends', () => {
    const result = operationReducer({ name: 'pending', cancelable: true, subscribed: false }, { type: 'ended' });
    expect(result.effects).toEqual(['releaseSlot']);
  });

  it('starts queued, subscribed; ends in final, cancelled or given up', () => {
    expect(initialOperationState(true)).toEqual({ name: 'queued', cancelable: true, subscribed: true });
    expect(STATES.filter(isTerminal)).toEqual(['final', 'cancelled', 'givenUp']);
  });

  it('runs a whole C-FIND that is cancelled: queued, sending, sent, pending, cancelling, cancelled', () => {
    let state = initialOperationState(true);
    const path: string[] = [state.name];
    for (const type of ['slot', 'written', 'pending', 'pending', 'unsubscribe', 'pending', 'final'] as const) {
      state = operationReducer(state, { type }).state;
      path.push(state.name);
    }
    expect(path).toEqual(['queued', 'sending', 'sent', 'pending', 'pending', 'cancelling', 'cancelling', 'cancelled']);
  });
});
