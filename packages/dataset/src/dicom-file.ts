/**
 * What a DICOM file holds, read from its start: a Part 10 file (preamble, 'DICM', meta group,
 * PS3.10 7.1), a meta group without the preamble, or a bare data set as older archives keep
 * them. The SOP Class and Instance UIDs come from the data set itself, (0008,0016) and
 * (0008,0018), as storescu takes them: the meta header may disagree, and that is reported as a
 * warning rather than sent.
 */
import { DataSetHeadReader } from './head.js';
import { type FileMetaInformation, type NeedMore, Part10Error, parseMeta } from './part10.js';
import { TransferSyntax } from './transfer-syntax.js';

/** What a DICOM file holds before its data set: its Part 10 meta information (or what was detected without one) and where the data set starts. */
export interface DicomFileHeader {
  /** (0008,0016) of the data set; the meta header's (0002,0002) when the data set has none. */
  readonly sopClassUid: string;
  /** (0008,0018) of the data set; the meta header's (0002,0003) when the data set has none. */
  readonly sopInstanceUid: string;
  /** From the meta header, or detected from the first element of a bare data set. */
  readonly transferSyntaxUid: string;
  /** True for a Part 10 file (preamble and 'DICM'); false for a meta group alone or a bare data set. */
  readonly part10: boolean;
  /** The meta information, when the file has a meta group. */
  readonly meta?: FileMetaInformation;
  /** Where the data set starts. */
  readonly dataSetOffset: number;
  readonly fileSize: number;
  /** What disagrees or was guessed: meta UIDs that are not the data set's, a transfer syntax detected. */
  readonly warnings: readonly string[];
}

const SOP_CLASS_UID = 0x00080016;
const SOP_INSTANCE_UID = 0x00080018;
/** How far into the data set its SOP UIDs are looked for: they come within the first few hundred bytes. */
const MAX_HEAD = 64 * 1024;
const VRS = new Set('AE AS AT CS DA DS DT FD FL IS LO LT OB OD OF OL OV OW PN SH SL SQ SS ST SV TM UC UI UL UN UR US UT UV'.split(' '));

/**
 * The transfer syntax of a bare data set from its first element, as DCMTK guesses it: group
 * 0008 (every composite object starts with the SOP Common module's group), read little or big
 * endian, with a VR after the tag (explicit) or a 4-byte length (implicit).
 */
function detectSyntax(bytes: Uint8Array): string | undefined {
  if (bytes.length < 8) return undefined;
  const vr = String.fromCharCode(bytes[4]!, bytes[5]!);
  const little = bytes[0] === 0x08 && bytes[1] === 0x00;
  const big = bytes[0] === 0x00 && bytes[1] === 0x08;
  if (little) return VRS.has(vr) ? TransferSyntax.ExplicitVrLittleEndian : TransferSyntax.ImplicitVrLittleEndian;
  if (big && VRS.has(vr)) return TransferSyntax.ExplicitVrBigEndian;
  return undefined;
}

/** Reads the header from the start of a file: `bytes` at hand out of `fileSize`; or what more it needs. */
export function inspectDicom(bytes: Uint8Array, fileSize: number, source: string): DicomFileHeader | NeedMore {
  const warnings: string[] = [];
  let meta: FileMetaInformation | undefined;
  let part10 = false;
  let dataSetOffset = 0;
  let transferSyntaxUid: string;
  const dicm = bytes.length >= 132 && bytes[128] === 0x44 && bytes[129] === 0x49 && bytes[130] === 0x43 && bytes[131] === 0x4d;
  if (fileSize >= 132 && bytes.length < 132) return { needed: 132 };
  if (dicm || (bytes.length >= 2 && bytes[0] === 0x02 && bytes[1] === 0x00)) {
    // A Part 10 file, or its meta group without the preamble (some writers leave it out).
    const parsed = parseMeta(bytes, fileSize, source, dicm ? 132 : 0);
    if ('needed' in parsed) return parsed;
    part10 = dicm;
    meta = parsed.meta;
    dataSetOffset = parsed.dataSetOffset;
    transferSyntaxUid = parsed.meta.transferSyntaxUid;
    if (!dicm) warnings.push('no preamble before the meta group');
  } else {
    if (bytes.length < Math.min(8, fileSize)) return { needed: 8 };
    const detected = detectSyntax(bytes);
    if (!detected) throw new Part10Error(`${source}: not DICOM (no Part 10 header, and no data set starting with group 0008)`);
    transferSyntaxUid = detected;
    warnings.push(`no Part 10 header: a bare data set, read as ${detected}`);
  }
  const reader = new DataSetHeadReader(transferSyntaxUid, [SOP_CLASS_UID, SOP_INSTANCE_UID]);
  const available = Math.min(bytes.length, dataSetOffset + MAX_HEAD);
  reader.push(bytes.subarray(dataSetOffset, available));
  const atEnd = available >= fileSize;
  if (!reader.done && !atEnd && available < dataSetOffset + MAX_HEAD) return { needed: Math.min(fileSize, dataSetOffset + MAX_HEAD) };
  const head = atEnd ? reader.end() : reader.head;
  const sopClass = head.string(SOP_CLASS_UID);
  const sopInstance = head.string(SOP_INSTANCE_UID);
  if (!meta) {
    if (head.error) throw new Part10Error(`${source}: not a readable data set: ${head.error.message}`);
    if (!sopClass || !sopInstance) {
      throw new Part10Error(`${source}: no SOP Class UID (0008,0016) and SOP Instance UID (0008,0018) in the data set`);
    }
    return { sopClassUid: sopClass, sopInstanceUid: sopInstance, transferSyntaxUid, part10, dataSetOffset, fileSize, warnings };
  }
  const pick = (fromDataSet: string | undefined, fromMeta: string, name: string, dataTag: string, metaTag: string) => {
    if (!fromDataSet) {
      warnings.push(`no ${name} ${dataTag} found in the data set: the meta header's ${metaTag} ${fromMeta} is used`);
      return fromMeta;
    }
    if (fromDataSet !== fromMeta) {
      warnings.push(
        `the meta header's ${name} ${metaTag} ${fromMeta} is not the data set's ${dataTag} ${fromDataSet}: the data set's is used`,
      );
    }
    return fromDataSet;
  };
  return {
    sopClassUid: pick(sopClass, meta.mediaStorageSopClassUid, 'SOP Class UID', '(0008,0016)', '(0002,0002)'),
    sopInstanceUid: pick(sopInstance, meta.mediaStorageSopInstanceUid, 'SOP Instance UID', '(0008,0018)', '(0002,0003)'),
    transferSyntaxUid,
    part10,
    meta,
    dataSetOffset,
    fileSize,
    warnings,
  };
}

/** The header of DICOM bytes in memory. Throws Part10Error when they are not DICOM. */
export function inspectDicomBytes(bytes: Uint8Array, source = 'DICOM bytes'): DicomFileHeader {
  const result = inspectDicom(bytes, bytes.length, source);
  if ('needed' in result) throw new Part10Error(`${source}: truncated (needs ${result.needed} bytes)`);
  return result;
}
