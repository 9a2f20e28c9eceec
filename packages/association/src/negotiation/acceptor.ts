import {
  type AssociateAc,
  type AssociateRj,
  type AssociateRq,
  DICOM_APPLICATION_CONTEXT_NAME,
  type PresentationContextAc,
  PresentationContextResult,
  RejectReason,
  RejectResult,
  RejectSource,
  type UserInformationSubItem,
} from '@dimse-rx/pdu';
import { from, isObservable, map, type Observable, of } from 'rxjs';
import {
  type AcceptorPolicy,
  type CommonOptions,
  DEFAULT_MAX_PDU_LENGTH,
  IMPLEMENTATION_CLASS_UID,
  IMPLEMENTATION_VERSION_NAME,
  type UserIdentityDecision,
} from '../options.js';
import { maximumLengthProblem } from './outcome.js';

const reject = (result: number, source: number, reason: number): AssociateRj => ({ type: 'AssociateRj', result, source, reason });

const same = (a: string, b: string) => a.trim() === b.trim();

/** The presentation context answers: the first of our transfer syntaxes that was proposed. */
export function answerContexts(request: AssociateRq, policy: AcceptorPolicy): PresentationContextAc[] {
  return request.presentationContexts.map((pc): PresentationContextAc => {
    const accepted = policy.abstractSyntaxes;
    const ours = typeof accepted === 'function' ? accepted(pc.abstractSyntax, pc.transferSyntaxes) : accepted[pc.abstractSyntax];
    if (!ours) return { id: pc.id, result: PresentationContextResult.AbstractSyntaxNotSupported, transferSyntax: '' };
    const chosen = ours.find((ts) => pc.transferSyntaxes.includes(ts));
    return chosen === undefined
      ? { id: pc.id, result: PresentationContextResult.TransferSyntaxesNotSupported, transferSyntax: '' }
      : { id: pc.id, result: PresentationContextResult.Acceptance, transferSyntax: chosen };
  });
}

/** 0 means unlimited in the window: the smaller of two limits. */
const minLimit = (a: number, b: number) => (a === 0 ? b : b === 0 ? a : Math.min(a, b));

/**
 * The acceptor's answer to an A-ASSOCIATE-RQ under a policy: an A-ASSOCIATE-AC, or an
 * A-ASSOCIATE-RJ with the standard's result, source and reason. Asynchronous because the user
 * identity check may be (it can ask a directory).
 */
export function answerRequest(
  request: AssociateRq,
  policy: AcceptorPolicy & CommonOptions,
  openAssociations: number,
): Observable<AssociateAc | AssociateRj> {
  if (policy.maxAssociations !== undefined && openAssociations >= policy.maxAssociations) {
    return of(
      reject(RejectResult.Transient, RejectSource.ServiceProviderPresentation, RejectReason.ServiceProviderPresentation.LocalLimitExceeded),
    );
  }
  if (request.applicationContextName !== DICOM_APPLICATION_CONTEXT_NAME) {
    return of(reject(RejectResult.Permanent, RejectSource.ServiceUser, RejectReason.ServiceUser.ApplicationContextNameNotSupported));
  }
  // A Maximum Length of 1 to 7 leaves no room for an even fragment: no response could be sent.
  if (maximumLengthProblem(request) !== undefined) {
    return of(reject(RejectResult.Permanent, RejectSource.ServiceUser, RejectReason.ServiceUser.NoReasonGiven));
  }
  if (policy.aeTitles && !policy.aeTitles.some((t) => same(t, request.calledAeTitle))) {
    return of(reject(RejectResult.Permanent, RejectSource.ServiceUser, RejectReason.ServiceUser.CalledAeTitleNotRecognized));
  }
  if (policy.callingAeTitles && !policy.callingAeTitles.some((t) => same(t, request.callingAeTitle))) {
    return of(reject(RejectResult.Permanent, RejectSource.ServiceUser, RejectReason.ServiceUser.CallingAeTitleNotRecognized));
  }
  const contexts = answerContexts(request, policy);
  if (policy.noAcceptableContext === 'reject' && !contexts.some((pc) => pc.result === PresentationContextResult.Acceptance)) {
    return of(reject(RejectResult.Permanent, RejectSource.ServiceUser, RejectReason.ServiceUser.NoReasonGiven));
  }
  const identity = request.userInformation.find((i) => i.type === 'UserIdentityRq');
  const check = policy.userIdentity;
  const decision: Observable<UserIdentityDecision> = check ? toObservable(check(identity)) : of(true);
  return decision.pipe(
    map((answer) => {
      const accept = typeof answer === 'boolean' ? answer : answer.accept;
      if (!accept) return reject(RejectResult.Permanent, RejectSource.ServiceUser, RejectReason.ServiceUser.NoReasonGiven);
      const serverResponse = typeof answer === 'boolean' ? undefined : answer.serverResponse;
      return accepted(request, policy, contexts, identity?.positiveResponseRequested ? (serverResponse ?? new Uint8Array(0)) : undefined);
    }),
  );
}

