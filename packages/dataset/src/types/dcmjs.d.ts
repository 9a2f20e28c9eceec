/**
 * Types for the parts of dcmjs 0.51.1 that dimse-rx uses (dcmjs ships none). Written from its
 * sources (build/dcmjs.es.js); values whose shape depends on the VR are `unknown`, to be
 * narrowed by the caller. Only what exists at run time is exported: `data` and `log` (and the
 * default export holding both); the interfaces are types only.
 */
declare module 'dcmjs' {
  /**
   * One element of a "denaturalized" data set (the DICOM JSON model, PS3.18 F.2): `vr` is the
   * two-letter VR, or a dictionary placeholder (`ox`, `xs`, `lt`, `up`) that dcmjs resolves to
   * OW, US, OW and UL when it writes. `Value` holds strings, numbers, `{ Alphabetic, ... }`
   * objects for PN, nested data sets for SQ, or ArrayBuffers for OB/OW/OF/OD/UN (one per frame
   * for encapsulated pixel data).
   */
  export interface DicomElement {
    vr: string;
    Value?: unknown[] | null;
    InlineBinary?: string;
    BulkDataURI?: string;
    /** The value as read, before formatting; written back when `Value` was not changed. */
    _rawValue?: unknown;
  }

  /** Elements keyed by their tag as eight upper-case hex digits, `GGGGEEEE`. */
  export type DicomDataset = Record<string, DicomElement>;

  /**
   * A naturalized data set: keywords (`PatientName`) as keys, single values unwrapped, sequences
   * as arrays of naturalized items, and `_vrMap` giving the VR of elements whose VR is not the
   * dictionary's (pixel data, private elements).
   */
  export type NaturalDataset = Record<string, unknown>;

  /** An entry of the data dictionary. `tag` is punctuated, `(GGGG,EEEE)`. */
  export interface DictionaryEntry {
    tag: string;
    vr: string;
    vm: string;
    name: string;
    version: string;
  }

  export interface WriteOptions {
    /** Write values longer than their VR allows instead of throwing (binary) or logging (strings). */
    allowInvalidVRLength?: boolean;
    /** Split encapsulated frames into 20 KiB fragments (default true). */
    fragmentMultiframe?: boolean;
  }

  export interface ReadOptions {
    ignoreErrors?: boolean;
    untilTag?: string | null;
    includeUntilTagValue?: boolean;
    stopOnGreaterTag?: boolean;
    noCopy?: boolean;
    forceStoreRaw?: boolean;
  }

  /** loglevel's level names (upper or lower case) or numbers 0 (trace) to 5 (silent). */
  export type LogLevelDesc =
    | 0
    | 1
    | 2
    | 3
    | 4
    | 5
    | 'trace'
    | 'debug'
    | 'info'
    | 'warn'
    | 'error'
    | 'silent'
    | 'TRACE'
    | 'DEBUG'
    | 'INFO'
    | 'WARN'
    | 'ERROR'
    | 'SILENT';

  /** A loglevel logger; dcmjs logs through the root one and the child `validation.dcmjs`. */
  export interface Logger {
    readonly name: string | undefined;
    getLevel(): 0 | 1 | 2 | 3 | 4 | 5;
    /** `persist` false keeps the level out of localStorage/cookies (browsers only). */
    setLevel(level: LogLevelDesc, persist?: boolean): void;
    getLogger(name: string): Logger;
    trace(...message: unknown[]): void;
    debug(...message: unknown[]): void;
    info(...message: unknown[]): void;
    warn(...message: unknown[]): void;
    error(...message: unknown[]): void;
  }

