import { AbortReason, decodePdu, encodePdu, type Pdu, PduDecodeError } from '@dimse-rx/pdu';
import { describe, expect, it } from 'vitest';
import { ae, ascii, field, item, pdu, u8, u16, u32, zeros } from './bytes.js';

const APP = item(0x10, ascii('1.2.840.10008.3.1.1.1'));
const PC = item(0x20, u8(1), zeros(3), item(0x30, ascii('1.2.840.10008.1.1')), item(0x40, ascii('1.2.840.10008.1.2')));
const UI = item(0x50, item(0x51, u32(16384)));
const FIXED = [...u16(1), ...zeros(2), ...ae('SCP'), ...ae('SCU'), ...zeros(32)];
/** Offset of the first variable item of an A-ASSOCIATE-RQ/AC. */
const ITEMS = 74;

function decodeError(bytes: Buffer): PduDecodeError {
  try {
    decodePdu(bytes);
  } catch (error) {
    if (error instanceof PduDecodeError) return error;
    throw error;
  }
  throw new Error('decoding did not fail');
}

interface Case {
  readonly name: string;
  readonly bytes: Buffer;
  readonly reason: number;
  readonly offset: number;
  readonly itemType?: number;
  readonly message: RegExp;
}

const cases: Case[] = [
  { name: 'fewer bytes than a header', bytes: Buffer.from([1, 0, 0]), reason: 6, offset: 0, message: /header alone is 6/ },
  { name: 'a PDU type PS3.8 does not define', bytes: pdu(0x0a, zeros(4)), reason: 1, offset: 0, message: /Unrecognized PDU type/ },
  {
    name: 'a length field that disagrees with the bytes',
    bytes: Buffer.from([5, 0, ...u32(5), 0, 0, 0, 0]),
    reason: 6,
    offset: 2,
    message: /says 5 bytes, 4 follow/,
  },
  ...(
    [
      ['not ASCII', Buffer.from('\u00c4CP'.padEnd(16, ' '), 'latin1'), /not printable ASCII/],
      ['a control character', Buffer.from('S\u0007CP'.padEnd(16, ' '), 'latin1'), /not printable ASCII/],
      ['a backslash', Buffer.from('A\\B'.padEnd(16, ' '), 'latin1'), /backslash/],
      ['only spaces', Buffer.alloc(16, 0x20), /empty or only spaces/],
    ] as const
  ).flatMap(([what, title, message]): Case[] => [
    {
      name: `an A-ASSOCIATE-RQ whose called AE title is ${what}`,
      bytes: pdu(0x01, u16(1), zeros(2), [...title], ae('SCU'), zeros(32), APP, PC, UI),
      reason: 6,
      offset: 10,
      message: new RegExp(`Called-AE-title: .*${message.source}`),
    },
    {
      name: `an A-ASSOCIATE-RQ whose calling AE title is ${what}`,
      bytes: pdu(0x01, u16(1), zeros(2), ae('SCP'), [...title], zeros(32), APP, PC, UI),
      reason: 6,
      offset: 26,
      message: new RegExp(`Calling-AE-title: .*${message.source}`),
    },
  ]),
  { name: 'an A-ABORT of 5 bytes', bytes: pdu(0x07, zeros(5)), reason: 6, offset: 6, message: /Body of 5 bytes, 4 expected/ },
  { name: 'an A-ASSOCIATE-RQ shorter than its fixed fields', bytes: pdu(0x01, zeros(60)), reason: 6, offset: 6, message: /68 fixed bytes/ },
  {
    name: 'an item longer than the PDU',
    bytes: pdu(0x01, FIXED, [0x10, 0, ...u16(200), 1, 2]),
    reason: 6,
    offset: ITEMS,
    itemType: 0x10,
    message: /Item length 200 runs past/,
  },
  {
    name: 'a truncated item header',
    bytes: pdu(0x01, FIXED, APP, [0x20, 0]),
    reason: 6,
    offset: ITEMS + APP.length,
    itemType: 0x20,
    message: /Truncated item header/,
  },
  {
    name: 'an even presentation context ID',
    bytes: pdu(0x01, FIXED, APP, item(0x20, u8(2), zeros(3), item(0x30, ascii('1.2')), item(0x40, ascii('1.2'))), UI),
    reason: 6,
    offset: ITEMS + APP.length + 4,
    itemType: 0x20,
    message: /context ID 2 is not an odd number/,
  },
  {
    name: 'a presentation context with a sub-item of unknown type',
    bytes: pdu(0x01, FIXED, APP, item(0x20, u8(1), zeros(3), item(0x30, ascii('1.2')), item(0x41, ascii('1.2'))), UI),
    reason: 4,
    offset: ITEMS + APP.length + 8 + 7,
    itemType: 0x41,
    message: /sub-item of unknown type/,
  },
  {
    name: 'a presentation context with two abstract syntaxes',
    bytes: pdu(0x01, FIXED, APP, item(0x20, u8(1), zeros(3), item(0x30, ascii('1.2')), item(0x30, ascii('1.3')), item(0x40, [])), UI),
    reason: 5,
    offset: ITEMS + APP.length + 8 + 7,
    itemType: 0x30,
    message: /second abstract syntax/,
  },
  {
    name: 'a presentation context without transfer syntax',
    bytes: pdu(0x01, FIXED, APP, item(0x20, u8(1), zeros(3), item(0x30, ascii('1.2'))), UI),
    reason: 6,
    offset: ITEMS + APP.length,
    itemType: 0x20,
    message: /lacks a transfer syntax/,
  },
  {
    name: 'an A-ASSOCIATE-RQ holding an AC presentation context',
    bytes: pdu(0x01, FIXED, APP, item(0x21, u8(1), zeros(3), item(0x40, [])), UI),
    reason: 5,
    offset: ITEMS + APP.length,
    itemType: 0x21,
    message: /of the accept in this PDU/,
  },
  {
    name: 'an A-ASSOCIATE-RQ without application context',
    bytes: pdu(0x01, FIXED, PC, UI),
    reason: 6,
    offset: ITEMS,
    itemType: 0x10,
    message: /Application Context Item missing/,
  },
  {
    name: 'an A-ASSOCIATE-RQ without user information',
    bytes: pdu(0x01, FIXED, APP, PC),
    reason: 6,
    offset: 6 + FIXED.length + APP.length + PC.length,
    itemType: 0x50,
    message: /User Information Item missing/,
  },
  {
    name: 'an A-ASSOCIATE-RQ without presentation context',
    bytes: pdu(0x01, FIXED, APP, UI),
    reason: 6,
    offset: 6 + FIXED.length + APP.length + UI.length,
    itemType: 0x20,
    message: /No Presentation Context Item/,
  },
  {
    name: 'two application context items',
    bytes: pdu(0x01, FIXED, APP, APP, PC, UI),
    reason: 5,
    offset: ITEMS + APP.length,
    itemType: 0x10,
    message: /Second Application Context Item/,
  },
  {
    name: 'a maximum length sub-item of 3 bytes',
    bytes: pdu(0x01, FIXED, APP, PC, item(0x50, item(0x51, [0, 0, 1]))),
    reason: 6,
    offset: ITEMS + APP.length + PC.length + 4,
    itemType: 0x51,
    message: /Maximum Length Sub-Item has length 3, 4 expected/,
  },
  {
    name: 'a role selection with a role byte of 2',
    bytes: pdu(0x01, FIXED, APP, PC, item(0x50, item(0x54, field(ascii('1.2')), u8(2), u8(0)))),
    reason: 6,
    offset: ITEMS + APP.length + PC.length + 4 + 4 + 5,
    itemType: 0x54,
    message: /Role values must be 0 or 1/,
  },
  {
    name: 'a user identity of type 6',
    bytes: pdu(0x01, FIXED, APP, PC, item(0x50, item(0x58, u8(6), u8(0), field([]), field([])))),
    reason: 6,
    offset: ITEMS + APP.length + PC.length + 4 + 4,
    itemType: 0x58,
    message: /User identity type 6 is not 1 to 5/,
  },
  {
    name: 'a user identity whose primary field runs past it',
    bytes: pdu(0x01, FIXED, APP, PC, item(0x50, item(0x58, u8(1), u8(0), u16(9), [1]))),
    reason: 6,
    offset: ITEMS + APP.length + PC.length + 4 + 4 + 2,
    itemType: 0x58,
    message: /Primary field length 9 runs past/,
  },
  {
    name: 'an accepted presentation context result of 5',
    bytes: pdu(0x02, FIXED, APP, item(0x21, u8(1), u8(0), u8(5), u8(0), item(0x40, ascii('1.2'))), UI),
    reason: 6,
    offset: ITEMS + APP.length + 6,
    itemType: 0x21,
    message: /result 5 is not 0 to 4/,
  },
  {
    name: 'an accepted presentation context without transfer syntax',
    bytes: pdu(0x02, FIXED, APP, item(0x21, u8(1), u8(0), u8(0), u8(0)), UI),
    reason: 6,
    offset: ITEMS + APP.length,
    itemType: 0x21,
    message: /Accepted presentation context 1 lacks its transfer syntax/,
  },
  { name: 'a P-DATA-TF without PDV', bytes: pdu(0x04, []), reason: 6, offset: 6, message: /without any PDV/ },
  {
    name: 'a PDV item of length 1',
    bytes: pdu(0x04, [...u32(1), 1, 0]),
    reason: 6,
    offset: 6,
    message: /PDV item length 1 is less than 2/,
  },
  {
    name: 'a PDV item longer than its PDU',
    bytes: pdu(0x04, [...u32(10), 1, 3, 0]),
    reason: 6,
    offset: 6,
    message: /PDV item length 10 runs past the PDU/,
  },
  {
    name: 'a second PDV with a truncated header',
    bytes: pdu(0x04, [...u32(3), 1, 3, 0], [0, 0]),
    reason: 6,
    offset: 6 + 7,
    message: /Truncated PDV item header/,
  },
];

