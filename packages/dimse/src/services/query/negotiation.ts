/**
 * SOP Class Extended Negotiation of the Query/Retrieve (PS3.4 C.5) and Basic Worklist
 * Management (PS3.4 K.5) SOP classes: the Service-class-application-information field as typed
 * flags, the items a requestor proposes, what the acceptor agreed, and an acceptor's answer.
 * Each sub-field is one byte, 0 (no) or 1 (yes); a byte the peer left out reads as 0.
 */
import type { Association } from '@dimse-rx/association';
import type { SopClassExtendedNegotiation } from '@dimse-rx/pdu';

/** What a C-FIND of the Query/Retrieve SOP classes may negotiate (PS3.4 C.5.1.1, Tables C.5-1 and C.5-2). */
export interface QueryNegotiation {
  /** Byte 1: relational queries (C.4.1.2.2): the unique keys of the levels above need not be given. */
  readonly relationalQueries?: boolean;
  /** Byte 2: combined date and time range matching (C.2.2.2.5). */
  readonly combinedDateTime?: boolean;
  /** Byte 3: fuzzy semantic matching of person names (C.2.2.2.1). */
  readonly fuzzyPersonNames?: boolean;
  /** Byte 4: timezone query adjustment (C.4.1.2.3). */
  readonly timezoneAdjustment?: boolean;
  /** Byte 5: Enhanced Multi-Frame Image Conversion (the Query/Retrieve View, C.6.1.1.8). */
  readonly enhancedMultiFrameConversion?: boolean;
  /** Byte 6: empty value matching (C.2.2.2.7). */
  readonly emptyValueMatching?: boolean;
  /** Byte 7: multiple value matching (C.2.2.2.8). */
  readonly multipleValueMatching?: boolean;
}

/** What a C-MOVE or C-GET of the Query/Retrieve SOP classes may negotiate (PS3.4 C.5.2.1 and C.5.3.1). */
export interface RetrieveNegotiation {
  /** Byte 1: relational retrieval (C.4.2.2.1): the unique keys of the levels above need not be given. */
  readonly relationalRetrieval?: boolean;
  /** Byte 2: Enhanced Multi-Frame Image Conversion (the Query/Retrieve View). */
  readonly enhancedMultiFrameConversion?: boolean;
}

/** What a Modality Worklist C-FIND may negotiate (PS3.4 K.5.1); bytes 1 and 2 are reserved and always 1. */
export interface WorklistNegotiation {
  /** Byte 3: fuzzy semantic matching of person names (K.2.2.2). */
  readonly fuzzyPersonNames?: boolean;
  /** Byte 4: timezone query adjustment. */
  readonly timezoneAdjustment?: boolean;
}

/** A SOP Class Extended Negotiation item as `AssociateOptions.extendedNegotiation` takes it. */
export type ExtendedNegotiationItem = Omit<SopClassExtendedNegotiation, 'type'>;

/** What an SCP supports, by kind of SOP class, for `extendedNegotiationReply()`; a kind left out is not answered. */
export interface NegotiationSupport {
  /** The Query/Retrieve C-FIND SOP classes (Patient Root, Study Root, Patient/Study Only). */
  readonly query?: QueryNegotiation;
  /** The Query/Retrieve C-MOVE and C-GET SOP classes. */
  readonly retrieve?: RetrieveNegotiation;
  /** Modality Worklist. */
  readonly worklist?: WorklistNegotiation;
}

/** The sub-fields of a Service-class-application-information field from byte 1: a flag's name, or null for a reserved byte sent as 1. */
interface Layout<K extends string> {
  readonly bytes: readonly (K | null)[];
  /** Bytes always sent, true or not. */
  readonly minLength: number;
}

type Flags<K extends string> = { readonly [P in K]?: boolean };

// C.5.1.1: "one or more bytes in length (i.e., item bytes 2 through 7 are optional)".
const QUERY: Layout<keyof QueryNegotiation> = {
  bytes: [
    'relationalQueries',
    'combinedDateTime',
    'fuzzyPersonNames',
    'timezoneAdjustment',
    'enhancedMultiFrameConversion',
    'emptyValueMatching',
    'multipleValueMatching',
  ],
  minLength: 1,
};
// C.5.2.1 (C-MOVE) and C.5.3.1 (C-GET): byte 2 optional.
const RETRIEVE: Layout<keyof RetrieveNegotiation> = { bytes: ['relationalRetrieval', 'enhancedMultiFrameConversion'], minLength: 1 };
// K.5.1: "three or more sub-fields", the first two reserved and always 1.
const WORKLIST: Layout<keyof WorklistNegotiation> = { bytes: [null, null, 'fuzzyPersonNames', 'timezoneAdjustment'], minLength: 3 };

