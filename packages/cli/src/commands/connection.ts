/** Options of the connection itself, shared by the network commands: AE titles, TLS, user identity. */
import { readFileSync } from 'node:fs';
import type { ConnectionOptions, TlsOptions } from 'node:tls';
import type { AssociateOptions } from '@dimse-rx/association';
import { normalizeAeTitle, type UserIdentityRq } from '@dimse-rx/pdu';
import { type OptionSpec, type Parsed, stringOption, UsageError } from '../args.js';
import type { CommonSettings } from './common.js';

/** TLS (PS3.15 B.1), with DCMTK's spellings beside ours. */
export const TLS_OPTIONS: readonly OptionSpec[] = [
  { name: 'tls', aliases: ['+tla'], description: 'use TLS (any --tls-* option turns it on too)' },
  { name: 'tls-ca', aliases: ['+cf'], value: 'FILE', description: 'trust the certificates in FILE (PEM; may repeat)' },
  { name: 'tls-cert', value: 'FILE', description: 'our certificate (PEM)' },
  { name: 'tls-key', value: 'FILE', description: 'the private key of our certificate (PEM)' },
  {
    name: 'enable-tls',
    aliases: ['+tls'],
    into: [
      { name: 'tls-key', value: 'KEY' },
      { name: 'tls-cert', value: 'CERT' },
    ],
    description: "DCMTK's spelling of --tls-key KEY --tls-cert CERT",
  },
  { name: 'tls-ignore-peer-cert', aliases: ['-ic'], description: "do not verify the peer's certificate" },
];

/** User identity negotiation (PS3.7 D.3.3.7), requestor side. */
export const IDENTITY_OPTIONS: readonly OptionSpec[] = [
  { name: 'username', aliases: ['-usr'], value: 'NAME', description: 'user identity: a user name' },
  { name: 'password', aliases: ['-pwd'], value: 'PASSWORD', description: 'user identity: the password of --username' },
  { name: 'identity-response', aliases: ['-rsp'], description: 'ask the peer to confirm the user identity' },
];

/** An AE title option, checked as the standard says (PS3.5 6.2: 16 characters, no control characters). */
export function aeTitleOption(options: Parsed['options'], name: string, fallback: string): string {
  const value = stringOption(options, name);
  if (value === undefined) return fallback;
  try {
    return normalizeAeTitle(value);
  } catch (error) {
    throw new UsageError(`--${name}: ${(error as Error).message}`);
  }
}

const read = (option: string, path: string): Buffer => {
  try {
    return readFileSync(path);
  } catch (error) {
    throw new UsageError(`--${option} ${path}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
};

const wantsTls = (options: Parsed['options']) =>
  options.tls === true || ['tls-ca', 'tls-cert', 'tls-key', 'tls-ignore-peer-cert'].some((name) => options[name] !== undefined);

/** The certificate and key, both or neither. */
function identity(parsed: Parsed): { cert: Buffer; key: Buffer } | undefined {
  const cert = stringOption(parsed.options, 'tls-cert');
  const key = stringOption(parsed.options, 'tls-key');
  if ((cert === undefined) !== (key === undefined)) throw new UsageError('--tls-cert and --tls-key go together');
  return cert === undefined || key === undefined ? undefined : { cert: read('tls-cert', cert), key: read('tls-key', key) };
}

const authorities = (parsed: Parsed): Buffer[] | undefined => parsed.lists['tls-ca']?.map((path) => read('tls-ca', path));

/** TLS options of a requestor (undefined: plain TCP). The peer's certificate is verified unless -ic. */
export function tlsClientOptions(parsed: Parsed): ConnectionOptions | undefined {
  if (!wantsTls(parsed.options)) return undefined;
  const ca = authorities(parsed);
  const own = identity(parsed);
  return {
    ...(ca ? { ca } : {}),
    ...(own ?? {}),
    ...(parsed.options['tls-ignore-peer-cert'] === true ? { rejectUnauthorized: false } : {}),
  };
}

/**
 * TLS options of an acceptor (undefined: plain TCP): it needs a certificate and key. With
 * --tls-ca the requestors must show a certificate signed by one of those (DCMTK's -rc); without
 * it, or with -ic, none is asked for.
 */
export function tlsServerOptions(parsed: Parsed): TlsOptions | undefined {
  if (!wantsTls(parsed.options)) return undefined;
  const own = identity(parsed);
  if (!own) throw new UsageError('TLS needs --tls-cert FILE and --tls-key FILE (or +tls KEY CERT)');
  const ca = authorities(parsed);
  const verify = ca !== undefined && parsed.options['tls-ignore-peer-cert'] !== true;
  return { ...own, ...(ca ? { ca } : {}), requestCert: verify, rejectUnauthorized: verify };
}

/** The user identity to propose (username, with a password when given), if any. */
export function userIdentityOption(options: Parsed['options']): AssociateOptions['userIdentity'] {
  const username = stringOption(options, 'username');
  const password = stringOption(options, 'password');
  if (username === undefined) {
    if (password !== undefined) throw new UsageError('--password needs --username');
    return undefined;
  }
  if (username === '') throw new UsageError('--username must not be empty');
  return {
    identityType: password === undefined ? 1 : 2,
    positiveResponseRequested: options['identity-response'] === true,
    primaryField: username,
    ...(password === undefined ? {} : { secondaryField: password }),
  };
}

/** A user identity in words, for logs: the user name, or the kind of credential (never a password or token). */
export function describeIdentity(identity: UserIdentityRq | undefined): string {
  if (!identity) return 'no user identity';
  const kinds: Record<number, string> = { 3: 'a Kerberos ticket', 4: 'a SAML assertion', 5: 'a JSON web token' };
  if (identity.identityType === 1 || identity.identityType === 2) {
    const name = Buffer.from(identity.primaryField).toString('utf8');
    return `user ${JSON.stringify(name)}${identity.identityType === 2 ? ' with a password' : ''}`;
  }
  return kinds[identity.identityType] ?? `identity type ${identity.identityType}`;
}

/**
 * What every network command associates with: the peer, AE titles, maximum PDU, timeouts, TLS
 * and user identity as the options say; the caller adds its presentation contexts.
 */
export function associationOptions(
  parsed: Parsed,
  settings: CommonSettings,
  target: { readonly host: string; readonly port: number },
): Omit<AssociateOptions, 'presentationContexts'> {
  const tls = tlsClientOptions(parsed);
  const userIdentity = userIdentityOption(parsed.options);
  return {
    ...target,
    callingAeTitle: settings.callingAeTitle,
    calledAeTitle: settings.calledAeTitle,
    maxPduLength: settings.maxPduLength,
    timeouts: settings.timeouts,
    ...(tls ? { tls } : {}),
    ...(userIdentity ? { userIdentity } : {}),
  };
}