describe('decoding bad input', () => {
  for (const c of cases) {
    it(`rejects ${c.name} with A-ABORT reason ${c.reason} at offset ${c.offset}`, () => {
      const error = decodeError(c.bytes);
      expect(error.message).toMatch(c.message);
      expect(error.abortReason).toBe(c.reason);
      expect(error.offset).toBe(c.offset);
      expect(error.itemType).toBe(c.itemType);
      expect(error.name).toBe('PduDecodeError');
    });
  }

  it('names the PDU, the item and the A-ABORT reason in the message', () => {
    const error = decodeError(pdu(0x01, FIXED, APP, PC, item(0x50, item(0x51, [0]))));
    expect(error.message).toBe(
      'Maximum Length Sub-Item has length 1, 4 expected (A-ASSOCIATE-RQ, item 0x51, offset 153; A-ABORT reason 6: invalid PDU parameter value)',
    );
    expect(error.pduType).toBe(1);
    expect(error.abortReason).toBe(AbortReason.InvalidPduParameterValue);
  });
});

describe('encoding invalid models', () => {
  const rq = (called: string, calling = 'SCU'): Pdu => ({
    type: 'AssociateRq',
    protocolVersion: 1,
    calledAeTitle: called,
    callingAeTitle: calling,
    applicationContextName: '1.2.840.10008.3.1.1.1',
    presentationContexts: [{ id: 1, abstractSyntax: '1.2.840.10008.1.1', transferSyntaxes: ['1.2.840.10008.1.2'] }],
    userInformation: [],
  });

  it.each([
    ['A_TITLE_OF_17_CHR', /17 characters, at most 16/],
    ['', /empty or only spaces/],
    ['                ', /empty or only spaces/],
    ['BAD\\TITLE', /backslash is not allowed/],
    ['TAB\tTITLE', /character 3 \(0x9\) is not printable ASCII/],
    ['ÄRZTE', /not printable ASCII/],
  ])('refuses the AE title %j', (title, message) => {
    expect(() => encodePdu(rq(title))).toThrow(RangeError);
    expect(() => encodePdu(rq(title))).toThrow(message);
    expect(() => encodePdu(rq('SCP', title))).toThrow(message);
  });

  it('pads a valid AE title with spaces and compares it without them', () => {
    const bytes = encodePdu(rq('  PACS '));
    expect(bytes.subarray(10, 26).toString('latin1')).toBe('PACS            ');
    expect(decodePdu(bytes)).toMatchObject({ calledAeTitle: 'PACS' });
  });

  it('refuses even and out of range presentation context IDs', () => {
    const base = rq('SCP');
    if (base.type !== 'AssociateRq') throw new Error('unreachable');
    for (const id of [0, 2, 256, 1.5]) {
      const bad: Pdu = { ...base, presentationContexts: [{ ...base.presentationContexts[0]!, id }] };
      expect(() => encodePdu(bad)).toThrow(/Presentation context ID/);
    }
  });

  it('refuses a sub-item too long for its 16-bit length field', () => {
    const base = rq('SCP');
    if (base.type !== 'AssociateRq') throw new Error('unreachable');
    const bad: Pdu = {
      ...base,
      userInformation: [{ type: 'UserIdentityAc', serverResponse: Buffer.alloc(70_000) }],
    };
    expect(() => encodePdu(bad)).toThrow(/Server response is 70000 bytes long/);
  });
});
