/**
 * The life of one operation this side invokes, as a pure function like the association's state
 * machine: no I/O, no timers. The channel feeds it what happens and performs the effects.
 *
 * queued ──slot──▶ sending ──written──▶ sent ──pending──▶ pending ──final──▶ final
 *   │                 │                  └──────────final──────────────┘
 *   └─unsubscribe─▶ given up ◀─unsubscribe─┘ (nothing written)
 * sent | pending ──unsubscribe──▶ cancelling (C-CANCEL when cancelable, grace timer)
 * cancelling ──final──▶ cancelled;  ──grace──▶ given up (abort)
 * any live state ──ended | failed──▶ given up
 */

export type OperationStateName = 'queued' | 'sending' | 'sent' | 'pending' | 'cancelling' | 'final' | 'cancelled' | 'givenUp';

/** Where an operation is in its life, and what decides its next steps. */
export interface OperationState {
  readonly name: OperationStateName;
  /** The table says a C-CANCEL-RQ may end it (C-FIND, C-GET, C-MOVE). */
  readonly cancelable: boolean;
  /** Someone is still subscribed to its responses. */
  readonly subscribed: boolean;
}

/** What can happen to an operation. */
export type OperationEvent =
  /** A place in the asynchronous operations window is free for it. */
  | { readonly type: 'slot' }
  /** Its command has been handed to the socket: the peer may answer from now on. */
  | { readonly type: 'written' }
  | { readonly type: 'pending' }
  | { readonly type: 'final' }
  /** The caller unsubscribed. */
  | { readonly type: 'unsubscribe' }
  /** The grace time after a cancel passed without a final response. */
  | { readonly type: 'grace' }
  /** Sending it failed, or its response broke the protocol. */
  | { readonly type: 'failed' }
  /** The association ended. */
  | { readonly type: 'ended' };

/** What the channel does when the reducer says so. */
export type OperationEffect =
  /** Send the request (its turn in the window has come). */
  | 'send'
  /** Stop sending what is left of it (a data set being sent: the channel aborts if half is out). */
  | 'stopSending'
  /** Leave the queue of operations waiting for the window. */
  | 'dequeue'
  /** Give the response to the subscriber. */
  | 'emit'
  /** Read the response and drop it: nobody wants it. */
  | 'drop'
  | 'complete'
  /** Error the subscriber with why the operation ended. */
  | 'error'
  | 'sendCancel'
  | 'startGrace'
  | 'stopGrace'
  /** Free its place in the window. */
  | 'releaseSlot'
  /** Abort the association: the peer never ended an operation it was told to cancel. */
  | 'abort';

/** The next state and the effects to perform, in order. */
export interface OperationResult {
  readonly state: OperationState;
  readonly effects: readonly OperationEffect[];
}

/** An operation just asked for: queued for a place in the window, its caller subscribed. */
export const initialOperationState = (cancelable: boolean): OperationState => ({ name: 'queued', cancelable, subscribed: true });

/** States after which nothing more happens to the operation. */
export const isTerminal = (name: OperationStateName) => name === 'final' || name === 'cancelled' || name === 'givenUp';

const to = (
  state: OperationState,
  name: OperationStateName,
  effects: readonly OperationEffect[],
  subscribed = state.subscribed,
): OperationResult => ({
  state: { name, cancelable: state.cancelable, subscribed },
  effects,
});
const stay = (state: OperationState): OperationResult => ({ state, effects: [] });

/** The next state of an operation and the effects to perform for an event; events a state does not expect change nothing. */
export function operationReducer(state: OperationState, event: OperationEvent): OperationResult {
  const live = state.subscribed;
  switch (state.name) {
    case 'queued':
      switch (event.type) {
        case 'slot':
          return to(state, 'sending', ['send']);
        case 'unsubscribe':
          return to(state, 'givenUp', ['dequeue'], false);
        case 'ended':
        case 'failed':
          return to(state, 'givenUp', ['dequeue', 'error']);
        default:
          return stay(state);
      }
    case 'sending':
      switch (event.type) {
        case 'written':
          return to(state, 'sent', []);
        case 'unsubscribe':
          // Nothing of it reached the peer: forgotten, its place freed.
          return to(state, 'givenUp', ['stopSending', 'releaseSlot'], false);
        case 'ended':
        case 'failed':
          return to(state, 'givenUp', ['error', 'releaseSlot']);
        default:
          return stay(state);
      }
    case 'sent':
    case 'pending':
      switch (event.type) {
        case 'pending':
          return to(state, 'pending', ['emit']);
        case 'final':
          return to(state, 'final', ['emit', 'complete', 'releaseSlot']);
        case 'unsubscribe':
          // The peer has it: its answers are read and dropped until the final one, which a
          // C-CANCEL hastens where the table allows one; a peer that never ends it is aborted.
          return to(
            state,
            'cancelling',
            state.cancelable ? ['stopSending', 'sendCancel', 'startGrace'] : ['stopSending', 'startGrace'],
            false,
          );
        case 'ended':
        case 'failed':
          return to(state, 'givenUp', live ? ['error', 'releaseSlot'] : ['releaseSlot']);
        default:
          return stay(state);
      }
    case 'cancelling':
      switch (event.type) {
        case 'pending':
          return to(state, 'cancelling', ['drop']);
        case 'final':
          return to(state, 'cancelled', ['drop', 'stopGrace', 'releaseSlot']);
        case 'grace':
          return to(state, 'givenUp', ['abort', 'releaseSlot']);
        case 'ended':
        case 'failed':
          return to(state, 'givenUp', ['stopGrace', 'releaseSlot']);
        default:
          return stay(state);
      }
    default:
      // final, cancelled, given up: the operation is over; whatever still comes changes nothing.
      return event.type === 'pending' || event.type === 'final' ? { state, effects: ['drop'] } : stay(state);
  }
}