function toObservable(value: ReturnType<NonNullable<AcceptorPolicy['userIdentity']>>): Observable<UserIdentityDecision> {
  if (typeof value === 'boolean' || (typeof value === 'object' && value !== null && 'accept' in value)) {
    return of(value as UserIdentityDecision);
  }
  return isObservable(value) ? value : from(value as Exclude<typeof value, UserIdentityDecision>);
}

function accepted(
  request: AssociateRq,
  policy: AcceptorPolicy & CommonOptions,
  presentationContexts: PresentationContextAc[],
  identityResponse: Uint8Array | undefined,
): AssociateAc {
  const acceptedSyntaxes = new Set(
    request.presentationContexts
      .filter((_, i) => presentationContexts[i]?.result === PresentationContextResult.Acceptance)
      .map((pc) => pc.abstractSyntax),
  );
  const userInformation: UserInformationSubItem[] = [
    { type: 'MaximumLength', maximumLength: policy.maxPduLength ?? DEFAULT_MAX_PDU_LENGTH },
    { type: 'ImplementationClassUid', uid: policy.implementationClassUid ?? IMPLEMENTATION_CLASS_UID },
  ];
  const proposedWindow = request.userInformation.find((i) => i.type === 'AsynchronousOperationsWindow');
  if (proposedWindow && policy.asynchronousOperationsWindow) {
    userInformation.push({
      type: 'AsynchronousOperationsWindow',
      // PS3.7 D.3.3.3: the AC gives what the requestor may invoke and perform, each at most what it
      // proposed; what it invokes, this side performs, and the other way round.
      maxOperationsInvoked: minLimit(proposedWindow.maxOperationsInvoked, policy.asynchronousOperationsWindow.maxOperationsPerformed),
      maxOperationsPerformed: minLimit(proposedWindow.maxOperationsPerformed, policy.asynchronousOperationsWindow.maxOperationsInvoked),
    });
  }
  for (const item of request.userInformation) {
    if (item.type !== 'RoleSelection' || !acceptedSyntaxes.has(item.sopClassUid)) continue;
    const allowed = policy.roles?.[item.sopClassUid];
    if (allowed) userInformation.push({ ...item, scuRole: item.scuRole && allowed.scu, scpRole: item.scpRole && allowed.scp });
  }
  userInformation.push({ type: 'ImplementationVersionName', name: policy.implementationVersionName ?? IMPLEMENTATION_VERSION_NAME });
  for (const item of request.userInformation) {
    if (item.type === 'SopClassExtendedNegotiation' && policy.extendedNegotiation && acceptedSyntaxes.has(item.sopClassUid)) {
      const reply = policy.extendedNegotiation(item);
      if (reply)
        userInformation.push({
          type: 'SopClassExtendedNegotiation',
          sopClassUid: item.sopClassUid,
          serviceClassApplicationInformation: reply,
        });
    }
    if (item.type === 'SopClassCommonExtendedNegotiation') policy.commonExtendedNegotiation?.(item);
  }
  if (identityResponse) userInformation.push({ type: 'UserIdentityAc', serverResponse: identityResponse });
  return {
    type: 'AssociateAc',
    protocolVersion: 1,
    calledAeTitle: request.calledAeTitle,
    callingAeTitle: request.callingAeTitle,
    applicationContextName: DICOM_APPLICATION_CONTEXT_NAME,
    presentationContexts,
    userInformation,
  };
}
