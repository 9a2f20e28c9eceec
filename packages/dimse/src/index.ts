/**
 * @dimse-rx/dimse: DICOM message exchange (PS3.7) over dimse-rx associations: command sets,
 * fragmentation and reassembly, the data set codec, and the services.
 */
// The data set layer, re-exported: transfer syntaxes, UIDs, Part 10, the codec, the streaming reader.
export * from '@dimse-rx/dataset';
export {
  CancelGraceExpiredError,
  type Cancellation,
  type DataSource,
  DEFAULT_CANCEL_GRACE,
  DimseChannel,
  DimseProtocolError,
  dimse,
  type HandleOptions,
  type IncomingRequest,
  mayInvoke,
  type Registration,
  type RequestHandler,
  type RequestOptions,
  type ResponseSpec,
  RoleNotNegotiatedError,
  type SendProgress,
  type SopClassSelector,
  VERIFICATION_SOP_CLASS,
} from './channel.js';
export { type ErrorDetail, type RequestCommand, Requests, Responses, type SubOperationCounts } from './command/builders.js';
export { type Command, CommandError, checkCommand, decodeCommand, encodeCommand, hasDataSet, parseCommand } from './command/codec.js';
export { CommandField, CommandTag, DATA_SET_PRESENT, isResponse, NO_DATA_SET, Priority } from './command/fields.js';
export {
  type DimseService,
  type DimseStatus,
  dimseStatus,
  FindStatus,
  RetrieveStatus,
  Status,
  type StatusKind,
  StoreStatus,
  statusKind,
  statusMeaning,
} from './command/status.js';
export { COMMANDS, type CommandSpec, commandName, commandSpec, type DataSetRule, sopClassOf } from './command/table.js';
export { type AssembleOptions, assembleMessages, MessageAssembler, MessageAssemblyError } from './message/assemble.js';
export { DataSetStream } from './message/data-set-stream.js';
export { Fragmenter, fragment } from './message/fragment.js';
export type { DimseMessage } from './message/message.js';
export { type PeekedDataSet, peekHead } from './message/peek.js';
export {
  type DataSetPolicy,
  type DimseResponse,
  type InvokeOptions,
  invoke,
  NoPresentationContextError,
  type PolicyDataSet,
} from './operation/invoke.js';
export {
  initialOperationState,
  isTerminal,
  type OperationEffect,
  type OperationEvent,
  type OperationResult,
  type OperationState,
  type OperationStateName,
  operationReducer,
} from './operation/reducer.js';
export { OperationTimeoutError, type OperationTimeouts, type TimeoutLimit, withTimeouts } from './operation/timeouts.js';
export { associate, withAssociation } from './services/associate.js';
export { echo } from './services/echo.js';
export { type FileSinkOptions, fileSink } from './services/file-sink/sink.js';
export {
  type FindMatch,
  type FindMatchesOptions,
  type FindOptions,
  find,
  findMatches,
  type Query,
  QueryFailedError,
  QueryKeyError,
  QueryModel,
  type QueryModelName,
  queryIdentifier,
} from './services/query/find.js';
export {
  dateRange,
  dateTimeRange,
  dicomDate,
  dicomTime,
  sequenceMatch,
  sequenceReturnKey,
  timeRange,
  uidList,
} from './services/query/matching.js';
export {
  agreedQueryNegotiation,
  agreedRetrieveNegotiation,
  agreedWorklistNegotiation,
  decodeQueryNegotiation,
  decodeRetrieveNegotiation,
  decodeWorklistNegotiation,
  type ExtendedNegotiationItem,
  encodeQueryNegotiation,
  encodeRetrieveNegotiation,
  encodeWorklistNegotiation,
  extendedNegotiationPolicy,
  extendedNegotiationReply,
  type NegotiationSupport,
  type QueryNegotiation,
  queryNegotiationItems,
  type RetrieveNegotiation,
  retrieveNegotiationItems,
  type WorklistNegotiation,
  worklistNegotiationItems,
} from './services/query/negotiation.js';
export {
  COMMON_STORAGE_SOP_CLASSES,
  type ExpectedMove,
  type GetOptions,
  get,
  type MoveOptions,
  type MoveReceiver,
  type MoveReceiverOptions,
  move,
  moveReceiver,
  type RetrieveContexts,
  type RetrieveEvent,
  RetrieveFailedError,
  type RetrieveFailure,
  type RetrieveOptions,
  type RetrieveProgress,
  type RetrieveResult,
  type RetrieveStored,
  type RetrieveToSelfOptions,
  retrieve,
  retrieveContexts,
  retrieveIdentifier,
} from './services/query/retrieve.js';
export { type ScpOptions, type Service, scp } from './services/scp.js';
export { type StoreAllEvent, storeAll } from './services/store/batch.js';
export { proposedTransferSyntaxes, storageContexts, type TransferSyntaxProposal } from './services/store/contexts.js';
export type { StoreInput } from './services/store/input.js';
export { type PoolInput, type StorePoolEvent, type StorePoolOptions, storePool } from './services/store/pool.js';
export { type StoreEvent, type StoreOptions, store } from './services/store/store.js';
export {
  acceptStorage,
  discardSink,
  type StorageHandler,
  type StoreAnswer,
  type StoredObject,
  type StoreRequestInfo,
  storageRequestHandler,
} from './services/store-scp.js';
