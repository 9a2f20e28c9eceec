/**
 * @dimse-rx/dataset: DICOM data sets without the network and without RxJS: transfer syntaxes,
 * the UID registry (SOP classes with names, storage SOP classes, query/retrieve models), Part 10
 * reading and writing, the data set codec over dcmjs, the streaming element reader and
 * transcoder, and `readAttributes()` for chosen attributes from the head of a stream. The
 * sample-study generator, for tests and demos, is `@dimse-rx/dataset/sample`.
 */

export { type ReadAttributesOptions, readAttributes } from './attributes.js';
export { DatasetCodecError, type DatasetCodecErrorKind, decodeDataset, encodeDataset, type NaturalizedDataset } from './codec.js';
export { type DicomFileHeader, inspectDicomBytes } from './dicom-file.js';
export {
  type OpenDicomFile,
  openDicomFile,
  readDicomFileHeader,
  readDicomFileHeaderSync,
  readPart10Header,
  readPart10HeaderSync,
} from './files.js';
export { type DataSetHead, DataSetHeadError, DataSetHeadReader, readDataSetHead, tagOf } from './head.js';
export {
  encodeFileMetaInformation,
  type FileMetaInformation,
  Part10Error,
  type Part10Header,
  parsePart10Header,
} from './part10.js';
export {
  describeUid,
  isStorageSopClass,
  STORAGE_SOP_CLASSES,
  type StorageSopClass,
  sopClassName,
  storageSopClass,
  transferSyntaxName,
} from './sop-classes.js';
export { createTranscoder, TranscodeError } from './transcode/index.js';
export {
  isUncompressed,
  TransferSyntax,
  type TransferSyntaxProperties,
  transferSyntaxProperties,
  UNCOMPRESSED_TRANSFER_SYNTAXES,
} from './transfer-syntax.js';
