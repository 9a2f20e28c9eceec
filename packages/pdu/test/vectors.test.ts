import { decodePdu, encodePdu, type Pdu } from '@dimse-rx/pdu';
import { describe, expect, it } from 'vitest';
import { ae, ascii, field, item, pdu, u8, u16, u32, zeros } from './bytes.js';

const VERIFICATION = '1.2.840.10008.1.1';
const CT_IMAGE = '1.2.840.10008.5.1.4.1.1.2';
const IMPLICIT_LE = '1.2.840.10008.1.2';
const EXPLICIT_LE = '1.2.840.10008.1.2.1';
const EXPLICIT_BE = '1.2.840.10008.1.2.2';
const APP_CONTEXT = '1.2.840.10008.3.1.1.1';
/** The fixed fields the association vectors share (what `associateHeader('STORESCP', 'DIMSE-RX')` encodes) and their application context. */
const FIXED_FIELDS = {
  protocolVersion: 1,
  calledAeTitle: 'STORESCP',
  callingAeTitle: 'DIMSE-RX',
  applicationContextName: APP_CONTEXT,
} as const;
const STUDY_ROOT_FIND = '1.2.840.10008.5.1.4.1.2.2.1';
const STORAGE_SERVICE = '1.2.840.10008.4.2';
const IMPL_UID = '1.2.826.0.1.3680043.2.1143.107.104.103.115';

interface Vector {
  readonly name: string;
  readonly bytes: Buffer;
  readonly pdu: Pdu;
}

/** The fixed part of A-ASSOCIATE-RQ/AC, PS3.8 Table 9-11: bytes 7-74. */
const associateHeader = (called: string, calling: string) => [...u16(1), ...zeros(2), ...ae(called), ...ae(calling), ...zeros(32)];

