import {
  type AssociateRq,
  DICOM_APPLICATION_CONTEXT_NAME,
  normalizeAeTitle,
  PROTOCOL_VERSION,
  type UserInformationSubItem,
} from '@dimse-rx/pdu';
import {
  type AssociateOptions,
  checkMaxPduLength,
  DEFAULT_MAX_PDU_LENGTH,
  IMPLEMENTATION_CLASS_UID,
  IMPLEMENTATION_VERSION_NAME,
} from '../options.js';

const bytes = (v: Uint8Array | string | undefined) => (typeof v === 'string' ? Buffer.from(v, 'utf8') : (v ?? new Uint8Array(0)));

/**
 * The A-ASSOCIATE-RQ for the options. Throws a RangeError or TypeError naming the option when
 * one cannot be sent (an invalid AE title, more than 128 presentation contexts...).
 */
export function buildRequest(options: AssociateOptions): AssociateRq {
  const callingAeTitle = normalizeAeTitle(options.callingAeTitle);
  const calledAeTitle = normalizeAeTitle(options.calledAeTitle);
  if (options.presentationContexts.length === 0) throw new RangeError('presentationContexts: propose at least one');
  if (options.presentationContexts.length > 128) {
    throw new RangeError(`presentationContexts: ${options.presentationContexts.length} proposed, at most 128 (odd IDs 1 to 255)`);
  }
  for (const pc of options.presentationContexts) {
    if (pc.transferSyntaxes.length === 0) throw new RangeError(`presentationContexts: ${pc.abstractSyntax} has no transfer syntax`);
  }
  const maxPduLength = options.maxPduLength ?? DEFAULT_MAX_PDU_LENGTH;
  checkMaxPduLength(maxPduLength);
  const userInformation: UserInformationSubItem[] = [
    { type: 'MaximumLength', maximumLength: maxPduLength },
    { type: 'ImplementationClassUid', uid: options.implementationClassUid ?? IMPLEMENTATION_CLASS_UID },
  ];
  const window = options.asynchronousOperationsWindow;
  if (window && (window.maxOperationsInvoked !== 1 || window.maxOperationsPerformed !== 1)) {
    userInformation.push({ type: 'AsynchronousOperationsWindow', ...window });
  }
  for (const role of options.roles ?? []) userInformation.push({ type: 'RoleSelection', ...role });
  userInformation.push({ type: 'ImplementationVersionName', name: options.implementationVersionName ?? IMPLEMENTATION_VERSION_NAME });
  for (const item of options.extendedNegotiation ?? []) userInformation.push({ type: 'SopClassExtendedNegotiation', ...item });
  for (const item of options.commonExtendedNegotiation ?? []) {
    userInformation.push({ type: 'SopClassCommonExtendedNegotiation', version: 0, ...item });
  }
  if (options.userIdentity) {
    const { identityType, positiveResponseRequested, primaryField, secondaryField } = options.userIdentity;
    userInformation.push({
      type: 'UserIdentityRq',
      identityType,
      positiveResponseRequested,
      primaryField: bytes(primaryField),
      secondaryField: bytes(secondaryField),
    });
  }
  return {
    type: 'AssociateRq',
    protocolVersion: PROTOCOL_VERSION,
    calledAeTitle,
    callingAeTitle,
    applicationContextName: DICOM_APPLICATION_CONTEXT_NAME,
    presentationContexts: options.presentationContexts.map((pc, i) => ({
      id: 2 * i + 1,
      abstractSyntax: pc.abstractSyntax,
      transferSyntaxes: pc.transferSyntaxes,
    })),
    userInformation,
  };
}
