/**
 * Value representations as the transcoder needs them: header size in explicit VR, byte-swap unit,
 * and the VR of an element read in Implicit VR (from the dcmjs data dictionary).
 */
import { dcmjs } from '../dcmjs.js';

/** Every VR of PS3.5 Table 6.2-1. */
const KNOWN_VRS = new Set([
  'AE',
  'AS',
  'AT',
  'CS',
  'DA',
  'DS',
  'DT',
  'FD',
  'FL',
  'IS',
  'LO',
  'LT',
  'OB',
  'OD',
  'OF',
  'OL',
  'OV',
  'OW',
  'PN',
  'SH',
  'SL',
  'SQ',
  'SS',
  'ST',
  'SV',
  'TM',
  'UC',
  'UI',
  'UL',
  'UN',
  'UR',
  'US',
  'UT',
  'UV',
]);

/** Explicit VRs whose header has 2 reserved bytes and a 4-byte length: 12 bytes in all (PS3.5 7.1.2). */
const LONG_HEADER_VRS = new Set(['OB', 'OD', 'OF', 'OL', 'OV', 'OW', 'SQ', 'SV', 'UC', 'UN', 'UR', 'UT', 'UV']);

/** Known VRs by their two bytes, read from a header without making a string. */
const VR_BY_CODE = new Map<number, string>([...KNOWN_VRS].map((vr) => [(vr.charCodeAt(0) << 8) | vr.charCodeAt(1), vr]));

/** The VR whose two characters are the bytes a, b; undefined when it is not a VR of PS3.5 Table 6.2-1. */
export const vrFromBytes = (a: number, b: number): string | undefined => VR_BY_CODE.get((a << 8) | b);
export const hasLongHeader = (vr: string): boolean => LONG_HEADER_VRS.has(vr);

/**
 * Size of the units whose byte order follows the transfer syntax (PS3.5 7.3): AT is a pair of
 * 16-bit numbers. Strings, OB and UN are byte streams: 1. UN is never swapped, since its real VR
 * is unknown (PS3.5 6.2.2).
 */
export function swapUnit(vr: string): 1 | 2 | 4 | 8 {
  switch (vr) {
    case 'US':
    case 'SS':
    case 'OW':
    case 'AT':
      return 2;
    case 'UL':
    case 'SL':
    case 'FL':
    case 'OF':
    case 'OL':
      return 4;
    case 'FD':
    case 'OD':
    case 'SV':
    case 'UV':
    case 'OV':
      return 8;
    default:
      return 1;
  }
}

/** The dcmjs data dictionary: a Proxy that looks a punctuated tag up in dcmjs's packed tables. */
const dictionary = () => dcmjs().data.DicomMetaDictionary.dictionary;

const hex4 = (n: number) => n.toString(16).toUpperCase().padStart(4, '0');

const MAX_CACHE = 8192;
const cache = new Map<number, string>();

/** The dictionary VR of a standard tag, with dcmjs's multi-VR codes left as they are ('ox', 'xs', ...). */
function dictionaryVr(tag: number): string {
  const cached = cache.get(tag);
  if (cached !== undefined) return cached;
  // dcmjs resolves the repeating groups (50xx curves, 60xx overlays) itself from '(6002,3000)'.
  const vr = dictionary()[`(${hex4(tag >>> 16)},${hex4(tag & 0xffff)})`]?.vr ?? 'UN';
  if (cache.size < MAX_CACHE) cache.set(tag, vr);
  return vr;
}

/**
 * The VR to write in explicit VR for an element read in Implicit VR Little Endian.
 * - (gggg,0000) group length: UL (PS3.5 7.2).
 * - Private groups: private creators (gggg,0010-00FF) are LO (PS3.5 7.8.1), the rest UN.
 * - Tags the dictionary does not know: UN (PS3.5 6.2.2).
 * - 'ox' (pixel data, overlay data, curve data, waveform data, "OB or OW"): OW, the only choice
 *   in Implicit VR (PS3.5 A.1 and 8.1.2). 'lt' (LUT data, "US or OW") likewise OW.
 * - 'xs' ("US or SS"): SS when Pixel Representation (0028,0103) of the same data set is 1, else US
 *   (as DCMTK does). Both swap as 16-bit units, so only the VR label depends on it.
 * - 'up' (directory offsets): UL.
 */
export function implicitVr(tag: number, pixelRepresentation: number | undefined): string {
  const group = tag >>> 16;
  const element = tag & 0xffff;
  if (element === 0x0000) return 'UL';
  if (group % 2 === 1) return element >= 0x0010 && element <= 0x00ff ? 'LO' : 'UN';
  const vr = dictionaryVr(tag);
  switch (vr) {
    case 'ox':
    case 'lt':
      return 'OW';
    case 'xs':
      return pixelRepresentation === 1 ? 'SS' : 'US';
    case 'up':
      return 'UL';
    default:
      return KNOWN_VRS.has(vr) ? vr : 'UN';
  }
}
