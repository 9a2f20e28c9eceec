import type {
  Abort,
  AssociateAc,
  AssociateRj,
  AssociateRq,
  PDataTf,
  Pdu,
  PresentationContextAc,
  PresentationContextRq,
  UnknownItem,
  UserInformationSubItem,
} from '@dimse-rx/pdu';
import fc from 'fast-check';

/** fast-check generators for every PDU of the model, valid as the encoder requires. */

const uid = fc
  .array(fc.integer({ min: 0, max: 99_999 }), { minLength: 2, maxLength: 8 })
  .map((parts) => `1.2.${parts.join('.')}`.slice(0, 64))
  .filter((s) => !s.endsWith('.'));

const aeTitle = fc
  .string({ unit: fc.constantFrom(...'ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_- '.split('')), minLength: 1, maxLength: 16 })
  .map((s) => s.trim())
  .filter((s) => s.length > 0);

const bytes = (maxLength: number) => fc.uint8Array({ maxLength }).map((a) => Buffer.from(a));
const contextId = fc.integer({ min: 0, max: 127 }).map((n) => 2 * n + 1);
const u16 = fc.integer({ min: 0, max: 0xffff });

const unknownItem = (types: number[]): fc.Arbitrary<UnknownItem> =>
  fc.record({ type: fc.constant('Unknown' as const), itemType: fc.constantFrom(...types), data: bytes(20) });

const userInformationSubItem: fc.Arbitrary<UserInformationSubItem> = fc.oneof(
  fc.record({ type: fc.constant('MaximumLength' as const), maximumLength: fc.integer({ min: 0, max: 0xffffffff }) }),
  fc.record({ type: fc.constant('ImplementationClassUid' as const), uid }),
  fc.record({
    type: fc.constant('ImplementationVersionName' as const),
    name: fc.string({ unit: fc.constantFrom(...'ABCXYZ_0189.'.split('')), minLength: 1, maxLength: 16 }),
  }),
  fc.record({ type: fc.constant('AsynchronousOperationsWindow' as const), maxOperationsInvoked: u16, maxOperationsPerformed: u16 }),
  fc.record({ type: fc.constant('RoleSelection' as const), sopClassUid: uid, scuRole: fc.boolean(), scpRole: fc.boolean() }),
  fc.record({ type: fc.constant('SopClassExtendedNegotiation' as const), sopClassUid: uid, serviceClassApplicationInformation: bytes(8) }),
  fc.record({
    type: fc.constant('SopClassCommonExtendedNegotiation' as const),
    version: fc.integer({ min: 0, max: 255 }),
    sopClassUid: uid,
    serviceClassUid: uid,
    relatedGeneralSopClassUids: fc.array(uid, { maxLength: 3 }),
  }),
  fc.record({
    type: fc.constant('UserIdentityRq' as const),
    identityType: fc.constantFrom(1 as const, 2 as const, 3 as const, 4 as const, 5 as const),
    positiveResponseRequested: fc.boolean(),
    primaryField: bytes(40),
    secondaryField: bytes(20),
  }),
  fc.record({ type: fc.constant('UserIdentityAc' as const), serverResponse: bytes(40) }),
  unknownItem([0x5a, 0x5f, 0x7f, 0xff]),
);

const presentationContextRq: fc.Arbitrary<PresentationContextRq> = fc
  .tuple(
    fc.record({ id: contextId, abstractSyntax: uid, transferSyntaxes: fc.array(uid, { minLength: 1, maxLength: 4 }) }),
    fc.option(fc.tuple(fc.integer({ min: 0, max: 255 }), fc.integer({ min: 1, max: 255 }), fc.integer({ min: 0, max: 255 }))),
  )
  .map(([pc, reserved]) => (reserved ? { ...pc, reserved } : pc));

const presentationContextAc: fc.Arbitrary<PresentationContextAc> = fc.oneof(
  fc.record({
    id: contextId,
    result: fc.constantFrom(0 as const, 1 as const, 2 as const, 3 as const, 4 as const),
    transferSyntax: uid,
  }),
  // A rejected context without its Transfer Syntax Sub-Item.
  fc.record({
    id: contextId,
    result: fc.constantFrom(1 as const, 2 as const, 3 as const, 4 as const),
    transferSyntax: fc.constant(''),
    withoutTransferSyntaxItem: fc.constant(true as const),
  }),
);

const associateCommon = {
  protocolVersion: fc.constant(1),
  calledAeTitle: aeTitle,
  callingAeTitle: aeTitle,
  applicationContextName: uid,
  userInformation: fc.array(userInformationSubItem, { maxLength: 8 }),
};

const withUnknownItems = <T extends AssociateRq | AssociateAc>(pdu: T, unknown: UnknownItem[]): T =>
  unknown.length > 0 ? { ...pdu, unknownItems: unknown } : pdu;

export const associateRq: fc.Arbitrary<AssociateRq> = fc
  .tuple(
    fc.record({
      type: fc.constant('AssociateRq' as const),
      ...associateCommon,
      presentationContexts: fc.array(presentationContextRq, { minLength: 1, maxLength: 6 }),
    }),
    fc.array(unknownItem([0x11, 0x60, 0x99]), { maxLength: 2 }),
  )
  .map(([pdu, unknown]) => withUnknownItems(pdu, unknown));

export const associateAc: fc.Arbitrary<AssociateAc> = fc
  .tuple(
    fc.record({
      type: fc.constant('AssociateAc' as const),
      ...associateCommon,
      presentationContexts: fc.array(presentationContextAc, { maxLength: 6 }),
    }),
    fc.array(unknownItem([0x11, 0x60, 0x99]), { maxLength: 2 }),
  )
  .map(([pdu, unknown]) => withUnknownItems(pdu, unknown));

export const associateRj: fc.Arbitrary<AssociateRj> = fc.record({
  type: fc.constant('AssociateRj' as const),
  result: fc.integer({ min: 0, max: 255 }),
  source: fc.integer({ min: 0, max: 255 }),
  reason: fc.integer({ min: 0, max: 255 }),
});

export const pDataTf: fc.Arbitrary<PDataTf> = fc.record({
  type: fc.constant('PDataTf' as const),
  pdvs: fc.array(fc.record({ presentationContextId: contextId, command: fc.boolean(), last: fc.boolean(), value: bytes(300) }), {
    minLength: 1,
    maxLength: 5,
  }),
});

export const abort: fc.Arbitrary<Abort> = fc.record({
  type: fc.constant('Abort' as const),
  source: fc.integer({ min: 0, max: 255 }),
  reason: fc.integer({ min: 0, max: 255 }),
});

export const anyPdu: fc.Arbitrary<Pdu> = fc.oneof(
  associateRq,
  associateAc,
  associateRj,
  pDataTf,
  fc.constant({ type: 'ReleaseRq' as const }),
  fc.constant({ type: 'ReleaseRp' as const }),
  abort,
);