const vectors: Vector[] = [
  {
    name: 'A-ASSOCIATE-RQ with every item and sub-item',
    bytes: pdu(
      0x01,
      associateHeader('STORESCP', 'DIMSE-RX'),
      item(0x10, ascii(APP_CONTEXT)),
      // Presentation context 1: context ID, 3 reserved bytes, abstract syntax, transfer syntaxes (9.3.2.2)
      item(0x20, u8(1), zeros(3), item(0x30, ascii(VERIFICATION)), item(0x40, ascii(IMPLICIT_LE))),
      item(0x20, u8(3), zeros(3), item(0x30, ascii(CT_IMAGE)), item(0x40, ascii(EXPLICIT_LE)), item(0x40, ascii(IMPLICIT_LE))),
      item(
        0x50,
        item(0x51, u32(16384)),
        item(0x52, ascii(IMPL_UID)),
        item(0x53, u16(5), u16(3)),
        item(0x54, field(ascii(CT_IMAGE)), u8(1), u8(0)),
        item(0x55, ascii('DIMSE_RX_010')),
        item(0x56, field(ascii(STUDY_ROOT_FIND)), [1, 1, 0]),
        // 0x57 carries its sub-item version in the reserved byte (PS3.7 D.3.3.6)
        [0x57, 0, ...u16(2 + CT_IMAGE.length + 2 + STORAGE_SERVICE.length + 2 + 2 + 27 + 2 + 27)],
        field(ascii(CT_IMAGE)),
        field(ascii(STORAGE_SERVICE)),
        field(field(ascii('1.2.840.10008.5.1.4.1.1.2.1')), field(ascii('1.2.840.10008.5.1.4.1.1.2.2'))),
        item(0x58, u8(2), u8(1), field(ascii('alice')), field(ascii('s3cret'))),
        item(0x5f, [0xde, 0xad]),
      ),
    ),
    pdu: {
      type: 'AssociateRq',
      ...FIXED_FIELDS,
      presentationContexts: [
        { id: 1, abstractSyntax: VERIFICATION, transferSyntaxes: [IMPLICIT_LE] },
        { id: 3, abstractSyntax: CT_IMAGE, transferSyntaxes: [EXPLICIT_LE, IMPLICIT_LE] },
      ],
      userInformation: [
        { type: 'MaximumLength', maximumLength: 16384 },
        { type: 'ImplementationClassUid', uid: IMPL_UID },
        { type: 'AsynchronousOperationsWindow', maxOperationsInvoked: 5, maxOperationsPerformed: 3 },
        { type: 'RoleSelection', sopClassUid: CT_IMAGE, scuRole: true, scpRole: false },
        { type: 'ImplementationVersionName', name: 'DIMSE_RX_010' },
        { type: 'SopClassExtendedNegotiation', sopClassUid: STUDY_ROOT_FIND, serviceClassApplicationInformation: Buffer.from([1, 1, 0]) },
        {
          type: 'SopClassCommonExtendedNegotiation',
          version: 0,
          sopClassUid: CT_IMAGE,
          serviceClassUid: STORAGE_SERVICE,
          relatedGeneralSopClassUids: ['1.2.840.10008.5.1.4.1.1.2.1', '1.2.840.10008.5.1.4.1.1.2.2'],
        },
        {
          type: 'UserIdentityRq',
          identityType: 2,
          positiveResponseRequested: true,
          primaryField: Buffer.from('alice'),
          secondaryField: Buffer.from('s3cret'),
        },
        { type: 'Unknown', itemType: 0x5f, data: Buffer.from([0xde, 0xad]) },
      ],
    },
  },
  {
    name: 'A-ASSOCIATE-RQ with an item of unknown type after the user information',
    bytes: pdu(
      0x01,
      associateHeader('ANY', 'ME'),
      item(0x10, ascii(APP_CONTEXT)),
      item(0x20, u8(255), zeros(3), item(0x30, ascii(VERIFICATION)), item(0x40, ascii(EXPLICIT_BE))),
      item(0x50, item(0x51, u32(0))),
      item(0x60, [1, 2, 3]),
    ),
    pdu: {
      type: 'AssociateRq',
      protocolVersion: 1,
      calledAeTitle: 'ANY',
      callingAeTitle: 'ME',
      applicationContextName: APP_CONTEXT,
      presentationContexts: [{ id: 255, abstractSyntax: VERIFICATION, transferSyntaxes: [EXPLICIT_BE] }],
      userInformation: [{ type: 'MaximumLength', maximumLength: 0 }],
      unknownItems: [{ type: 'Unknown', itemType: 0x60, data: Buffer.from([1, 2, 3]) }],
    },
  },
  ...([1, 3, 4, 5] as const).map(
    (identityType): Vector => ({
      name: `A-ASSOCIATE-RQ with user identity type ${identityType}`,
      bytes: pdu(
        0x01,
        associateHeader('PACS', 'MODALITY'),
        item(0x10, ascii(APP_CONTEXT)),
        item(0x20, u8(1), zeros(3), item(0x30, ascii(VERIFICATION)), item(0x40, ascii(IMPLICIT_LE))),
        item(0x50, item(0x51, u32(32768)), item(0x58, u8(identityType), u8(0), field([0x00, 0xff, identityType]), field([]))),
      ),
      pdu: {
        type: 'AssociateRq',
        protocolVersion: 1,
        calledAeTitle: 'PACS',
        callingAeTitle: 'MODALITY',
        applicationContextName: APP_CONTEXT,
        presentationContexts: [{ id: 1, abstractSyntax: VERIFICATION, transferSyntaxes: [IMPLICIT_LE] }],
        userInformation: [
          { type: 'MaximumLength', maximumLength: 32768 },
          {
            type: 'UserIdentityRq',
            identityType,
            positiveResponseRequested: false,
            primaryField: Buffer.from([0x00, 0xff, identityType]),
            secondaryField: Buffer.alloc(0),
          },
        ],
      },
    }),
  ),
  {
    name: 'A-ASSOCIATE-AC with every result and the AC sub-items',
    bytes: pdu(
      0x02,
      associateHeader('STORESCP', 'DIMSE-RX'),
      item(0x10, ascii(APP_CONTEXT)),
      // 9.3.3.2: context ID, reserved, result/reason, reserved, one transfer syntax sub-item
      item(0x21, u8(1), u8(0), u8(0), u8(0), item(0x40, ascii(IMPLICIT_LE))),
      item(0x21, u8(3), u8(0), u8(1), u8(0), item(0x40, [])),
      item(0x21, u8(5), u8(0), u8(2), u8(0), item(0x40, [])),
      item(0x21, u8(7), u8(0), u8(3), u8(0), item(0x40, [])),
      item(0x21, u8(9), u8(0), u8(4), u8(0), item(0x40, ascii(EXPLICIT_LE))),
      item(
        0x50,
        item(0x51, u32(0x10000)),
        item(0x52, ascii(IMPL_UID)),
        item(0x53, u16(1), u16(1)),
        item(0x54, field(ascii(CT_IMAGE)), u8(0), u8(1)),
        item(0x55, ascii('OFFIS_DCMTK_367')),
        item(0x56, field(ascii(STUDY_ROOT_FIND)), [1]),
        item(0x59, field(ascii('ticket'))),
      ),
    ),
    pdu: {
      type: 'AssociateAc',
      ...FIXED_FIELDS,
      presentationContexts: [
        { id: 1, result: 0, transferSyntax: IMPLICIT_LE },
        { id: 3, result: 1, transferSyntax: '' },
        { id: 5, result: 2, transferSyntax: '' },
        { id: 7, result: 3, transferSyntax: '' },
        { id: 9, result: 4, transferSyntax: EXPLICIT_LE },
      ],
      userInformation: [
        { type: 'MaximumLength', maximumLength: 0x10000 },
        { type: 'ImplementationClassUid', uid: IMPL_UID },
        { type: 'AsynchronousOperationsWindow', maxOperationsInvoked: 1, maxOperationsPerformed: 1 },
        { type: 'RoleSelection', sopClassUid: CT_IMAGE, scuRole: false, scpRole: true },
        { type: 'ImplementationVersionName', name: 'OFFIS_DCMTK_367' },
        { type: 'SopClassExtendedNegotiation', sopClassUid: STUDY_ROOT_FIND, serviceClassApplicationInformation: Buffer.from([1]) },
        { type: 'UserIdentityAc', serverResponse: Buffer.from('ticket') },
      ],
    },
  },
  {
    name: 'A-ASSOCIATE-AC whose rejected context comes without a transfer syntax sub-item',
    bytes: pdu(
      0x02,
      associateHeader('STORESCP', 'DIMSE-RX'),
      item(0x10, ascii(APP_CONTEXT)),
      item(0x21, u8(1), u8(0), u8(0), u8(0), item(0x40, ascii(IMPLICIT_LE))),
      // 9.3.3.2: the sub-item is not tested when the result is not acceptance; some peers leave it out.
      item(0x21, u8(3), u8(0), u8(3), u8(0)),
      item(0x50, item(0x51, u32(16384))),
    ),
    pdu: {
      type: 'AssociateAc',
      ...FIXED_FIELDS,
      presentationContexts: [
        { id: 1, result: 0, transferSyntax: IMPLICIT_LE },
        { id: 3, result: 3, transferSyntax: '', withoutTransferSyntaxItem: true },
      ],
      userInformation: [{ type: 'MaximumLength', maximumLength: 16384 }],
    },
  },
  {
    name: 'A-ASSOCIATE-RJ permanent, service-user, called AE title not recognized',
    // 9.3.4: reserved (1), result (1), source (1), reason/diag (1)
    bytes: pdu(0x03, [0, 1, 1, 7]),
    pdu: { type: 'AssociateRj', result: 1, source: 1, reason: 7 },
  },
  {
    name: 'A-ASSOCIATE-RJ transient, presentation provider, local limit exceeded',
    bytes: pdu(0x03, [0, 2, 3, 2]),
    pdu: { type: 'AssociateRj', result: 2, source: 3, reason: 2 },
  },
  {
    name: 'P-DATA-TF with command and data fragments',
    // 9.3.5: PDV items of item-length (4), context ID (1), message control header (1), value
    bytes: pdu(
      0x04,
      [...u32(2 + 4), 1, 0x03, 0xca, 0xfe, 0xba, 0xbe],
      [...u32(2 + 3), 3, 0x00, 1, 2, 3],
      [...u32(2 + 1), 3, 0x02, 9],
      [...u32(2 + 0), 5, 0x01],
    ),
    pdu: {
      type: 'PDataTf',
      pdvs: [
        { presentationContextId: 1, command: true, last: true, value: Buffer.from([0xca, 0xfe, 0xba, 0xbe]) },
        { presentationContextId: 3, command: false, last: false, value: Buffer.from([1, 2, 3]) },
        { presentationContextId: 3, command: false, last: true, value: Buffer.from([9]) },
        { presentationContextId: 5, command: true, last: false, value: Buffer.alloc(0) },
      ],
    },
  },
  { name: 'A-RELEASE-RQ', bytes: pdu(0x05, zeros(4)), pdu: { type: 'ReleaseRq' } },
  { name: 'A-RELEASE-RP', bytes: pdu(0x06, zeros(4)), pdu: { type: 'ReleaseRp' } },
  {
    name: 'A-ABORT from the service-user',
    // 9.3.8: reserved (2), source (1), reason/diag (1)
    bytes: pdu(0x07, [0, 0, 0, 0]),
    pdu: { type: 'Abort', source: 0, reason: 0 },
  },
  {
    name: 'A-ABORT from the service-provider, invalid PDU parameter value',
    bytes: pdu(0x07, [0, 0, 2, 6]),
    pdu: { type: 'Abort', source: 2, reason: 6 },
  },
];