const LAYOUTS = { query: QUERY, retrieve: RETRIEVE, worklist: WORKLIST } as const;

/** The SOP classes whose field C.5 and K.5 define, with its layout (Composite Instance Root Retrieve has its own, Y.5, and is not here). */
const KIND_OF: ReadonlyMap<string, keyof NegotiationSupport> = new Map([
  ['1.2.840.10008.5.1.4.1.2.1.1', 'query'], // Patient Root Query/Retrieve Information Model - FIND
  ['1.2.840.10008.5.1.4.1.2.2.1', 'query'], // Study Root - FIND
  ['1.2.840.10008.5.1.4.1.2.3.1', 'query'], // Patient/Study Only - FIND (retired)
  ['1.2.840.10008.5.1.4.1.2.1.2', 'retrieve'], // Patient Root - MOVE
  ['1.2.840.10008.5.1.4.1.2.1.3', 'retrieve'], // Patient Root - GET
  ['1.2.840.10008.5.1.4.1.2.2.2', 'retrieve'], // Study Root - MOVE
  ['1.2.840.10008.5.1.4.1.2.2.3', 'retrieve'], // Study Root - GET
  ['1.2.840.10008.5.1.4.1.2.3.2', 'retrieve'], // Patient/Study Only - MOVE (retired)
  ['1.2.840.10008.5.1.4.1.2.3.3', 'retrieve'], // Patient/Study Only - GET (retired)
  ['1.2.840.10008.5.1.4.31', 'worklist'], // Modality Worklist Information Model - FIND
]);

/** The field for `flags`: the bytes always sent, then up to the last flag set; unset flags are 0. */
function encodeWith<K extends string>(layout: Layout<K>, flags: Flags<K>): Uint8Array {
  let length = layout.minLength;
  layout.bytes.forEach((field, i) => {
    if (field !== null && flags[field] === true) length = Math.max(length, i + 1);
  });
  return Uint8Array.from(layout.bytes.slice(0, length), (field) => (field === null || flags[field] === true ? 1 : 0));
}

/** The flags of a field: each true only when its byte is there and is 1; bytes past the layout are ignored. */
function decodeWith<K extends string>(layout: Layout<K>, bytes: Uint8Array): Record<K, boolean> {
  const flags = {} as Record<K, boolean>;
  layout.bytes.forEach((field, i) => {
    if (field !== null) flags[field] = bytes[i] === 1;
  });
  return flags;
}

/**
 * The acceptor's field for a requested one: as many bytes as were offered (the layout's at
 * most), each 1 only when it was asked for and is supported; reserved bytes 1. C.5.1.1 and
 * K.5.1 ask for as many bytes back as were offered; fewer are allowed, and read as 0.
 */
function replyWith<K extends string>(layout: Layout<K>, requested: Uint8Array, supported: Flags<K>): Uint8Array {
  const length = Math.min(requested.length, layout.bytes.length);
  return Uint8Array.from(layout.bytes.slice(0, length), (field, i) =>
    field === null ? 1 : requested[i] === 1 && supported[field] === true ? 1 : 0,
  );
}

const itemsWith = (sopClassUids: readonly string[], field: Uint8Array): ExtendedNegotiationItem[] =>
  sopClassUids.map((sopClassUid) => ({ sopClassUid, serviceClassApplicationInformation: field.slice() }));

/**
 * What both sides of an association settled for a SOP class: a flag is true when the request
 * asked for it and the acceptor's reply said 1 (no reply: nothing agreed).
 */
function agreedWith<K extends string>(layout: Layout<K>, association: Association, sopClassUid: string): Record<K, boolean> {
  const { request, extendedNegotiation } = association.negotiation;
  const none = new Uint8Array(0);
  const asked = request.userInformation.find(
    (item): item is SopClassExtendedNegotiation => item.type === 'SopClassExtendedNegotiation' && item.sopClassUid === sopClassUid,
  );
  const replied = extendedNegotiation.find((item) => item.sopClassUid === sopClassUid);
  const rq = decodeWith(layout, asked?.serviceClassApplicationInformation ?? none);
  const ac = decodeWith(layout, replied?.serviceClassApplicationInformation ?? none);
  const agreed = {} as Record<K, boolean>;
  for (const key of Object.keys(rq) as K[]) agreed[key] = rq[key] && ac[key];
  return agreed;
}

