/**
 * fileSink() behind scp() on 127.0.0.1: what is on disk after an abort, after a disk error, and
 * at the moment success is answered. The files are checked byte for byte.
 */
import { createHash } from 'node:crypto';
import { closeSync, createWriteStream, openSync, readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { type Association, AssociationAbortedError, associate, type StateName } from '@dimse-rx/association';
import { generateSampleStudy } from '@dimse-rx/dataset/sample';
import {
  CommandField,
  dimse,
  encodeDataset,
  encodeFileMetaInformation,
  type FileSinkOptions,
  fileSink,
  type NaturalizedDataset,
  Priority,
  parsePart10Header,
  peekHead,
  type ScpOptions,
  type StoreAnswer,
  type StoreEvent,
  scp,
  storageContexts,
  store,
  TransferSyntax,
} from '@dimse-rx/dimse';
import { firstValueFrom, from, lastValueFrom, ReplaySubject, tap, timeout, toArray } from 'rxjs';
import { afterEach, describe, expect, it } from 'vitest';
import { Cleanup, wait, within } from '../../association/test/support.js';
import { writeAll, writeAllSync } from '../src/services/file-sink/write-file.js';

const ELE = TransferSyntax.ExplicitVrLittleEndian;
const CT = '1.2.840.10008.5.1.4.1.1.2';
const CALLING = 'SINK-SCU';
const MiB = 1024 * 1024;

const cleanup = new Cleanup();
afterEach(() => cleanup.run());

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'dimse-rx-sink-'));
  cleanup.add(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

async function startScp(options: Omit<ScpOptions, 'port' | 'onListening'>): Promise<{ port: number; associations: Association[] }> {
  const port = new ReplaySubject<number>(1);
  const associations: Association[] = [];
  const subscription = scp({ ...options, port: 0, onListening: (l) => port.next(l.port) }).subscribe((a) => associations.push(a));
  cleanup.add(() => subscription.unsubscribe());
  return { port: await firstValueFrom(port.pipe(timeout(2_000))), associations };
}

function open(port: number): Promise<Association> {
  return new Promise<Association>((resolve, reject) => {
    const subscription = associate({
      host: '127.0.0.1',
      port,
      callingAeTitle: CALLING,
      calledAeTitle: 'SINK-SCP',
      presentationContexts: storageContexts([{ sopClassUid: CT, transferSyntaxUid: ELE }]),
    }).subscribe({ next: resolve, error: reject });
    cleanup.add(() => subscription.unsubscribe());
  });
}

/** Every state an association passes through from now on, once it reached Sta1. */
function recordStates(association: Association): Promise<StateName[]> {
  return within(lastValueFrom(association.states.pipe(toArray())), 5_000, 'the end of the association');
}

/** Polls until `check` passes (it throws until then), for at most `ms`. */
async function eventually(check: () => Promise<void> | void, ms = 3_000): Promise<void> {
  const deadline = performance.now() + ms;
  for (;;) {
    try {
      await check();
      return;
    } catch (error) {
      if (performance.now() > deadline) throw error;
      await wait(20);
    }
  }
}

type Response = Extract<StoreEvent, { type: 'response' }>;
const storeResponse = (association: Association, input: Parameters<typeof store>[1]) =>
  within(lastValueFrom(store(association, input)), 20_000, 'store()') as Promise<Response>;

const dataSetOf = async (path: string) => {
  const bytes = await readFile(path);
  const header = parsePart10Header(bytes);
  return { meta: header.meta, dataSet: bytes.subarray(header.dataSetOffset) };
};

/** A Part 10 file whose pixel data is `pixelBytes` of a pattern; its data set's length and UID. */
async function writeLargeFile(path: string, pixelBytes: number, seed: number): Promise<{ length: number; uid: string; sha256: string }> {
  const [image] = generateSampleStudy({ images: 1, rows: 1, columns: 1, seed });
  const { PixelData: _pixels, _vrMap: _map, ...rest } = image!;
  const head = encodeDataset({ ...rest, Rows: 1024, Columns: pixelBytes / 2 / 1024 }, ELE);
  const pixelHeader = Buffer.alloc(12);
  pixelHeader.writeUInt16LE(0x7fe0, 0);
  pixelHeader.writeUInt16LE(0x0010, 2);
  pixelHeader.write('OW', 4, 'latin1');
  pixelHeader.writeUInt32LE(pixelBytes, 8);
  const hash = createHash('sha256').update(head).update(pixelHeader);
  const out = createWriteStream(path);
  const write = (bytes: Uint8Array) => new Promise<void>((resolve, reject) => out.write(bytes, (e) => (e ? reject(e) : resolve())));
  const uid = image!.SOPInstanceUID as string;
  await write(encodeFileMetaInformation({ mediaStorageSopClassUid: CT, mediaStorageSopInstanceUid: uid, transferSyntaxUid: ELE }));
  await write(head);
  await write(pixelHeader);
  for (let i = 0; i < pixelBytes / MiB; i++) {
    const piece = Buffer.alloc(MiB, (i * 53 + 1) & 0xff);
    hash.update(piece);
    await write(piece);
  }
  await new Promise<void>((resolve, reject) => out.end((e?: Error | null) => (e ? reject(e) : resolve())));
  return { length: head.length + pixelHeader.length + pixelBytes, uid, sha256: hash.digest('hex') };
}

describe('fileSink: an association that ends in the middle of a data set', () => {
  it('leaves no file behind when the SCU aborts after part of the data set was sent', async () => {
    const directory = await tempDir();
    // Bytes that are no data set: the check is off, the file is written until the abort.
    const { port, associations } = await startScp({
      abstractSyntaxes: { [CT]: [ELE] },
      store: fileSink({ directory, validate: false }),
    });
    const association = await open(port);
    const states = recordStates(association);
    let stillHeldBack = true;
    let letGo!: () => void;
    const gate = new Promise<void>((resolve) => {
      letGo = resolve;
    });
    cleanup.add(() => letGo());
    // 2 MiB of the data set, then nothing until the abort.
    async function* dataSet(): AsyncIterable<Uint8Array> {
      for (let i = 0; i < 8; i++) yield Buffer.alloc(256 * 1024, i + 1);
      await gate;
      stillHeldBack = false;
    }
    const outcome = lastValueFrom(
      dimse(association).request(
        association.acceptedContexts[0]!.id,
        { commandField: CommandField.CStoreRq, affectedSopClassUid: CT, affectedSopInstanceUid: '1.2.3.4.5.6', priority: Priority.Medium },
        { dataSet: dataSet() },
      ),
    ).catch((e: unknown) => e);

    // The sink writes to its temporary file as the data arrives.
    let partial = '';
    await eventually(async () => {
      const names = await readdir(directory);
      expect(names).toHaveLength(1);
      partial = names[0]!;
      expect(partial).toMatch(/^\.1\.2\.3\.4\.5\.6\..*\.part$/);
      expect((await stat(join(directory, partial))).size).toBeGreaterThanOrEqual(2 * MiB);
    });
    expect(stillHeldBack).toBe(true);
    association.abort();

    expect(await within(outcome, 3_000, 'the request')).toBeInstanceOf(Error);
    const server = associations[0]!;
    expect(await within(firstValueFrom(server.finished), 3_000, 'the SCP association')).toBeInstanceOf(AssociationAbortedError);
    // This side sent A-ABORT (Sta13) and let go once the connection closed (PS3.8 Table 9-10, AA-1 then AR-5).
    expect(await within(firstValueFrom(association.finished), 3_000, 'the SCU association')).toBeInstanceOf(AssociationAbortedError);
    expect(await states).toEqual(['Sta6', 'Sta13', 'Sta1']);
    await eventually(async () => expect(await readdir(directory)).toEqual([]));
    // And it stays so.
    await wait(100);
    expect(await readdir(directory)).toEqual([]);
  });

  it('aborts the association when store() is unsubscribed in the middle of a file, and leaves no file behind', async () => {
    const directory = await tempDir();
    const source = join(await tempDir(), 'large.dcm');
    const { length } = await writeLargeFile(source, 32 * MiB, 21);
    const { port, associations } = await startScp({ abstractSyntaxes: { [CT]: [ELE] }, store: fileSink({ directory }) });
    const association = await open(port);
    const states = recordStates(association);
    let sent = 0;
    const subscription = store(association, source).subscribe({
      next: (event) => {
        if (event.type !== 'progress') return;
        sent = event.bytesSent;
        if (sent >= 4 * MiB) subscription.unsubscribe();
      },
    });
    cleanup.add(() => subscription.unsubscribe());

    // Half a message cannot be taken back (PS3.7 Annex E): only an A-ABORT ends it.
    const ended = await within(firstValueFrom(association.finished), 3_000, 'the SCU association');
    expect(ended).toBeInstanceOf(AssociationAbortedError);
    expect(sent).toBeLessThan(length);
    expect(await states).toEqual(['Sta6', 'Sta13', 'Sta1']);
    expect(await within(firstValueFrom(associations[0]!.finished), 3_000, 'the SCP association')).toBeInstanceOf(AssociationAbortedError);
    await eventually(async () => expect(await readdir(directory)).toEqual([]));
  });
});

/** Full garbage collections, when V8 lets this process ask for them. */
function collector(): (() => void) | undefined {
  setFlagsFromString('--expose-gc');
  const gc: unknown = runInNewContext('gc');
  return typeof gc === 'function'
    ? () => {
        gc();
        gc();
      }
    : undefined;
}

describe('fileSink: a disk error', () => {
  it('answers 0xA700 with the error, drops the data set in bounded memory, and the next store on the association succeeds', async () => {
    const directory = await tempDir();
    // A regular file where the sink needs a folder: mkdir fails whoever runs the test (root too).
    await writeFile(join(directory, 'blocker'), 'not a folder');
    const bad = join(await tempDir(), 'bad.dcm');
    const large = await writeLargeFile(bad, 48 * MiB, 22);
    const [good] = generateSampleStudy({ images: 1, rows: 32, columns: 32, seed: 23 });
    const { port } = await startScp({
      abstractSyntaxes: { [CT]: [ELE] },
      store: fileSink({
        directory,
        fileName: (info) => (info.sopInstanceUid === large.uid ? 'blocker/inside/bad.dcm' : `ok/${info.sopInstanceUid}.dcm`),
      }),
    });
    const association = await open(port);

    const gc = collector();
    gc?.();
    const baseline = process.memoryUsage().arrayBuffers;
    let retained = 0;
    const sampler = setInterval(() => {
      gc?.();
      retained = Math.max(retained, process.memoryUsage().arrayBuffers - baseline);
    }, 25);
    cleanup.add(() => clearInterval(sampler));
    const failed = await storeResponse(association, bad);
    clearInterval(sampler);
    expect(failed.status).toMatchObject({ code: 0xa700, kind: 'failure', meaning: 'failure: refused, out of resources' });
    // The kind of failure, never a path of the server's.
    expect(failed.status.errorComment).toBe('Cannot store the data set (ENOTDIR)');
    expect(failed.status.errorComment!.length).toBeLessThanOrEqual(64);
    // What arrives after the error is dropped, not kept: far less than the data set stays referenced.
    if (gc) expect(retained).toBeLessThan(24 * MiB);
    expect(association.state).toBe('Sta6');

    const ok = await storeResponse(association, { dataset: good! });
    expect(ok.status.code).toBe(0);
    const stored = await dataSetOf(join(directory, 'ok', `${good!.SOPInstanceUID as string}.dcm`));
    expect(Buffer.compare(stored.dataSet, encodeDataset(good!, ELE))).toBe(0);
    expect((await readdir(directory)).sort()).toEqual(['blocker', 'ok']);
    expect(await readdir(join(directory, 'ok'))).toEqual([`${good!.SOPInstanceUID as string}.dcm`]);
    expect(await readFile(join(directory, 'blocker'), 'latin1')).toBe('not a folder');
    await lastValueFrom(association.release(), { defaultValue: undefined });
  });
});

describe('fileSink: success', () => {
  it.each([
    ['with fsync', true, 'at once'],
    ['without fsync', false, 'at once'],
    ['with fsync', true, 'through the thread pool'],
    ['without fsync', false, 'through the thread pool'],
  ])('answers success %s only once the whole file is in place, with no temporary file left, writes %s', async (_name, fsync, writes) => {
    // Writes go at once while they are quick (after a slow one, through the thread pool), or always through it.
    const directory = await tempDir();
    const sinkOptions: FileSinkOptions = {
      directory,
      fsync,
      quickWrites: writes === 'at once',
      fileName: (info) => `${info.callingAeTitle}/${info.sopInstanceUid}.dcm`,
    };
    const sink = fileSink(sinkOptions);
    /** What the folder held at the moment the sink answered, by SOP instance. */
    const atAnswer = new Map<string, { names: string[]; bytes: Buffer }>();
    const { port } = await startScp({
      abstractSyntaxes: { [CT]: [ELE] },
      store: (info, data) =>
        from(sink(info, data)).pipe(
          tap((answer: StoreAnswer) => {
            if (typeof answer === 'number' || answer.status !== 0) return;
            const folder = join(directory, CALLING);
            const path = join(folder, `${info.sopInstanceUid}.dcm`);
            const bytes = readFileSync(path);
            // The sink says what it stored: where, how many bytes, which object.
            expect(answer.stored).toEqual({
              path,
              size: bytes.length,
              sopClassUid: info.sopClassUid,
              sopInstanceUid: info.sopInstanceUid,
              transferSyntaxUid: info.transferSyntaxUid,
            });
            atAnswer.set(info.sopInstanceUid, { names: readdirSync(folder), bytes });
          }),
        ),
    });
    const association = await open(port);
    const big = join(await tempDir(), 'big.dcm');
    const large = await writeLargeFile(big, 8 * MiB, 24);
    const images = generateSampleStudy({ images: 3, rows: 64, columns: 64, seed: 25 });
    const inputs = [
      ...images.map((image) => ({ uid: image.SOPInstanceUID as string, input: { dataset: image } })),
      { uid: large.uid, input: big },
    ];

    const seenByScu: string[] = [];
    for (const { uid, input } of inputs) {
      const events = await within(lastValueFrom(store(association, input).pipe(toArray())), 20_000, 'store()');
      const response = events.at(-1) as Response;
      expect(response.status.code).toBe(0);
      // When the response arrives the file is complete and alone in its folder.
      const names = readdirSync(join(directory, CALLING));
      expect(names.filter((n) => n.endsWith('.part'))).toEqual([]);
      expect(names).toContain(`${uid}.dcm`);
      seenByScu.push(uid);
      const file = readFileSync(join(directory, CALLING, `${uid}.dcm`));
      expect(atAnswer.get(uid)?.bytes.equals(file)).toBe(true);
      expect(atAnswer.get(uid)?.names.sort()).toEqual(seenByScu.map((u) => `${u}.dcm`).sort());
    }
    for (const image of images) {
      const stored = await dataSetOf(join(directory, CALLING, `${image.SOPInstanceUID as string}.dcm`));
      expect(stored.meta).toMatchObject({
        mediaStorageSopInstanceUid: image.SOPInstanceUID,
        transferSyntaxUid: ELE,
        sourceApplicationEntityTitle: CALLING,
      });
      expect(Buffer.compare(stored.dataSet, encodeDataset(image, ELE))).toBe(0);
    }
    const stored = await dataSetOf(join(directory, CALLING, `${large.uid}.dcm`));
    expect(stored.dataSet.length).toBe(large.length);
    expect(createHash('sha256').update(stored.dataSet).digest('hex')).toBe(large.sha256);
    expect(await readdir(directory)).toEqual([CALLING]);
    await lastValueFrom(association.release(), { defaultValue: undefined });
  });
});

describe('fileSink: folders', () => {
  it('creates the folders a fileName asks for and stores in them, nothing but the files left there', async () => {
    const directory = await tempDir();
    const server = await startScp({
      abstractSyntaxes: { [CT]: [ELE] },
      store: fileSink({ directory, fileName: (info) => join('by-calling', info.callingAeTitle, 'study', `${info.sopInstanceUid}.dcm`) }),
    });
    const association = await open(server.port);
    const [image] = generateSampleStudy({ images: 1, rows: 8, columns: 8, seed: 77 });
    const response = await storeResponse(association, { dataset: image! });
    expect(response.status.code).toBe(0);
    const folder = join(directory, 'by-calling', CALLING, 'study');
    expect(readdirSync(folder)).toEqual([`${image!.SOPInstanceUID as string}.dcm`]);
    const { meta, dataSet } = await dataSetOf(join(folder, `${image!.SOPInstanceUID as string}.dcm`));
    expect(meta.sourceApplicationEntityTitle).toBe(CALLING);
    expect(Buffer.compare(dataSet, encodeDataset(image!, ELE))).toBe(0);
  });
});

describe('fileSink: writing', () => {
  it('writes every byte in order whatever partial writes the file system makes', async () => {
    const file = Buffer.alloc(64);
    let calls = 0;
    // A handle that writes at most 5 bytes a call, wherever the buffers split.
    const handle = {
      writev: async (buffers: Uint8Array[], position: number) => {
        calls++;
        let written = 0;
        for (const b of buffers) {
          const n = Math.min(b.length, 5 - written);
          file.set(b.subarray(0, n), position + written);
          written += n;
          if (written === 5) break;
        }
        return { bytesWritten: written, buffers };
      },
    };
    const parts = [Buffer.from('abc'), Buffer.from(''), Buffer.from('defghij'), Buffer.from('k'), Buffer.from('lmnopqrstuvwxyz')];
    await writeAll(handle as unknown as Parameters<typeof writeAll>[0], parts, 10);
    expect(file.subarray(10, 36).toString()).toBe('abcdefghijklmnopqrstuvwxyz');
    expect(file.subarray(0, 10).every((b) => b === 0)).toBe(true);
    expect(calls).toBe(6);
    // A file system that writes nothing is an error, not a loop.
    const stuck = { writev: async () => ({ bytesWritten: 0, buffers: [] }) };
    await expect(writeAll(stuck as unknown as Parameters<typeof writeAll>[0], [Buffer.from('x')], 0)).rejects.toThrow(/Nothing written/);
  });
});

describe('writeAllSync', () => {
  it('writes every buffer in order at the position asked, and fails with the errno on a descriptor it cannot write', async () => {
    const path = join(await tempDir(), 'sync.bin');
    await writeFile(path, Buffer.alloc(8, 0x2e));
    const fd = openSync(path, 'r+');
    try {
      const parts = [Buffer.from('abc'), Buffer.from(''), Buffer.alloc(70_000, 0x78), Buffer.from('z')];
      writeAllSync(fd, parts, 4);
    } finally {
      closeSync(fd);
    }
    const file = await readFile(path);
    expect(file.length).toBe(4 + 3 + 70_000 + 1);
    expect(file.subarray(0, 7).toString()).toBe('....abc');
    expect(file.subarray(7, 70_007).every((b) => b === 0x78)).toBe(true);
    expect(file.at(-1)).toBe(0x7a);
    const readOnly = openSync(path, 'r');
    try {
      expect(() => writeAllSync(readOnly, [Buffer.from('x')], 0)).toThrow(expect.objectContaining({ code: 'EBADF' }));
    } finally {
      closeSync(readOnly);
    }
  });
});

describe('fileSink() checks what it stores', () => {
  /** A C-STORE-RQ with these UIDs and raw data set bytes; the response status and error comment. */
  const rawStore = async (association: Association, sopInstanceUid: string, dataSet: Uint8Array) => {
    const [response] = await within(
      lastValueFrom(
        dimse(association)
          .request(
            association.acceptedContexts[0]!.id,
            {
              commandField: CommandField.CStoreRq,
              affectedSopClassUid: CT,
              affectedSopInstanceUid: sopInstanceUid,
              priority: Priority.Medium,
            },
            { dataSet },
          )
          .pipe(toArray()),
      ),
      10_000,
      'C-STORE',
    );
    return { status: response!.command.status, errorComment: response!.command.errorComment };
  };

  it('refuses random bytes (0xC000), another SOP instance or class (0xA900) and an invalid UID (0x0117), keeping nothing', async () => {
    const directory = await tempDir();
    const details: string[] = [];
    const sink = fileSink({ directory });
    const logged: ScpOptions['store'] = (info, data) =>
      from(sink(info, data)).pipe(tap((a: StoreAnswer) => typeof a !== 'number' && a.detail && details.push(a.detail)));
    const { port } = await startScp({ abstractSyntaxes: { [CT]: [ELE] }, store: logged });
    const association = await open(port);
    const [ct, other] = generateSampleStudy({ images: 2, rows: 8, columns: 8, seed: 31 });
    const mr: NaturalizedDataset = { ...other!, SOPClassUID: '1.2.840.10008.5.1.4.1.1.4' };
    const uid = ct!.SOPInstanceUID as string;
    const random = Buffer.alloc(4096);
    for (let i = 0; i < random.length; i++) random[i] = (i * 7919 + 13) & 0xff;

    expect(await rawStore(association, uid, random)).toEqual({
      status: 0xc000,
      errorComment: 'Data set does not parse as its transfer syntax',
    });
    expect(await rawStore(association, '1.2.3.4', encodeDataset(ct!, ELE))).toEqual({
      status: 0xa900,
      errorComment: 'SOP Instance UID of data set differs from command',
    });
    expect(await rawStore(association, mr.SOPInstanceUID as string, encodeDataset(mr, ELE))).toEqual({
      status: 0xa900,
      errorComment: 'SOP Class UID of data set differs from command',
    });
    expect(await rawStore(association, '1.2.x.4', encodeDataset(ct!, ELE))).toMatchObject({ status: 0x0117 });
    expect(await readdir(directory)).toEqual([]);
    expect(details[1]).toContain(`the command says SOP instance 1.2.3.4, the data set ${uid}`);
    // The same association goes on, and a data set that is what its command says is stored.
    expect(await rawStore(association, uid, encodeDataset(ct!, ELE))).toMatchObject({ status: 0 });
    expect(await readdir(directory)).toEqual([`${uid}.dcm`]);
  });

  it('makes the output folder again when it was removed', async () => {
    const parent = await tempDir();
    const directory = join(parent, 'incoming');
    const { port } = await startScp({ abstractSyntaxes: { [CT]: [ELE] }, store: fileSink({ directory }) });
    const association = await open(port);
    const images = generateSampleStudy({ images: 3, rows: 8, columns: 8, seed: 32 });
    for (const image of images) {
      await rm(directory, { recursive: true, force: true });
      expect((await storeResponse(association, { dataset: image })).status.code).toBe(0);
      expect(await readdir(directory)).toEqual([`${image.SOPInstanceUID as string}.dcm`]);
    }
  });

  it("removes the temporary files of a killed process at start, not a live process's nor other files", async () => {
    const directory = await tempDir();
    const dead = '.1.2.3.2147483646.7.part';
    // As a sink names them now: its own hex id before the counter.
    const deadOfASink = '.1.2.3.2147483646.0a1b2c12.part';
    const live = `.1.2.3.${process.pid}.7.part`;
    for (const name of [dead, deadOfASink, live, 'keep.dcm', '.hidden']) await writeFile(join(directory, name), 'x');
    fileSink({ directory });
    await eventually(async () => expect((await readdir(directory)).sort()).toEqual(['.hidden', live, 'keep.dcm'].sort()));
  });

  it('gives a handler the head of the data set (peekHead) while the file sink writes every byte of it', async () => {
    const directory = await tempDir();
    const sink = fileSink({ directory });
    const seen: (string | undefined)[][] = [];
    const { port } = await startScp({
      abstractSyntaxes: { [CT]: [ELE] },
      store: (info, data) => {
        const peeked = peekHead(data, info.transferSyntaxUid, ['PatientName', 'StudyInstanceUID']);
        void peeked.head.then((head) => seen.push([head.string('PatientName'), head.string('StudyInstanceUID')]));
        return sink(info, peeked.data);
      },
    });
    const association = await open(port);
    const [image] = generateSampleStudy({ images: 1, rows: 256, columns: 256, seed: 33 });
    expect((await storeResponse(association, { dataset: image! })).status.code).toBe(0);
    expect(seen).toEqual([[(image!.PatientName as string) ?? '', image!.StudyInstanceUID]]);
    const stored = await dataSetOf(join(directory, `${image!.SOPInstanceUID as string}.dcm`));
    expect(Buffer.compare(stored.dataSet, encodeDataset(image!, ELE))).toBe(0);
  });
});