describe('PDU vectors from the PS3.8 field layouts', () => {
  for (const vector of vectors) {
    it(`decodes ${vector.name}`, () => {
      expect(decodePdu(vector.bytes)).toEqual(vector.pdu);
    });
    it(`encodes ${vector.name} to the same bytes`, () => {
      expect(encodePdu(vector.pdu).toString('hex')).toBe(vector.bytes.toString('hex'));
    });
    it(`re-encodes the decoded ${vector.name} to the same bytes`, () => {
      expect(encodePdu(decodePdu(vector.bytes)).equals(vector.bytes)).toBe(true);
    });
  }

  it('hands out P-DATA values as views of the input, not copies', () => {
    const bytes = pdu(0x04, [...u32(2 + 4), 1, 0x02, 1, 2, 3, 4]);
    const decoded = decodePdu(bytes);
    if (decoded.type !== 'PDataTf') throw new Error(`decoded ${decoded.type}`);
    const value = decoded.pdvs[0]!.value;
    expect(value.buffer).toBe(bytes.buffer);
    expect(value.byteOffset).toBe(bytes.byteOffset + 12);
    bytes[12] = 0x99;
    expect(value[0]).toBe(0x99);
  });

  it('drops the space padding of AE titles and the NUL padding some peers add to UIDs', () => {
    const bytes = pdu(
      0x01,
      [...u16(1), ...zeros(2), ...ascii('  CALLED        '), ...ae('CALLING'), ...zeros(32)],
      item(0x10, ascii(`${APP_CONTEXT}\0`)),
      item(0x20, u8(1), zeros(3), item(0x30, ascii(`${VERIFICATION}\0`)), item(0x40, ascii(IMPLICIT_LE))),
      item(0x50, item(0x51, u32(16384))),
    );
    const decoded = decodePdu(bytes);
    expect(decoded).toMatchObject({
      calledAeTitle: 'CALLED',
      callingAeTitle: 'CALLING',
      applicationContextName: APP_CONTEXT,
      presentationContexts: [{ abstractSyntax: VERIFICATION }],
    });
  });

  it('ignores the reserved bits of the message control header', () => {
    const decoded = decodePdu(pdu(0x04, [...u32(3), 1, 0xfe, 7]));
    expect(decoded).toEqual({
      type: 'PDataTf',
      pdvs: [{ presentationContextId: 1, command: false, last: true, value: Buffer.from([7]) }],
    });
  });
});
