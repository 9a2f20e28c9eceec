import type { AssociateRq } from '@dimse-rx/pdu';
import { describe, expect, it } from 'vitest';
import { answerContexts } from '../src/negotiation/acceptor.js';

const request: AssociateRq = {
  type: 'AssociateRq',
  protocolVersion: 1,
  calledAeTitle: 'SCP',
  callingAeTitle: 'SCU',
  applicationContextName: '1.2.840.10008.3.1.1.1',
  presentationContexts: [
    { id: 1, abstractSyntax: '1.2.840.10008.5.1.4.1.1.2', transferSyntaxes: ['1.2.840.10008.1.2', '1.2.840.10008.1.2.4.70'] },
    { id: 3, abstractSyntax: '1.2.840.10008.5.1.4.1.1.4', transferSyntaxes: ['1.2.840.10008.1.2.4.50'] },
    { id: 5, abstractSyntax: '1.2.3.4', transferSyntaxes: ['1.2.840.10008.1.2'] },
  ],
  userInformation: [],
};

describe('presentation context answers', () => {
  it('takes the first of our transfer syntaxes that was proposed, from a table', () => {
    expect(
      answerContexts(request, { abstractSyntaxes: { '1.2.840.10008.5.1.4.1.1.2': ['1.2.840.10008.1.2.1', '1.2.840.10008.1.2'] } }),
    ).toEqual([
      { id: 1, result: 0, transferSyntax: '1.2.840.10008.1.2' },
      { id: 3, result: 3, transferSyntax: '' },
      { id: 5, result: 3, transferSyntax: '' },
    ]);
  });

  it('asks a function with the proposed transfer syntaxes, for policies that accept families of SOP classes', () => {
    const seen: string[] = [];
    const answers = answerContexts(request, {
      abstractSyntaxes: (abstractSyntax, proposed) => {
        seen.push(`${abstractSyntax}: ${proposed.join(' ')}`);
        if (!abstractSyntax.startsWith('1.2.840.10008.5.1.4.1.1.')) return undefined;
        return abstractSyntax.endsWith('.4') ? ['1.2.840.10008.1.2.1'] : ['1.2.840.10008.1.2.4.70', ...proposed];
      },
    });
    expect(answers).toEqual([
      { id: 1, result: 0, transferSyntax: '1.2.840.10008.1.2.4.70' },
      { id: 3, result: 4, transferSyntax: '' },
      { id: 5, result: 3, transferSyntax: '' },
    ]);
    expect(seen).toEqual([
      '1.2.840.10008.5.1.4.1.1.2: 1.2.840.10008.1.2 1.2.840.10008.1.2.4.70',
      '1.2.840.10008.5.1.4.1.1.4: 1.2.840.10008.1.2.4.50',
      '1.2.3.4: 1.2.840.10008.1.2',
    ]);
  });
});