  export namespace data {
    /** dcmjs's stream over one or more ArrayBuffers (its BufferStream base is not exported, so members are repeated). */
    class ReadBufferStream {
      /**
       * Reads from `buffer`. Beware: given a typed array, dcmjs reads its whole underlying
       * ArrayBuffer (`buffer.buffer`), ignoring `byteOffset`; pass an exact ArrayBuffer.
       */
      constructor(
        buffer: ArrayBuffer | null,
        littleEndian?: boolean | null,
        options?: { start?: number | null; stop?: number | null; noCopy?: boolean },
      );
      offset: number;
      size: number;
      readonly endOffset: number;
      isLittleEndian: boolean;
      setEndian(isLittleEndian: boolean): void;
      /** A copy of bytes `start` (default 0) to `end` (default `size`). */
      getBuffer(start?: number, end?: number): ArrayBuffer;
      /** True once `offset` has reached the end. */
      end(): boolean;
      /** Decodes text VRs; latin1 (windows-1252) until a Specific Character Set is read. */
      decoder: TextDecoder;
      setDecoder(decoder: TextDecoder): void;
      /** A new stream over the next `length` bytes (a sequence item), with the default decoder; advances `offset`. */
      more(length: number): ReadBufferStream;
    }

    class WriteBufferStream {
      constructor(defaultSize?: number, littleEndian?: boolean);
      offset: number;
      /** Bytes written so far. */
      size: number;
      isLittleEndian: boolean;
      setEndian(isLittleEndian: boolean): void;
      /** A copy of bytes `start` (default 0) to `end` (default `size`). */
      getBuffer(start?: number, end?: number): ArrayBuffer;
    }

    class DicomDict {
      constructor(meta: DicomDataset);
      meta: DicomDataset;
      dict: DicomDataset;
      upsertTag(tag: string, vr: string, values: unknown[]): void;
      /** A Part 10 file: preamble, `DICM`, group 0002 (explicit VR LE), then `dict` in the meta's transfer syntax. */
      write(options?: WriteOptions): ArrayBuffer;
    }

    // biome-ignore lint/complexity/noStaticOnlyClass: declares dcmjs's class as it is
    class DicomMessage {
      /** Parses a Part 10 file (preamble and `DICM` required). */
      static readFile(buffer: ArrayBuffer, options?: ReadOptions): DicomDict;
      /**
       * Writes the elements of `dataset` in tag order to `stream`, in `syntax` (implicit VR LE,
       * explicit VR LE or BE; anything else is written as explicit VR LE, with pixel data
       * encapsulated unless the syntax is one of the four native ones). Returns the bytes written.
       */
      static write(dataset: DicomDataset, stream: WriteBufferStream, syntax: string, options?: WriteOptions): number;
      /**
       * Reads elements until the end of `stream`: the data set reader behind `readFile`. `syntax`
       * must be one of the three unencapsulated, undeflated syntaxes (anything else is read as
       * big endian).
       */
      static _read(stream: ReadBufferStream, syntax: string, options?: ReadOptions): DicomDataset;
      static isEncapsulated(syntax: string): boolean;
    }

    // biome-ignore lint/complexity/noStaticOnlyClass: declares dcmjs's class as it is
    class DicomMetaDictionary {
      /** The standard dictionary, keyed by punctuated tag `(GGGG,EEEE)` (repeating groups as `(60xx,3000)`). */
      static dictionary: Record<string, DictionaryEntry>;
      /** The standard dictionary keyed by keyword. */
      static nameMap: Record<string, DictionaryEntry>;
      static sopClassNamesByUID: Record<string, string>;
      static sopClassUIDsByName: Record<string, string>;
      static naturalizeDataset(dataset: DicomDataset): NaturalDataset;
      /** Keys not found in `nameMap` (default the standard one) are dropped, with a warning. */
      static denaturalizeDataset(dataset: NaturalDataset, nameMap?: Record<string, DictionaryEntry>): DicomDataset;
      static punctuateTag(tag: string): string | undefined;
      static unpunctuateTag(tag: string): string;
      /** A random `2.25.` UID (Math.random, not a UUID). */
      static uid(): string;
      static date(): string;
      static time(): string;
      static dateTime(): string;
    }
  }

  export const log: Logger & {
    /** Re-applies the root level to child loggers that have none of their own. */
    rebuild(): void;
  };

  const dcmjs: { readonly data: typeof data; readonly log: typeof log };
  export default dcmjs;
}
