import type { Abort, AssociateAc, AssociateRj, AssociateRq, PDataTf, ReleaseRp, ReleaseRq } from '@dimse-rx/pdu';
import type { ActionName, EventName, StateName } from './table.js';

/** Which side of the association a machine is: AR-8 picks its next state from it. */
export type UlRole = 'requestor' | 'acceptor';

/** What the reducer folds over: the standard's state plus what AE-2, AA-2 and AR-8 need to know. */
export interface UlState {
  readonly name: StateName;
  readonly role: UlRole;
  /** The A-ASSOCIATE-RQ of Evt1, sent by AE-2 once the transport is connected. */
  readonly request?: AssociateRq;
  /** Whether ARTIM runs, so AA-2 stops it only "if running". */
  readonly artim: boolean;
}

/** PS3.8 9.2.2: the events, with the data each one carries. */
export type UlEvent =
  | { readonly type: 'Evt1'; readonly request: AssociateRq }
  | { readonly type: 'Evt2' }
  | { readonly type: 'Evt3'; readonly pdu: AssociateAc }
  | { readonly type: 'Evt4'; readonly pdu: AssociateRj }
  | { readonly type: 'Evt5' }
  | { readonly type: 'Evt6'; readonly pdu: AssociateRq }
  | { readonly type: 'Evt7'; readonly response: AssociateAc }
  | { readonly type: 'Evt8'; readonly response: AssociateRj }
  | { readonly type: 'Evt9'; readonly pdu: PDataTf }
  | { readonly type: 'Evt10'; readonly pdu: PDataTf }
  | { readonly type: 'Evt11' }
  | { readonly type: 'Evt12'; readonly pdu: ReleaseRq }
  | { readonly type: 'Evt13'; readonly pdu: ReleaseRp }
  | { readonly type: 'Evt14' }
  | { readonly type: 'Evt15' }
  | { readonly type: 'Evt16'; readonly pdu: Abort }
  | { readonly type: 'Evt17' }
  | { readonly type: 'Evt18' }
  | { readonly type: 'Evt19'; readonly reason: number; readonly problem: string };

/** Events that are primitives of the local user: outside the table they are the caller's error. */
export const LOCAL_PRIMITIVES: ReadonlySet<EventName> = new Set(['Evt1', 'Evt7', 'Evt8', 'Evt9', 'Evt11', 'Evt14', 'Evt15']);

/** Indications and confirmations to the local user (PS3.8 7.1 to 7.4). */
export type UlNotice =
  /** AE-6: an acceptable A-ASSOCIATE-RQ arrived; the user answers with Evt7 or Evt8. */
  | { readonly type: 'AssociateIndication'; readonly request: AssociateRq }
  /** AE-3 */
  | { readonly type: 'AssociateAccepted'; readonly response: AssociateAc }
  /** AE-4 */
  | { readonly type: 'AssociateRejected'; readonly response: AssociateRj }
  /** DT-2, AR-6 */
  | { readonly type: 'PDataIndication'; readonly pdu: PDataTf }
  /** AR-2 (collision false), AR-8 (collision true): the user answers with Evt14. */
  | { readonly type: 'ReleaseIndication'; readonly collision: boolean }
  /** AR-3, AR-10 */
  | { readonly type: 'ReleaseConfirmation' }
  /** AA-3 when the peer's user aborted: A-ABORT indication. */
  | { readonly type: 'AbortIndication'; readonly source: number; readonly reason: number }
  /**
   * AA-3 when the peer's provider aborted, AA-4 and AA-8: A-P-ABORT indication. `reason` is the
   * A-ABORT reason sent or received; `problem` says what happened.
   */
  | { readonly type: 'ProviderAbortIndication'; readonly source: number; readonly reason: number; readonly problem: string };

/** What the runner must do. The reducer does none of it. */
export type UlEffect =
  /** AE-1: open the transport connection. */
  | { readonly type: 'Connect' }
  /** Write a PDU on the transport. */
  | { readonly type: 'Send'; readonly pdu: AssociateRq | AssociateAc | AssociateRj | PDataTf | ReleaseRq | ReleaseRp | Abort }
  /** Close the transport connection. */
  | { readonly type: 'Close' }
  | { readonly type: 'StartArtim' }
  | { readonly type: 'StopArtim' }
  | { readonly type: 'Notify'; readonly notice: UlNotice }
  /** The table has no cell for this event in this state; `primitive` when the caller is at fault. */
  | { readonly type: 'NoTransition'; readonly state: StateName; readonly event: EventName; readonly primitive: boolean };

/** What the reducer returns: the next state, the action taken, and the effects to perform. */
export interface UlResult {
  readonly state: UlState;
  /** The action of Table 9-10 that was taken, if the table has one for the pair. */
  readonly action?: ActionName;
  readonly effects: readonly UlEffect[];
}
