/** Transfer syntax UIDs (PS3.5 section 10 and Annex A) that dimse-rx handles by name. */
export const TransferSyntax = {
  /** Implicit VR Little Endian, the DICOM default (PS3.5 A.1). */
  ImplicitVrLittleEndian: '1.2.840.10008.1.2',
  /** Explicit VR Little Endian (PS3.5 A.2). */
  ExplicitVrLittleEndian: '1.2.840.10008.1.2.1',
  /** Deflated Explicit VR Little Endian (PS3.5 A.5). */
  DeflatedExplicitVrLittleEndian: '1.2.840.10008.1.2.1.99',
  /** Explicit VR Big Endian, retired but still met (PS3.5 A.3). */
  ExplicitVrBigEndian: '1.2.840.10008.1.2.2',
} as const;

/** The uncompressed (native) transfer syntaxes a data set can be converted between on the fly. */
export const UNCOMPRESSED_TRANSFER_SYNTAXES: readonly string[] = [
  TransferSyntax.ExplicitVrLittleEndian,
  TransferSyntax.ImplicitVrLittleEndian,
  TransferSyntax.DeflatedExplicitVrLittleEndian,
  TransferSyntax.ExplicitVrBigEndian,
];

/** How a transfer syntax lays out a data set. */
export interface TransferSyntaxProperties {
  readonly explicitVr: boolean;
  readonly littleEndian: boolean;
  readonly deflated: boolean;
  /** Pixel data encapsulated (compressed): sent only in its own syntax. */
  readonly encapsulated: boolean;
}

/** Properties of a transfer syntax; anything not native is taken as encapsulated explicit VR little endian. */
export function transferSyntaxProperties(uid: string): TransferSyntaxProperties {
  switch (uid) {
    case TransferSyntax.ImplicitVrLittleEndian:
      return { explicitVr: false, littleEndian: true, deflated: false, encapsulated: false };
    case TransferSyntax.ExplicitVrLittleEndian:
      return { explicitVr: true, littleEndian: true, deflated: false, encapsulated: false };
    case TransferSyntax.DeflatedExplicitVrLittleEndian:
      return { explicitVr: true, littleEndian: true, deflated: true, encapsulated: false };
    case TransferSyntax.ExplicitVrBigEndian:
      return { explicitVr: true, littleEndian: false, deflated: false, encapsulated: false };
    default:
      return { explicitVr: true, littleEndian: true, deflated: false, encapsulated: true };
  }
}

/** True for a transfer syntax whose pixel data is native (not encapsulated): data sets in it can be converted to another uncompressed one. */
export const isUncompressed = (uid: string) => !transferSyntaxProperties(uid).encapsulated;
