import type { Association, NegotiatedContext, ProposedContext } from '@dimse-rx/association';
import { describeUid, isUncompressed, TransferSyntax, transferSyntaxProperties, UNCOMPRESSED_TRANSFER_SYNTAXES } from '@dimse-rx/dataset';
import { NoPresentationContextError } from '../../operation/invoke.js';

/**
 * Which transfer syntaxes `storageContexts` and `store` propose besides a data set's own (which
 * always goes in a presentation context of its own, used whenever the peer accepts it):
 * - `'all'` (default): a second context with every uncompressed syntax it converts to
 *   (explicit VR little endian, implicit VR little endian, deflated, explicit VR big endian);
 * - `'little-endian'`: the same without deflate and big endian;
 * - `'own'`: nothing else (a peer that refuses the data set's syntax gets nothing);
 * - a list of transfer syntax UIDs: those, in that order (compressed data never converts).
 */
export type TransferSyntaxProposal = 'all' | 'little-endian' | 'own' | readonly string[];

/** The transfer syntaxes to propose for a data set in `transferSyntaxUid`: its own first, then the uncompressed ones it converts to. */
export function proposedTransferSyntaxes(transferSyntaxUid: string, propose: TransferSyntaxProposal = 'all'): string[] {
  return [transferSyntaxUid, ...alternativesFor(transferSyntaxUid, propose).filter((ts) => ts !== transferSyntaxUid)];
}

/** The syntaxes a data set in `transferSyntaxUid` may be converted to, as `propose` says. */
function alternativesFor(transferSyntaxUid: string, propose: TransferSyntaxProposal): readonly string[] {
  if (transferSyntaxProperties(transferSyntaxUid).encapsulated || propose === 'own') return [];
  if (propose === 'all') return UNCOMPRESSED_TRANSFER_SYNTAXES;
  if (propose === 'little-endian') return [TransferSyntax.ExplicitVrLittleEndian, TransferSyntax.ImplicitVrLittleEndian];
  return propose.filter(isUncompressed);
}

/**
 * Presentation contexts for storing data sets of these SOP classes and transfer syntaxes, as
 * storescu proposes them: for each (SOP class, transfer syntax) a context of that syntax alone,
 * so that a peer accepting it gets the data set as it is, whatever it prefers; and for each SOP
 * class with uncompressed data a second context listing the syntaxes it may be converted to
 * (see `TransferSyntaxProposal`), used only when the peer refuses the data set's own.
 */
export function storageContexts(
  items: readonly { readonly sopClassUid: string; readonly transferSyntaxUid: string }[],
  options: { readonly propose?: TransferSyntaxProposal } = {},
): ProposedContext[] {
  const propose = options.propose ?? 'all';
  const own = new Set<string>();
  const alternatives = new Map<string, string[]>();
  const contexts: ProposedContext[] = [];
  for (const { sopClassUid, transferSyntaxUid } of items) {
    const key = `${sopClassUid} ${transferSyntaxUid}`;
    if (!own.has(key)) {
      own.add(key);
      contexts.push({ abstractSyntax: sopClassUid, transferSyntaxes: [transferSyntaxUid] });
    }
    const list = alternatives.get(sopClassUid) ?? [];
    for (const ts of alternativesFor(transferSyntaxUid, propose)) if (!list.includes(ts)) list.push(ts);
    alternatives.set(sopClassUid, list);
  }
  for (const [sopClassUid, transferSyntaxes] of alternatives) {
    // Only what the own contexts do not already propose alone is worth a context more.
    const ownSyntaxes = contexts.filter((pc) => pc.abstractSyntax === sopClassUid).map((pc) => pc.transferSyntaxes[0]);
    if (transferSyntaxes.some((ts) => !ownSyntaxes.includes(ts))) contexts.push({ abstractSyntax: sopClassUid, transferSyntaxes });
  }
  return contexts;
}

/** The accepted context for a data set: its own syntax, else an uncompressed one it can be converted to. */
export function chooseContext(
  association: Association,
  sopClassUid: string,
  sourceSyntax: string,
): NegotiatedContext & { transferSyntax: string } {
  const candidates = association.acceptedContexts.filter((pc) => pc.abstractSyntax === sopClassUid);
  const own = candidates.find((pc) => pc.transferSyntax === sourceSyntax);
  if (own) return own;
  if (!transferSyntaxProperties(sourceSyntax).encapsulated) {
    for (const ts of UNCOMPRESSED_TRANSFER_SYNTAXES) {
      const found = candidates.find((pc) => pc.transferSyntax === ts);
      if (found) return found;
    }
  }
  const accepted = [...new Set(candidates.map((pc) => pc.transferSyntax))];
  throw new NoPresentationContextError(
    accepted.length === 0
      ? `The peer accepted no presentation context for SOP class ${describeUid(sopClassUid)}`
      : `No accepted presentation context can carry SOP class ${describeUid(sopClassUid)} in ${describeUid(sourceSyntax)}${
          transferSyntaxProperties(sourceSyntax).encapsulated ? ' (compressed data is sent only in its own transfer syntax)' : ''
        }; the peer accepted it in ${accepted.map(describeUid).join(', ')}`,
  );
}
