/** Command Field values, PS3.7 E.1 (Table E.1-1). */
export const CommandField = {
  CStoreRq: 0x0001,
  CStoreRsp: 0x8001,
  CGetRq: 0x0010,
  CGetRsp: 0x8010,
  CFindRq: 0x0020,
  CFindRsp: 0x8020,
  CMoveRq: 0x0021,
  CMoveRsp: 0x8021,
  CEchoRq: 0x0030,
  CEchoRsp: 0x8030,
  NEventReportRq: 0x0100,
  NEventReportRsp: 0x8100,
  NGetRq: 0x0110,
  NGetRsp: 0x8110,
  NSetRq: 0x0120,
  NSetRsp: 0x8120,
  NActionRq: 0x0130,
  NActionRsp: 0x8130,
  NCreateRq: 0x0140,
  NCreateRsp: 0x8140,
  NDeleteRq: 0x0150,
  NDeleteRsp: 0x8150,
  CCancelRq: 0x0fff,
} as const;
export type CommandFieldName = keyof typeof CommandField;

/** A response has bit 15 of the command field set. */
export const isResponse = (field: number) => (field & 0x8000) !== 0;

/** Command Data Set Type (0000,0800): 0101H means no data set, any other value that one follows. */
export const NO_DATA_SET = 0x0101;
/** What dimse-rx writes when a data set follows. */
export const DATA_SET_PRESENT = 0x0001;

/** Priority (0000,0700). */
export const Priority = { Medium: 0x0000, High: 0x0001, Low: 0x0002 } as const;

/** The command elements of group 0000, PS3.7 E.1 and E.2 (retired ones are read and ignored). */
export const CommandTag = {
  CommandGroupLength: 0x00000000,
  AffectedSopClassUid: 0x00000002,
  RequestedSopClassUid: 0x00000003,
  CommandField: 0x00000100,
  MessageId: 0x00000110,
  MessageIdBeingRespondedTo: 0x00000120,
  MoveDestination: 0x00000600,
  Priority: 0x00000700,
  CommandDataSetType: 0x00000800,
  Status: 0x00000900,
  OffendingElement: 0x00000901,
  ErrorComment: 0x00000902,
  ErrorId: 0x00000903,
  AffectedSopInstanceUid: 0x00001000,
  RequestedSopInstanceUid: 0x00001001,
  EventTypeId: 0x00001002,
  AttributeIdentifierList: 0x00001005,
  ActionTypeId: 0x00001008,
  NumberOfRemainingSuboperations: 0x00001020,
  NumberOfCompletedSuboperations: 0x00001021,
  NumberOfFailedSuboperations: 0x00001022,
  NumberOfWarningSuboperations: 0x00001023,
  MoveOriginatorApplicationEntityTitle: 0x00001030,
  MoveOriginatorMessageId: 0x00001031,
} as const;
