import { AbortReason, AbortSource, type AssociateRj, RejectReason, RejectResult, RejectSource } from '@dimse-rx/pdu';
import { ACTIONS, type ActionName, STATE_TABLE, type StateName } from './table.js';
import { LOCAL_PRIMITIVES, type UlEffect, type UlEvent, type UlResult, type UlRole, type UlState } from './types.js';

/** The state a machine starts in: Sta1, idle, with its role fixed for AR-8. */
export function initialUlState(role: UlRole): UlState {
  return { name: 'Sta1', role, artim: false };
}

/** PS3.8 9.3.2: the only protocol version is bit 0; a request without it is not acceptable (AE-6). */
const PROTOCOL_VERSION_NOT_SUPPORTED: AssociateRj = {
  type: 'AssociateRj',
  result: RejectResult.Permanent,
  source: RejectSource.ServiceProviderAcse,
  reason: RejectReason.ServiceProviderAcse.ProtocolVersionNotSupported,
};

/** Why an unexpected PDU (or an invalid one) aborts: the A-ABORT reason and a description. */
function abortCause(event: UlEvent, state: StateName): { reason: number; problem: string } {
  if (event.type === 'Evt19') return { reason: event.reason, problem: event.problem };
  if (event.type === 'Evt17') return { reason: AbortReason.NotSpecified, problem: `transport connection closed in ${state}` };
  return { reason: AbortReason.UnexpectedPdu, problem: `unexpected ${event.type} PDU in ${state}` };
}

const providerAbort = (reason: number): UlEffect => ({
  type: 'Send',
  pdu: { type: 'Abort', source: AbortSource.ServiceProvider, reason },
});

/**
 * The DICOM Upper Layer state machine of PS3.8 Table 9-10 as a pure function: no I/O, no
 * timers, no clock, no throwing. It returns the next state and the effects a runner performs.
 * A pair the table leaves empty changes nothing and returns a NoTransition effect, marked as a
 * primitive when the local user asked for something the state does not allow.
 */
export function ulReducer(state: UlState, event: UlEvent): UlResult {
  const action = STATE_TABLE[state.name][event.type];
  if (action === undefined) {
    return {
      state,
      effects: [{ type: 'NoTransition', state: state.name, event: event.type, primitive: LOCAL_PRIMITIVES.has(event.type) }],
    };
  }
  const { name, effects, request } = perform(action, state, event);
  const artim = effects.reduce((running, e) => (e.type === 'StartArtim' ? true : e.type === 'StopArtim' ? false : running), state.artim);
  // An action that changes nothing (DT-1, DT-2: data in Sta6) gives back the same state object.
  const same = name === state.name && artim === state.artim && request === state.request;
  const next: UlState = same ? state : request ? { name, role: state.role, request, artim } : { name, role: state.role, artim };
  return { state: next, action, effects };
}

interface Performed {
  readonly name: StateName;
  readonly effects: UlEffect[];
  readonly request?: UlState['request'];
}

/** The next state of an action; AE-6 and AR-8, which have two, choose theirs in `perform`. */
function single(action: ActionName): StateName {
  const next: StateName | readonly StateName[] = ACTIONS[action].next;
  return typeof next === 'string' ? next : next[0]!;
}

