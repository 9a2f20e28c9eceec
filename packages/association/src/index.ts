/**
 * @dimse-rx/association: the DICOM Upper Layer (PS3.8). The state machine of Table 9-10 as a
 * pure reducer, transports for node:net and node:tls, negotiation, and the Observable API:
 * `associate()`, `withAssociation()` and `serve()`.
 */
export { type AssociateInternals, associate, withAssociation } from './associate.js';
export { Association } from './association.js';
export {
  AssociationAbortedError,
  AssociationRejectedError,
  AssociationTimeoutError,
  type AssociationTimer,
  ConnectionError,
  InvalidPrimitiveError,
  NoPresentationContextAcceptedError,
} from './errors.js';
export { initialUlState, ulReducer } from './fsm/reducer.js';
export { ACTIONS, type ActionName, EVENTS, type EventName, STATE_TABLE, STATES, type StateName } from './fsm/table.js';
export type { UlEffect, UlEvent, UlNotice, UlResult, UlRole, UlState } from './fsm/types.js';
export type { NegotiatedContext, NegotiatedRole, Negotiation } from './negotiation/outcome.js';
export {
  type AcceptorPolicy,
  type AssociateOptions,
  type CommonOptions,
  checkMaxPduLength,
  DEFAULT_MAX_PDU_LENGTH,
  IMPLEMENTATION_CLASS_UID,
  IMPLEMENTATION_VERSION_NAME,
  type ProposedContext,
  type ServeOptions,
  type UserIdentityDecision,
} from './options.js';
export { DEFAULT_TIMEOUTS, type MachineOptions, type Timeouts, UlMachine } from './runtime/machine.js';
export { type Listening, type ServeInternals, serve } from './serve.js';
export { connectTransport } from './transport/connect.js';
export { FakeTransport, linkedTransports } from './transport/fake.js';
export { socketTransport } from './transport/socket.js';
export type { Transport } from './transport/transport.js';
