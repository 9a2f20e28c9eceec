/**
 * @dimse-rx/dimse: DICOM message exchange (PS3.7) over dimse-rx associations.
 */
export {
  isUncompressed,
  TransferSyntax,
  type TransferSyntaxProperties,
  transferSyntaxProperties,
  UNCOMPRESSED_TRANSFER_SYNTAXES,
} from './dataset/transfer-syntax.js';
