/** TLS and user identity on the command line: echo, store and storescp, with a certificate made by openssl. */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { UserIdentityRq } from '@dimse-rx/pdu';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeCertificate } from '../../association/test/support.js';
import { main } from '../src/main.js';
import { answering, capture, startScp, startStorescp, writeStudy } from './support.js';

describe('dimse-rx over TLS, and with a user identity', () => {
  let work: string;
  let key: string;
  let cert: string;

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'dimse-rx-tls-'));
    makeCertificate(work);
    key = join(work, 'key.pem');
    cert = join(work, 'cert.pem');
  });
  afterAll(() => rm(work, { recursive: true, force: true }));

  it('store --tls into storescp --tls: every file stored byte for byte', async () => {
    const files = await writeStudy(work, 3, 1);
    const out = join(work, 'received');
    const scp = await startStorescp(['--out', out, '--tls-cert', cert, '--tls-key', key]);
    try {
      const c = capture();
      expect(await main(['store', '127.0.0.1', String(scp.port), '--tls', '--tls-ca', cert, ...files.map((f) => f.path)], c.io)).toBe(0);
      for (const file of files) {
        const written = await readFile(join(out, `${file.uid}.dcm`));
        expect(Buffer.compare(written.subarray(written.length - file.dataSet.length), file.dataSet)).toBe(0);
      }
    } finally {
      await scp.stop();
    }
  });

  it("echo --tls: the peer's certificate is verified (untrusted fails, --tls-ca or -ic succeeds), plain TCP to a TLS port fails", async () => {
    const scp = await startStorescp(['--discard', '+tls', key, cert]);
    try {
      const target = ['echo', '127.0.0.1', String(scp.port), '--timeout', '3'];
      const untrusted = capture();
      expect(await main([...target, '--tls'], untrusted.io)).toBe(1);
      expect(untrusted.err[0]).toMatch(/^dimse-rx echo: .*self[- ]signed certificate/i);
      expect(await main([...target, '+cf', cert], capture().io)).toBe(0);
      expect(await main([...target, '--tls', '-ic'], capture().io)).toBe(0);
      expect(await main(target, capture().io)).toBe(1);
    } finally {
      await scp.stop();
    }
  });

  it('storescp --tls-ca asks for a client certificate: echo without one fails, with one (+tls KEY CERT) succeeds', async () => {
    const scp = await startStorescp(['--discard', '--tls-cert', cert, '--tls-key', key, '--tls-ca', cert]);
    try {
      const target = ['echo', '127.0.0.1', String(scp.port), '--tls-ca', cert, '--timeout', '3'];
      expect(await main(target, capture().io)).toBe(1);
      expect(await main([...target, '+tls', key, cert], capture().io)).toBe(0);
    } finally {
      await scp.stop();
    }
  });

  it('--username and --password reach the peer as a user identity (type 2); --username alone as type 1', async () => {
    const files = await writeStudy(work, 1, 2);
    const identities: (UserIdentityRq | undefined)[] = [];
    const peer = await startScp(
      answering(() => 0),
      {
        userIdentity: (identity) => {
          identities.push(identity);
          return true;
        },
      },
    );
    try {
      expect(
        await main(['store', '127.0.0.1', String(peer.port), files[0]!.path, '--username', 'bob', '--password', 's3cret'], capture().io),
      ).toBe(0);
      expect(await main(['echo', '127.0.0.1', String(peer.port), '-usr', 'carol', '-rsp'], capture().io)).toBe(0);
      expect(await main(['echo', '127.0.0.1', String(peer.port)], capture().io)).toBe(0);
    } finally {
      peer.stop();
    }
    const decoded = identities.map((i) =>
      i === undefined
        ? undefined
        : {
            type: i.identityType,
            response: i.positiveResponseRequested,
            user: Buffer.from(i.primaryField).toString(),
            password: Buffer.from(i.secondaryField).toString(),
          },
    );
    expect(decoded).toEqual([
      { type: 2, response: false, user: 'bob', password: 's3cret' },
      { type: 1, response: true, user: 'carol', password: '' },
      undefined,
    ]);
  });

  it('a peer that refuses the user identity rejects the association: exit 1 and the reason', async () => {
    const peer = await startScp(
      answering(() => 0),
      { userIdentity: () => false },
    );
    try {
      const c = capture();
      expect(await main(['echo', '127.0.0.1', String(peer.port), '--username', 'mallory'], c.io)).toBe(1);
      expect(c.err[0]).toMatch(/^dimse-rx echo: Association rejected/);
    } finally {
      peer.stop();
    }
  });
});
