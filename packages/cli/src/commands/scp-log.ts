/**
 * What `storescp` tells its operator about associations: each one accepted (AE titles, user
 * identity, contexts accepted and refused), its C-ECHOs, how it ended (released, aborted, idle),
 * and each association request refused with its reason.
 */
import { type Association, AssociationAbortedError, AssociationRejectedError, AssociationTimeoutError } from '@dimse-rx/association';
import type { AssociateRj, AssociateRq } from '@dimse-rx/pdu';
import type { Output } from './common.js';
import { describeIdentity } from './connection.js';

/** PS3.8 9.3.3.2: why a presentation context was not accepted. */
const CONTEXT_RESULTS: Readonly<Record<number, string>> = {
  1: 'user rejection',
  2: 'no reason given',
  3: 'abstract syntax not supported',
  4: 'transfer syntaxes not supported',
};

/** Words for UIDs (SOP classes, transfer syntaxes) next to them; the UID alone when unknown. */
export type UidNamer = (uid: string) => string;

export class ScpLog {
  readonly #out: Output;
  readonly #json: boolean;
  readonly #name: UidNamer;
  #count = 0;
  /** Set when the server is stopping: the aborts that follow are its own. */
  stopping = false;

  constructor(out: Output, json: boolean, name: UidNamer) {
    this.#out = out;
    this.#json = json;
    this.#name = name;
  }

  /** An association accepted: its number (for the lines that follow), logged with what was negotiated. */
  accepted(association: Association): number {
    const n = ++this.#count;
    const { callingAeTitle, calledAeTitle, userIdentity, presentationContexts } = association.negotiation;
    const accepted = presentationContexts.filter((pc) => pc.accepted);
    const refused = presentationContexts.filter((pc) => !pc.accepted);
    if (this.#json) {
      this.#out.json({
        command: 'storescp',
        association: n,
        callingAeTitle,
        calledAeTitle,
        userIdentity: describeIdentity(userIdentity),
        accepted: accepted.map((pc) => ({ abstractSyntax: pc.abstractSyntax, transferSyntax: pc.transferSyntax })),
        refused: refused.map((pc) => ({ abstractSyntax: pc.abstractSyntax, result: pc.result, reason: CONTEXT_RESULTS[pc.result] })),
      });
    } else {
      const contexts = accepted.map((pc) => `${this.#name(pc.abstractSyntax)} in ${this.#name(pc.transferSyntax!)}`);
      this.#out.line(`association ${n}: ${callingAeTitle} -> ${calledAeTitle}, ${describeIdentity(userIdentity)}`);
      this.#out.line(`association ${n}: accepted ${contexts.length === 0 ? 'no presentation context' : contexts.join('; ')}`);
      // Refused contexts once per abstract syntax: storescu proposes one syntax per context.
      const reasons = new Map<string, string>();
      for (const pc of refused) reasons.set(pc.abstractSyntax, CONTEXT_RESULTS[pc.result] ?? `result ${pc.result}`);
      if (reasons.size > 0) {
        this.#out.line(`association ${n}: refused ${[...reasons].map(([uid, reason]) => `${this.#name(uid)} (${reason})`).join('; ')}`);
      }
    }
    association.finished.subscribe((error) => this.#ended(n, error));
    return n;
  }

  /** A C-ECHO answered on association `n`. */
  echo(n: number): void {
    if (this.#json) this.#out.json({ command: 'storescp', association: n, echo: true, status: 0 });
    else this.#out.line(`association ${n}: C-ECHO answered (0x0000)`);
  }

  /** An association request refused (A-ASSOCIATE-RJ), with its reason. */
  rejected(peer: string, request: AssociateRq, response: AssociateRj): void {
    const why = new AssociationRejectedError(response.result, response.source, response.reason).message.replace(
      /^Association rejected: /,
      '',
    );
    if (this.#json) {
      this.#out.json({
        command: 'storescp',
        rejected: true,
        peer,
        callingAeTitle: request.callingAeTitle,
        calledAeTitle: request.calledAeTitle,
        result: response.result,
        source: response.source,
        reason: response.reason,
        meaning: why,
      });
    } else {
      this.#out.line(`refused association ${request.callingAeTitle} -> ${request.calledAeTitle} from ${peer}: ${why}`);
    }
  }

  #ended(n: number, error: Error | undefined): void {
    const how =
      error === undefined
        ? 'released'
        : error instanceof AssociationTimeoutError && error.timer === 'idle'
          ? `ended after ${error.milliseconds / 1000} s without a message (--idle-timeout)`
          : this.stopping && error instanceof AssociationAbortedError && error.source === 0
            ? 'aborted: storescp is stopping and the peer did not release in time'
            : error.message.replace(/^Association aborted: /, 'aborted: ');
    if (this.#json) this.#out.json({ command: 'storescp', association: n, ended: error === undefined ? 'released' : how });
    else this.#out.line(`association ${n}: ${how}`);
  }
}
