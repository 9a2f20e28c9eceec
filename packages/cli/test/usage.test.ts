/** Usage errors exit 2 with the message, the usage line and where the help is; --help prints the options. */
import { describe, expect, it } from 'vitest';
import { main } from '../src/main.js';
import { capture } from './support.js';

const usageError = async (args: string[], message: RegExp | string) => {
  const c = capture();
  expect(await main(args, c.io), args.join(' ')).toBe(2);
  expect(c.out).toEqual([]);
  const [first, usage, hint] = c.err[0]!.split('\n');
  if (typeof message === 'string') expect(first).toBe(`dimse-rx ${args[0]}: ${message}`);
  else expect(first).toMatch(message);
  expect(usage).toMatch(new RegExp(`^Usage: dimse-rx ${args[0]} `));
  expect(hint).toBe(`Try 'dimse-rx ${args[0]} --help' for the options.`);
};

describe('dimse-rx usage errors', () => {
  it('an AE title that is too long, empty or not printable', async () => {
    await usageError(
      ['echo', '127.0.0.1', '104', '-aet', 'SEVENTEEN-LETTERS'],
      /^dimse-rx echo: --calling-aet: Invalid AE title "SEVENTEEN-LETTERS": 17 characters, at most 16$/,
    );
    await usageError(['store', '127.0.0.1', '104', 'x.dcm', '-aec', '   '], /^dimse-rx store: --called-aet: Invalid AE title .*empty/);
    await usageError(['echo', '127.0.0.1', '104', '--calling-aet', 'TAB\tBED'], /--calling-aet: Invalid AE title .*not printable/);
    await usageError(['storescp', '--discard', '-aet', 'A-TITLE-FAR-TOO-LONG'], /^dimse-rx storescp: --aet: Invalid AE title/);
  });

  it('an unknown option, with the nearest known one', async () => {
    await usageError(['store', '127.0.0.1', '104', 'x.dcm', '--retires', '3'], 'unknown option --retires (did you mean --retries?)');
    await usageError(['echo', '127.0.0.1', '104', '--frobnicate'], 'unknown option --frobnicate');
    await usageError(['store', '127.0.0.1', '104', 'x.dcm', '+xyz'], /^dimse-rx store: unknown option \+xyz/);
  });

  it('values out of range or missing', async () => {
    await usageError(
      ['store', '127.0.0.1', '104', 'x.dcm', '--associations', '0'],
      '--associations must be an integer from 1 to 64, got 0',
    );
    await usageError(['store', '127.0.0.1', '104', 'x.dcm', '--retries', 'many'], '--retries must be an integer from 0 to 1000, got many');
    await usageError(['store', '127.0.0.1', '104', 'x.dcm', '--retries'], 'option --retries needs a value (N)');
    await usageError(['store', '127.0.0.1', '104', 'x.dcm', '--json=yes'], 'option --json takes no value');
    await usageError(['store', '127.0.0.1', 'port', 'x.dcm'], 'PORT must be an integer from 1 to 65535, got port');
    await usageError(['storescp', '--discard', '--max-associations', '-1'], /--max-associations must be an integer/);
  });

  it('--propose: a word it does not know, or a compressed transfer syntax', async () => {
    await usageError(
      ['store', '127.0.0.1', '104', 'x.dcm', '--propose', 'everything'],
      /^dimse-rx store: --propose takes all, little-endian, own or a list/,
    );
    await usageError(
      ['store', '127.0.0.1', '104', 'x.dcm', '--propose', '1.2.840.10008.1.2.1,1.2.840.10008.1.2.4.50'],
      /--propose: 1\.2\.840\.10008\.1\.2\.4\.50 is not an uncompressed transfer syntax/,
    );
  });

  it('options that go together', async () => {
    await usageError(['echo', '127.0.0.1', '104', '--password', 'secret'], '--password needs --username');
    await usageError(['echo', '127.0.0.1', '104', '--tls-cert', 'cert.pem'], '--tls-cert and --tls-key go together');
    await usageError(['storescp', '--discard', '--tls'], 'TLS needs --tls-cert FILE and --tls-key FILE (or +tls KEY CERT)');
    await usageError(['echo', '127.0.0.1', '104', '--tls-ca', '/nonexistent/ca.pem'], '--tls-ca /nonexistent/ca.pem: ENOENT');
    await usageError(['echo', '127.0.0.1', '104', '+tls', 'key.pem'], 'option +tls needs KEY CERT');
  });

  it('an unknown command', async () => {
    const c = capture();
    expect(await main(['stroe'], c.io)).toBe(2);
    expect(c.err).toEqual(["dimse-rx: unknown command 'stroe'\nTry 'dimse-rx --help' for the commands."]);
  });

  it('--help: every spelling of each option, DCMTK ones included, exit 0', async () => {
    const c = capture();
    expect(await main(['store', '--help'], c.io)).toBe(0);
    const help = c.out.join('\n');
    expect(help).toMatch(/^Usage: dimse-rx store HOST PORT PATH\.\.\. \[options\]/);
    for (const row of [
      /^ {2}-r, \+r, --recursive {2,}send the files of sub-folders too/m,
      /^ {2}-aet, --calling-aet TITLE {2,}our AE title/m,
      /^ {2}\+tls, --enable-tls KEY CERT {2,}DCMTK's spelling/m,
      /^ {2}--associations N {2,}send over N associations at once/m,
      /^ {2}-usr, --username NAME/m,
    ]) {
      expect(help).toMatch(row);
    }
    const s = capture();
    expect(await main(['storescp', '-h'], s.io)).toBe(0);
    expect(s.out.join('\n')).toMatch(/^ {2}--max-associations N {2,}associations at once/m);
    expect(s.out.join('\n')).toMatch(/^ {2}--idle-timeout SECONDS/m);
  });
});
