/**
 * @dimse-rx/pdu: the DICOM Upper Layer PDUs of PS3.8 section 9.3 as a typed model, with
 * `encodePdu` (and `encodePduParts` for vectored writes), `decodePdu`, the incremental `PduFramer` and one error type, `PduDecodeError`.
 * It knows nothing of sockets.
 */
export { AE_TITLE_MAX_LENGTH, normalizeAeTitle } from './ae-title.js';
export type { AbortReasonCode, PduTypeCode, PresentationContextResultCode, UserIdentityTypeCode } from './constants.js';
export {
  AbortReason,
  AbortSource,
  DICOM_APPLICATION_CONTEXT_NAME,
  IMPLEMENTATION_CLASS_UID,
  IMPLEMENTATION_VERSION_NAME,
  ItemType,
  PduType,
  PROTOCOL_VERSION,
  PresentationContextResult,
  RejectReason,
  RejectResult,
  RejectSource,
  UserIdentityType,
} from './constants.js';
export { decodePdu } from './decode.js';
export { encodePdu, encodePduParts } from './encode.js';
export { PduDecodeError, type PduDecodeErrorDetails } from './errors.js';
export { DEFAULT_MAX_ASSOCIATE_PDU_LENGTH, DEFAULT_MAX_PDU_LENGTH, PduFramer, type PduFramerOptions } from './framer.js';
export type * from './model.js';
