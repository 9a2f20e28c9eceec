import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { connect, createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  type Abort,
  type AssociateAc,
  type AssociateRj,
  type AssociateRq,
  decodePdu,
  encodePdu,
  type PDataTf,
  type Pdu,
  PduFramer,
  type UserIdentityRq,
} from '@dimse-rx/pdu';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { type DcmtkPeer, describeDcmtk, freePort, LOOPBACK, type RunResult, runDcmtk, startDcmtk } from '../support/dcmtk.js';

const SECONDARY_CAPTURE = '1.2.840.10008.5.1.4.1.1.7';
const EXPLICIT_LE = '1.2.840.10008.1.2.1';
const SOP_INSTANCE = '1.2.826.0.1.3680043.2.1143.9.1.1.1';

/** Bytes recorded by the proxy for one connection, each direction as one stream. */
interface Session {
  readonly toServer: Buffer[];
  readonly toClient: Buffer[];
  /** Resolves when both sockets have closed. */
  readonly closed: Promise<void>;
}

interface RecordingProxy {
  readonly port: number;
  readonly sessions: Session[];
  close(): Promise<void>;
}

/** A TCP proxy on 127.0.0.1 that forwards bytes both ways unchanged and records them. */
async function startProxy(targetPort: number): Promise<RecordingProxy> {
  const sessions: Session[] = [];
  const sockets = new Set<Socket>();
  const track = (socket: Socket) => {
    sockets.add(socket);
    socket.setNoDelay(true);
    return new Promise<void>((resolve) =>
      socket.once('close', () => {
        sockets.delete(socket);
        resolve();
      }),
    );
  };
  const relay = (from: Socket, to: Socket, record: Buffer[]) => {
    from.on('data', (chunk: Buffer) => {
      record.push(chunk);
      to.write(chunk);
    });
    from.on('end', () => to.end());
    from.on('error', () => to.destroy());
  };
  const server = createServer({ allowHalfOpen: true }, (client) => {
    const upstream = connect({ host: LOOPBACK, port: targetPort, allowHalfOpen: true });
    const session: Session = { toServer: [], toClient: [], closed: Promise.all([track(client), track(upstream)]).then(() => {}) };
    sessions.push(session);
    relay(client, upstream, session.toServer);
    relay(upstream, client, session.toClient);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, LOOPBACK, resolve);
  });
  const address = server.address();
  if (typeof address !== 'object' || !address) throw new Error('Proxy has no address');
  return {
    port: address.port,
    sessions,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

const hex = (bytes: Uint8Array) => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex');

/** Cuts a recorded stream at the PDU boundaries given by the 6-byte headers. */
function splitPdus(stream: Buffer): Buffer[] {
  const pdus: Buffer[] = [];
  let offset = 0;
  while (offset < stream.length) {
    expect(stream.length - offset, `a whole PDU header at offset ${offset}`).toBeGreaterThanOrEqual(6);
    const end = offset + 6 + stream.readUInt32BE(offset + 2);
    expect(end, `the PDU at offset ${offset} ends inside the stream`).toBeLessThanOrEqual(stream.length);
    pdus.push(stream.subarray(offset, end));
    offset = end;
  }
  return pdus;
}

function frameInChunks(stream: Buffer, size: number): string[] {
  const framer = new PduFramer({ maxPduLength: 0 });
  const types: string[] = [];
  for (let offset = 0; offset < stream.length; offset += size) {
    for (const pdu of framer.push(stream.subarray(offset, offset + size))) types.push(pdu.type);
  }
  framer.end();
  return types;
}

interface Direction {
  /** The raw bytes of each PDU. */
  readonly raw: Buffer[];
  readonly pdus: Pdu[];
  readonly types: string[];
}

/** Splits, round-trips and frames one direction of a capture. */
function analyse(stream: Buffer, label: string): Direction {
  const raw = splitPdus(stream);
  const pdus = raw.map((bytes, i) => {
    const pdu = decodePdu(bytes);
    expect(hex(encodePdu(pdu)), `${label}: PDU ${i} (${pdu.type}) re-encoded`).toBe(hex(bytes));
    return pdu;
  });
  const types = pdus.map((pdu) => pdu.type);
  for (const size of [1, 7, 1000]) expect(frameInChunks(stream, size), `${label}: framed in chunks of ${size}`).toEqual(types);
  return { raw, pdus, types };
}

interface Capture {
  readonly result: RunResult;
  readonly toServer: Direction;
  readonly toClient: Direction;
}

async function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what} within ${ms} ms`)), ms))),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** Runs a DCMTK SCU through the proxy and analyses the one connection it made. */
async function capture(proxy: RecordingProxy, tool: string, args: readonly string[], expectedCode = 0): Promise<Capture> {
  const before = proxy.sessions.length;
  const result = await runDcmtk(tool, args, { timeoutMs: 10_000 });
  expect(result.code, `${tool} exit code\n${result.stdout}${result.stderr}`).toBe(expectedCode);
  expect(proxy.sessions.length, 'connections through the proxy').toBe(before + 1);
  const session = proxy.sessions[before]!;
  await withTimeout(session.closed, 5_000, 'The proxied connection did not close');
  return {
    result,
    toServer: analyse(Buffer.concat(session.toServer), `${tool} → server`),
    toClient: analyse(Buffer.concat(session.toClient), `server → ${tool}`),
  };
}

const only = <T extends Pdu['type']>(direction: Direction, type: T) =>
  direction.pdus.filter((pdu): pdu is Extract<Pdu, { type: T }> => pdu.type === type);

function first<T extends Pdu['type']>(direction: Direction, type: T): Extract<Pdu, { type: T }> {
  const found = only(direction, type)[0];
  if (!found) throw new Error(`No ${type} in ${direction.types.join(', ')}`);
  return found;
}

/** The data-set fragments of the P-DATA-TFs, concatenated, and the contexts they used. */
function dataSet(direction: Direction): { bytes: Buffer; contextIds: Set<number> } {
  const pdvs = only(direction, 'PDataTf').flatMap((pdu: PDataTf) => pdu.pdvs.filter((pdv) => !pdv.command));
  return { bytes: Buffer.concat(pdvs.map((pdv) => pdv.value)), contextIds: new Set(pdvs.map((pdv) => pdv.presentationContextId)) };
}

/** The data set of a DICOM file: what follows the preamble, 'DICM' and the group 0002 elements. */
function fileDataSet(file: Buffer): Buffer {
  expect(file.toString('latin1', 128, 132)).toBe('DICM');
  // (0002,0000) UL, explicit VR little endian: tag 4, VR 2, length 2, value 4 bytes from offset 132.
  return file.subarray(144 + file.readUInt32LE(140));
}

function dicomDump(pixelBytes: number): string {
  const pixels = Array.from({ length: pixelBytes }, (_, i) => (i % 256).toString(16).padStart(2, '0')).join('\\');
  return [
    '(0002,0002) UI =SecondaryCaptureImageStorage',
    `(0002,0003) UI [${SOP_INSTANCE}]`,
    '(0002,0010) UI =LittleEndianExplicit',
    '(0008,0016) UI =SecondaryCaptureImageStorage',
    `(0008,0018) UI [${SOP_INSTANCE}]`,
    '(0008,0060) CS [OT]',
    '(0008,0064) CS [WSD]',
    '(0010,0010) PN [Doe^Jane]',
    '(0010,0020) LO [DIMSE-RX-1]',
    '(0020,000d) UI [1.2.826.0.1.3680043.2.1143.9.1]',
    '(0020,000e) UI [1.2.826.0.1.3680043.2.1143.9.1.1]',
    '(0028,0002) US 1',
    '(0028,0004) CS [MONOCHROME2]',
    '(0028,0010) US 64',
    `(0028,0011) US ${pixelBytes / 64}`,
    '(0028,0100) US 8',
    '(0028,0101) US 8',
    '(0028,0102) US 7',
    '(0028,0103) US 0',
    `(7fe0,0010) OB ${pixels}`,
    '',
  ].join('\n');
}

describeDcmtk('PDUs captured from DCMTK', () => {
  let dir = '';
  let smallFile = '';
  let largeFile = '';
  let storescp: DcmtkPeer | undefined;
  let proxy: RecordingProxy | undefined;

  /** -aet and -aec for an SCU talking to storescp through the proxy. */
  const target = (aet: string) => ['-aet', aet, '-aec', 'STORESCP', LOOPBACK, String(proxy!.port)];

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'dimse-rx-pdu-capture-'));
    smallFile = join(dir, 'small.dcm');
    largeFile = join(dir, 'large.dcm');
    await writeFile(join(dir, 'small.dump'), dicomDump(64 * 4));
    await writeFile(join(dir, 'large.dump'), dicomDump(64 * 160));
    for (const [dump, file] of [
      ['small.dump', smallFile],
      ['large.dump', largeFile],
    ] as const) {
      const made = await runDcmtk('dump2dcm', ['+l', '100000', '+te', join(dir, dump), file]);
      expect(made.code, made.stderr).toBe(0);
    }
    await mkdir(join(dir, 'received'));
    const port = await freePort();
    storescp = await startDcmtk('storescp', ['-aet', 'STORESCP', '-od', join(dir, 'received'), String(port)], { ready: port });
    proxy = await startProxy(port);
  });

  afterAll(async () => {
    await proxy?.close();
    await storescp?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('C-ECHO: echoscu associates, echoes and releases', async () => {
    const { toServer, toClient } = await capture(proxy!, 'echoscu', target('ECHOSCU'));
    expect(toServer.types).toEqual(['AssociateRq', 'PDataTf', 'ReleaseRq']);
    expect(toClient.types).toEqual(['AssociateAc', 'PDataTf', 'ReleaseRp']);
    const rq = first(toServer, 'AssociateRq');
    expect(rq.callingAeTitle).toBe('ECHOSCU');
    expect(rq.calledAeTitle).toBe('STORESCP');
    expect(rq.presentationContexts.map((pc) => pc.abstractSyntax)).toEqual(['1.2.840.10008.1.1']);
    expect(first(toClient, 'AssociateAc').presentationContexts.map((pc) => pc.result)).toEqual([0]);
    // DCMTK writes 0xFF in the second reserved byte of each context item; the model keeps it.
    expect(rq.presentationContexts[0]!.reserved).toEqual([0, 0xff, 0]);
  });

  it('C-ECHO with --abort: echoscu ends with an A-ABORT from the service-user', async () => {
    const { toServer, toClient } = await capture(proxy!, 'echoscu', [...target('ECHOSCU'), '--abort']);
    expect(toServer.types).toEqual(['AssociateRq', 'PDataTf', 'Abort']);
    expect(toClient.types).toEqual(['AssociateAc', 'PDataTf']);
    const abort: Abort = first(toServer, 'Abort');
    expect(abort.source).toBe(0);
  });

  it('C-STORE: storescu sends one small file', async () => {
    const { toServer, toClient } = await capture(proxy!, 'storescu', [...target('STORESCU'), smallFile]);
    expect(toServer.types).toEqual(['AssociateRq', 'PDataTf', 'PDataTf', 'ReleaseRq']);
    expect(toClient.types).toEqual(['AssociateAc', 'PDataTf', 'ReleaseRp']);

    const rq: AssociateRq = first(toServer, 'AssociateRq');
    const ids = rq.presentationContexts.map((pc) => pc.id);
    expect(ids.length).toBeGreaterThan(100);
    expect(ids.every((id) => id % 2 === 1)).toBe(true);
    expect(new Set(ids).size).toBe(ids.length);

    const data = dataSet(toServer);
    expect(data.bytes.length).toBeGreaterThan(0);
    expect([...data.contextIds]).toHaveLength(1);
    const id = [...data.contextIds][0];
    expect(rq.presentationContexts.find((pc) => pc.id === id)?.abstractSyntax).toBe(SECONDARY_CAPTURE);
    const ac: AssociateAc = first(toClient, 'AssociateAc');
    expect(ac.presentationContexts.find((pc) => pc.id === id)).toMatchObject({ result: 0, transferSyntax: EXPLICIT_LE });
    // The file is explicit VR little endian and so is the context: the data set goes over unchanged.
    expect(hex(data.bytes)).toBe(hex(fileDataSet(await readFile(smallFile))));
  });

  it('C-STORE with user identity: storescu --user alice --password s3cret', async () => {
    // echoscu 3.6.7 has no user identity options; storescu has.
    const { toServer, toClient } = await capture(proxy!, 'storescu', [
      ...target('STORESCU'),
      '--user',
      'alice',
      '--password',
      's3cret',
      smallFile,
    ]);
    expect(toServer.types).toEqual(['AssociateRq', 'PDataTf', 'PDataTf', 'ReleaseRq']);
    expect(toClient.types).toEqual(['AssociateAc', 'PDataTf', 'ReleaseRp']);
    const identity = first(toServer, 'AssociateRq').userInformation.find((sub): sub is UserIdentityRq => sub.type === 'UserIdentityRq');
    if (!identity) throw new Error('No user identity sub-item in the A-ASSOCIATE-RQ');
    expect(identity.identityType).toBe(2);
    expect(identity.positiveResponseRequested).toBe(false);
    expect(Buffer.from(identity.primaryField).toString('utf8')).toBe('alice');
    expect(Buffer.from(identity.secondaryField).toString('utf8')).toBe('s3cret');
  });

  it('C-STORE with --max-pdu 4096 --max-send-pdu 4096: every P-DATA-TF fits in 4096 bytes', async () => {
    // --max-pdu alone only sets what storescu receives (its Maximum Length sub-item); what it
    // sends follows storescp's 16384 unless --max-send-pdu restricts it.
    const args = [...target('STORESCU'), '--max-pdu', '4096', '--max-send-pdu', '4096', largeFile];
    const { toServer, toClient } = await capture(proxy!, 'storescu', args);
    const rq = first(toServer, 'AssociateRq');
    expect(rq.userInformation.find((sub) => sub.type === 'MaximumLength')).toEqual({ type: 'MaximumLength', maximumLength: 4096 });
    // One P-DATA-TF for the command, three for the 10 KiB data set.
    expect(toServer.types).toEqual(['AssociateRq', 'PDataTf', 'PDataTf', 'PDataTf', 'PDataTf', 'ReleaseRq']);
    expect(toClient.types).toEqual(['AssociateAc', 'PDataTf', 'ReleaseRp']);
    const pDataLengths = (direction: Direction) => direction.raw.filter((bytes) => bytes[0] === 0x04).map((bytes) => bytes.readUInt32BE(2));
    for (const length of pDataLengths(toServer)) expect(length).toBeLessThanOrEqual(4096);
    for (const length of pDataLengths(toClient)) expect(length).toBeLessThanOrEqual(4096);
    expect(hex(dataSet(toServer).bytes)).toBe(hex(fileDataSet(await readFile(largeFile))));
  });

  it('A-ASSOCIATE-RJ from storescp --refuse', async () => {
    const port = await freePort();
    const refuser = await startDcmtk('storescp', ['-aet', 'STORESCP', '--refuse', String(port)], { ready: port });
    const refusingProxy = await startProxy(port);
    try {
      const { result, toServer, toClient } = await capture(
        refusingProxy,
        'echoscu',
        ['-aet', 'ECHOSCU', '-aec', 'STORESCP', LOOPBACK, String(refusingProxy.port)],
        1,
      );
      expect(`${result.stdout}${result.stderr}`).toMatch(/reject/i);
      expect(toServer.types).toEqual(['AssociateRq']);
      expect(toClient.types).toEqual(['AssociateRj']);
      const rj: AssociateRj = first(toClient, 'AssociateRj');
      console.info('A-ASSOCIATE-RJ from storescp --refuse:', rj);
      expect(rj).toEqual({ type: 'AssociateRj', result: 1, source: 1, reason: 1 });
    } finally {
      await refusingProxy.close();
      await refuser.stop();
    }
  });
});