/** The Service-class-application-information of a Query/Retrieve C-FIND SOP class (C.5.1.1): byte 1, then up to the last flag set. */
export const encodeQueryNegotiation = (negotiation: QueryNegotiation): Uint8Array => encodeWith(QUERY, negotiation);
/** The flags of a C-FIND field; a byte missing (a shorter reply than the request) reads as false. */
export const decodeQueryNegotiation = (bytes: Uint8Array): Required<QueryNegotiation> => decodeWith(QUERY, bytes);
/** The Service-class-application-information of a C-MOVE or C-GET SOP class (C.5.2.1, C.5.3.1): byte 1, byte 2 when set. */
export const encodeRetrieveNegotiation = (negotiation: RetrieveNegotiation): Uint8Array => encodeWith(RETRIEVE, negotiation);
/** The flags of a C-MOVE or C-GET field; a byte missing reads as false. */
export const decodeRetrieveNegotiation = (bytes: Uint8Array): Required<RetrieveNegotiation> => decodeWith(RETRIEVE, bytes);
/** The Service-class-application-information of Modality Worklist (K.5.1): 1, 1, then fuzzy matching, and the timezone byte when set. */
export const encodeWorklistNegotiation = (negotiation: WorklistNegotiation): Uint8Array => encodeWith(WORKLIST, negotiation);
/** The flags of a Modality Worklist field (bytes 1 and 2, reserved, are not read); a byte missing reads as false. */
export const decodeWorklistNegotiation = (bytes: Uint8Array): Required<WorklistNegotiation> => decodeWith(WORKLIST, bytes);

/** The `extendedNegotiation` items of `AssociateOptions` proposing `negotiation` for each C-FIND SOP class given. */
export const queryNegotiationItems = (sopClassUids: readonly string[], negotiation: QueryNegotiation): ExtendedNegotiationItem[] =>
  itemsWith(sopClassUids, encodeQueryNegotiation(negotiation));
/** The `extendedNegotiation` items proposing `negotiation` for each C-MOVE or C-GET SOP class given. */
export const retrieveNegotiationItems = (sopClassUids: readonly string[], negotiation: RetrieveNegotiation): ExtendedNegotiationItem[] =>
  itemsWith(sopClassUids, encodeRetrieveNegotiation(negotiation));
/** The `extendedNegotiation` items proposing `negotiation` for each Modality Worklist SOP class given. */
export const worklistNegotiationItems = (sopClassUids: readonly string[], negotiation: WorklistNegotiation): ExtendedNegotiationItem[] =>
  itemsWith(sopClassUids, encodeWorklistNegotiation(negotiation));

/** What the association agreed for a C-FIND SOP class: each flag asked for and accepted; all false when the acceptor sent no item. */
export const agreedQueryNegotiation = (association: Association, sopClassUid: string): Required<QueryNegotiation> =>
  agreedWith(QUERY, association, sopClassUid);
/** What the association agreed for a C-MOVE or C-GET SOP class; all false when the acceptor sent no item. */
export const agreedRetrieveNegotiation = (association: Association, sopClassUid: string): Required<RetrieveNegotiation> =>
  agreedWith(RETRIEVE, association, sopClassUid);
/** What the association agreed for Modality Worklist; all false when the acceptor sent no item. */
export const agreedWorklistNegotiation = (association: Association, sopClassUid: string): Required<WorklistNegotiation> =>
  agreedWith(WORKLIST, association, sopClassUid);

/**
 * The acceptor's reply to a requested item of a Query/Retrieve or Modality Worklist SOP class:
 * each byte offered, 1 where it was asked for and `support` has it (reserved worklist bytes
 * 1). Undefined (no reply item, so nothing agreed) for other SOP classes, for a kind `support`
 * leaves out, and for an empty field.
 */
export function extendedNegotiationReply(item: ExtendedNegotiationItem, support: NegotiationSupport): Uint8Array | undefined {
  const kind = KIND_OF.get(item.sopClassUid);
  if (kind === undefined) return undefined;
  const supported = support[kind];
  if (supported === undefined || item.serviceClassApplicationInformation.length === 0) return undefined;
  return replyWith(LAYOUTS[kind] as Layout<string>, item.serviceClassApplicationInformation, supported as Flags<string>);
}

/** `extendedNegotiationReply` with `support` bound: the `extendedNegotiation` callback of an acceptor policy (`serve()`, `scp()`). */
export const extendedNegotiationPolicy =
  (support: NegotiationSupport): ((item: SopClassExtendedNegotiation) => Uint8Array | undefined) =>
  (item) =>
    extendedNegotiationReply(item, support);