function perform(action: ActionName, state: UlState, event: UlEvent): Performed {
  const to = (effects: UlEffect[], request?: UlState['request']): Performed =>
    request ? { name: single(action), effects, request } : { name: single(action), effects };
  switch (action) {
    case 'AE-1':
      // Issue TRANSPORT CONNECT; AE-2 sends the request once connected.
      return event.type === 'Evt1' ? to([{ type: 'Connect' }], event.request) : to([{ type: 'Connect' }]);
    case 'AE-2':
      return state.request ? to([{ type: 'Send', pdu: state.request }]) : to([]);
    case 'AE-3':
      return to(event.type === 'Evt3' ? [{ type: 'Notify', notice: { type: 'AssociateAccepted', response: event.pdu } }] : []);
    case 'AE-4':
      return to(
        event.type === 'Evt4'
          ? [{ type: 'Notify', notice: { type: 'AssociateRejected', response: event.pdu } }, { type: 'Close' }]
          : [{ type: 'Close' }],
      );
    case 'AE-5':
      return to([{ type: 'StartArtim' }]);
    case 'AE-6': {
      if (event.type !== 'Evt6') return { name: 'Sta13', effects: [{ type: 'StopArtim' }, { type: 'StartArtim' }] };
      if ((event.pdu.protocolVersion & 0x0001) === 0) {
        return {
          name: 'Sta13',
          effects: [{ type: 'StopArtim' }, { type: 'Send', pdu: PROTOCOL_VERSION_NOT_SUPPORTED }, { type: 'StartArtim' }],
        };
      }
      return {
        name: 'Sta3',
        effects: [{ type: 'StopArtim' }, { type: 'Notify', notice: { type: 'AssociateIndication', request: event.pdu } }],
      };
    }
    case 'AE-7':
      return to(event.type === 'Evt7' ? [{ type: 'Send', pdu: event.response }] : []);
    case 'AE-8':
      return to(event.type === 'Evt8' ? [{ type: 'Send', pdu: event.response }, { type: 'StartArtim' }] : [{ type: 'StartArtim' }]);
    case 'DT-1':
    case 'AR-7':
      return to(event.type === 'Evt9' ? [{ type: 'Send', pdu: event.pdu }] : []);
    case 'DT-2':
    case 'AR-6':
      return to(event.type === 'Evt10' ? [{ type: 'Notify', notice: { type: 'PDataIndication', pdu: event.pdu } }] : []);
    case 'AR-1':
      return to([{ type: 'Send', pdu: { type: 'ReleaseRq' } }]);
    case 'AR-2':
      return to([{ type: 'Notify', notice: { type: 'ReleaseIndication', collision: false } }]);
    case 'AR-3':
      return to([{ type: 'Notify', notice: { type: 'ReleaseConfirmation' } }, { type: 'Close' }]);
    case 'AR-4':
      return to([{ type: 'Send', pdu: { type: 'ReleaseRp' } }, { type: 'StartArtim' }]);
    case 'AR-5':
    case 'AA-5':
      return to([{ type: 'StopArtim' }]);
    case 'AR-8':
      // Release collision: the requestor answers first (Sta9), the acceptor waits for its A-RELEASE-RP (Sta10).
      return {
        name: state.role === 'requestor' ? 'Sta9' : 'Sta10',
        effects: [{ type: 'Notify', notice: { type: 'ReleaseIndication', collision: true } }],
      };
    case 'AR-9':
      return to([{ type: 'Send', pdu: { type: 'ReleaseRp' } }]);
    case 'AR-10':
      return to([{ type: 'Notify', notice: { type: 'ReleaseConfirmation' } }]);
    case 'AA-1':
      // The local user's A-ABORT (Evt15), or an unexpected PDU in Sta2 before any association
      // exists; the standard gives AA-1 the service-user source in both cases.
      return to([{ type: 'Send', pdu: { type: 'Abort', source: AbortSource.ServiceUser, reason: 0 } }, { type: 'StartArtim' }]);
    case 'AA-2':
      return to(state.artim ? [{ type: 'StopArtim' }, { type: 'Close' }] : [{ type: 'Close' }]);
    case 'AA-3': {
      const pdu = event.type === 'Evt16' ? event.pdu : { source: AbortSource.ServiceUser, reason: 0 };
      const notice =
        pdu.source === AbortSource.ServiceProvider
          ? ({ type: 'ProviderAbortIndication', source: pdu.source, reason: pdu.reason, problem: 'the peer aborted' } as const)
          : ({ type: 'AbortIndication', source: pdu.source, reason: pdu.reason } as const);
      return to([{ type: 'Notify', notice }, { type: 'Close' }]);
    }
    case 'AA-4': {
      const { reason, problem } = abortCause(event, state.name);
      return to([{ type: 'Notify', notice: { type: 'ProviderAbortIndication', source: AbortSource.ServiceProvider, reason, problem } }]);
    }
    case 'AA-6':
      return to([]);
    case 'AA-7':
      return to([providerAbort(abortCause(event, state.name).reason)]);
    case 'AA-8': {
      const { reason, problem } = abortCause(event, state.name);
      return to([
        providerAbort(reason),
        { type: 'Notify', notice: { type: 'ProviderAbortIndication', source: AbortSource.ServiceProvider, reason, problem } },
        { type: 'StartArtim' },
      ]);
    }
  }
}
