/**
 * C-STORE between dimse-rx peers on 127.0.0.1: store() on one side, scp() with a storage handler
 * (fileSink or one written here) on the other. What is asserted is what crosses the wire and
 * what lands on disk: response statuses, Part 10 meta information, data set bytes, progress.
 */
import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdtemp, readdir, readFile, readlink, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ConnectionOptions } from 'node:tls';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import {
  type Association,
  AssociationAbortedError,
  associate,
  IMPLEMENTATION_CLASS_UID,
  IMPLEMENTATION_VERSION_NAME,
  type ProposedContext,
} from '@dimse-rx/association';
import { generateSampleStudy } from '@dimse-rx/dataset/sample';
import {
  decodeDataset,
  discardSink,
  encodeDataset,
  encodeFileMetaInformation,
  fileSink,
  type NaturalizedDataset,
  NoPresentationContextError,
  parsePart10Header,
  readDicomFileHeader,
  type ScpOptions,
  type StorageHandler,
  type StoreEvent,
  type StoreInput,
  type StoreOptions,
  scp,
  storageContexts,
  store,
  storeAll as storeMany,
  TranscodeError,
  TransferSyntax,
  VERIFICATION_SOP_CLASS,
} from '@dimse-rx/dimse';
import { firstValueFrom, lastValueFrom, Observable, ReplaySubject, throwError, timeout, toArray } from 'rxjs';
import { afterEach, describe, expect, it } from 'vitest';
import { Cleanup, makeCertificate, wait, within } from '../../association/test/support.js';

const { ImplicitVrLittleEndian: ILE, ExplicitVrLittleEndian: ELE, ExplicitVrBigEndian: EBE } = TransferSyntax;
const CT = '1.2.840.10008.5.1.4.1.1.2';
const JPEG_BASELINE = '1.2.840.10008.1.2.4.50';
const CALLING = 'STORE-SCU';
const MiB = 1024 * 1024;

const cleanup = new Cleanup();
afterEach(() => cleanup.run());

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'dimse-rx-store-'));
  cleanup.add(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** scp() on a free port of 127.0.0.1, stopped after the test; the associations it emitted. */
async function startScp(options: Omit<ScpOptions, 'port' | 'onListening'>): Promise<{ port: number; associations: Association[] }> {
  const port = new ReplaySubject<number>(1);
  const associations: Association[] = [];
  const subscription = scp({ ...options, port: 0, onListening: (l) => port.next(l.port) }).subscribe((a) => associations.push(a));
  cleanup.add(() => subscription.unsubscribe());
  return { port: await firstValueFrom(port.pipe(timeout(2_000))), associations };
}

/** An association to `port`, released (or aborted) after the test. */
function open(port: number, presentationContexts: readonly ProposedContext[], tls?: ConnectionOptions): Promise<Association> {
  return new Promise<Association>((resolve, reject) => {
    const subscription = associate({
      host: '127.0.0.1',
      port,
      callingAeTitle: CALLING,
      calledAeTitle: 'STORE-SCP',
      presentationContexts,
      ...(tls ? { tls } : {}),
    }).subscribe({ next: resolve, error: reject });
    cleanup.add(() => subscription.unsubscribe());
  });
}

type Response = Extract<StoreEvent, { type: 'response' }>;

/** Runs store() to its end: the progress events and the response. */
async function storeAll(
  association: Association,
  input: StoreInput,
  options?: StoreOptions,
): Promise<{ progress: Extract<StoreEvent, { type: 'progress' }>[]; response: Response }> {
  const events = await within(lastValueFrom(store(association, input, options).pipe(toArray())), 20_000, 'store()');
  const progress = events.filter((e) => e.type === 'progress');
  const responses = events.filter((e) => e.type === 'response');
  expect(responses).toHaveLength(1);
  // The response comes last.
  expect(events.at(-1)?.type).toBe('response');
  return { progress, response: responses[0]! };
}

function part10(dataset: NaturalizedDataset, transferSyntaxUid: string): { file: Buffer; dataSet: Buffer } {
  const dataSet = encodeDataset(dataset, transferSyntaxUid);
  const meta = encodeFileMetaInformation({
    mediaStorageSopClassUid: dataset.SOPClassUID as string,
    mediaStorageSopInstanceUid: dataset.SOPInstanceUID as string,
    transferSyntaxUid,
    // Not ours, and another source AE: the stored file must carry the receiver's own.
    implementationClassUid: '1.2.826.0.1.3680043.2.1143.107',
    implementationVersionName: 'OTHER_SCU',
    sourceApplicationEntityTitle: 'ORIGIN',
  });
  return { file: Buffer.concat([meta, dataSet]), dataSet };
}

/** Reads a stored file: its meta information and data set bytes. */
async function readStored(path: string) {
  const bytes = await readFile(path);
  const header = parsePart10Header(bytes);
  return { meta: header.meta, dataSet: bytes.subarray(header.dataSetOffset) };
}

function expectMonotonicProgress(progress: Extract<StoreEvent, { type: 'progress' }>[], totalBytes: number): void {
  expect(progress.length).toBeGreaterThan(0);
  for (const [i, p] of progress.entries()) {
    expect(p.totalBytes).toBe(totalBytes);
    if (i > 0) expect(p.bytesSent).toBeGreaterThan(progress[i - 1]!.bytesSent);
  }
  expect(progress.at(-1)!.bytesSent).toBe(totalBytes);
}

describe('store() into scp() with fileSink', () => {
  it('stores Part 10 bytes, a Part 10 file and a naturalized data set as Part 10 files with our meta and the bytes sent', async () => {
    const directory = await tempDir();
    const { port } = await startScp({ abstractSyntaxes: { [CT]: [ELE, ILE] }, store: fileSink({ directory }) });
    const association = await open(port, storageContexts([{ sopClassUid: CT, transferSyntaxUid: ELE }]));
    const [a, b, c] = generateSampleStudy({ images: 3, rows: 128, columns: 128, seed: 11 });

    const fromBytes = part10(a!, ELE);
    const fromFile = part10(b!, ELE);
    const sourcePath = join(await tempDir(), 'source.dcm');
    await writeFile(sourcePath, fromFile.file);
    const naturalized = encodeDataset(c!, ELE);

    const cases = [
      { input: fromBytes.file as StoreInput, dataSet: fromBytes.dataSet, image: a! },
      { input: sourcePath as StoreInput, dataSet: fromFile.dataSet, image: b!, options: { readChunkSize: 8192 } },
      { input: { dataset: c! } as StoreInput, dataSet: naturalized, image: c! },
    ];
    for (const { input, dataSet, image, options } of cases) {
      const { progress, response } = await storeAll(association, input, options);
      expect(response).toEqual({
        type: 'response',
        status: { code: 0, kind: 'success', meaning: 'success' },
        sopClassUid: CT,
        sopInstanceUid: image.SOPInstanceUID,
        transferSyntaxUid: ELE,
        converted: false,
        warnings: [],
      });
      expectMonotonicProgress(progress, dataSet.length);
      const stored = await readStored(join(directory, `${image.SOPInstanceUID as string}.dcm`));
      expect(stored.meta).toEqual({
        mediaStorageSopClassUid: CT,
        mediaStorageSopInstanceUid: image.SOPInstanceUID,
        transferSyntaxUid: ELE,
        implementationClassUid: IMPLEMENTATION_CLASS_UID,
        implementationVersionName: IMPLEMENTATION_VERSION_NAME,
        sourceApplicationEntityTitle: CALLING,
      });
      expect(stored.dataSet.length).toBe(dataSet.length);
      expect(Buffer.compare(stored.dataSet, dataSet)).toBe(0);
    }
    // The file read in 8 KiB pieces reported progress piece by piece.
    expect((await storeAll(association, sourcePath, { readChunkSize: 8192 })).progress.length).toBeGreaterThanOrEqual(
      Math.floor(fromFile.dataSet.length / 8192),
    );
    expect((await readdir(directory)).sort()).toEqual([a!, b!, c!].map((i) => `${i.SOPInstanceUID as string}.dcm`).sort());
    expect(association.state).toBe('Sta6');
    await lastValueFrom(association.release(), { defaultValue: undefined });
  });

  it('sends the SOP UIDs of the data set when the meta header disagrees, with a warning, as storescu does', async () => {
    const directory = await tempDir();
    const { port } = await startScp({ abstractSyntaxes: { [CT]: [ELE] }, store: fileSink({ directory }) });
    const [image] = generateSampleStudy({ images: 1, rows: 16, columns: 16, seed: 21 });
    const dataSet = encodeDataset(image!, ELE);
    const meta = encodeFileMetaInformation({
      mediaStorageSopClassUid: '1.2.840.10008.5.1.4.1.1.4',
      mediaStorageSopInstanceUid: '1.2.3.4',
      transferSyntaxUid: ELE,
    });
    const path = join(await tempDir(), 'disagreeing.dcm');
    await writeFile(path, Buffer.concat([meta, dataSet]));
    const header = await readDicomFileHeader(path);
    expect(header.sopClassUid).toBe(CT);
    const association = await open(port, storageContexts([header]));
    const { response } = await storeAll(association, path);
    expect(response).toMatchObject({ status: { code: 0 }, sopClassUid: CT, sopInstanceUid: image!.SOPInstanceUID });
    expect(response.warnings).toEqual([expect.stringContaining('(0002,0002)'), expect.stringContaining('(0002,0003) 1.2.3.4')]);
    const stored = await readStored(join(directory, `${image!.SOPInstanceUID as string}.dcm`));
    expect(stored.meta.mediaStorageSopInstanceUid).toBe(image!.SOPInstanceUID);
    expect(Buffer.compare(stored.dataSet, dataSet)).toBe(0);
    await lastValueFrom(association.release(), { defaultValue: undefined });
  });

  it.each([
    ['Implicit VR Little Endian', ILE],
    ['Explicit VR Little Endian', ELE],
  ])('sends a file without a Part 10 header, its transfer syntax (%s) detected from its first element', async (_name, syntax) => {
    const directory = await tempDir();
    const { port } = await startScp({ abstractSyntaxes: { [CT]: [ELE, ILE] }, store: fileSink({ directory }) });
    const [image] = generateSampleStudy({ images: 1, rows: 16, columns: 16, seed: 22 });
    const dataSet = encodeDataset(image!, syntax);
    const path = join(await tempDir(), 'bare');
    await writeFile(path, dataSet);
    const header = await readDicomFileHeader(path);
    const association = await open(port, storageContexts([header], { propose: 'own' }));
    const { response } = await storeAll(association, path);
    expect(response).toMatchObject({ status: { code: 0 }, transferSyntaxUid: syntax, converted: false });
    expect(response.warnings).toEqual([expect.stringContaining('no Part 10 header')]);
    const stored = await readStored(join(directory, `${image!.SOPInstanceUID as string}.dcm`));
    expect(stored.meta.transferSyntaxUid).toBe(syntax);
    expect(Buffer.compare(stored.dataSet, dataSet)).toBe(0);
    await lastValueFrom(association.release(), { defaultValue: undefined });
  });

  it('proposes the own syntax alone first and uses it whatever the peer prefers; propose options shape the second context', async () => {
    expect(storageContexts([{ sopClassUid: CT, transferSyntaxUid: ILE }], { propose: 'own' })).toEqual([
      { abstractSyntax: CT, transferSyntaxes: [ILE] },
    ]);
    expect(storageContexts([{ sopClassUid: CT, transferSyntaxUid: ILE }], { propose: 'little-endian' })).toEqual([
      { abstractSyntax: CT, transferSyntaxes: [ILE] },
      { abstractSyntax: CT, transferSyntaxes: [ELE, ILE] },
    ]);
    expect(storageContexts([{ sopClassUid: CT, transferSyntaxUid: JPEG_BASELINE }])).toEqual([
      { abstractSyntax: CT, transferSyntaxes: [JPEG_BASELINE] },
    ]);
    const directory = await tempDir();
    const DEFLATE = TransferSyntax.DeflatedExplicitVrLittleEndian;
    // A peer that prefers deflate (DCMTK's storescp +xd): the file still goes as it is.
    const { port } = await startScp({ abstractSyntaxes: { [CT]: [DEFLATE, ELE, ILE] }, store: fileSink({ directory }) });
    const association = await open(port, storageContexts([{ sopClassUid: CT, transferSyntaxUid: ILE }]));
    expect(association.acceptedContexts.map((pc) => pc.transferSyntax)).toEqual([ILE, DEFLATE]);
    const [image] = generateSampleStudy({ images: 1, rows: 16, columns: 16, seed: 23 });
    const { file, dataSet } = part10(image!, ILE);
    const { response } = await storeAll(association, file);
    expect(response).toMatchObject({ status: { code: 0 }, transferSyntaxUid: ILE, converted: false });
    const stored = await readStored(join(directory, `${image!.SOPInstanceUID as string}.dcm`));
    expect(Buffer.compare(stored.dataSet, dataSet)).toBe(0);
    await lastValueFrom(association.release(), { defaultValue: undefined });
  });

  it('stores several data sets one after the other on one association, and on several associations at once', async () => {
    const directory = await tempDir();
    const { port } = await startScp({ abstractSyntaxes: { [CT]: [ELE] }, store: fileSink({ directory }) });
    const images = generateSampleStudy({ images: 12, rows: 64, columns: 64, seed: 12 });
    const contexts = storageContexts([{ sopClassUid: CT, transferSyntaxUid: ELE }]);

    const one = await open(port, contexts);
    for (const image of images.slice(0, 4)) {
      expect((await storeAll(one, { dataset: image })).response.status.code).toBe(0);
    }
    expect(one.state).toBe('Sta6');

    const associations = await Promise.all([open(port, contexts), open(port, contexts), open(port, contexts), open(port, contexts)]);
    await Promise.all(
      associations.map(async (association, i) => {
        for (const image of images.slice(4 + 2 * i, 6 + 2 * i)) {
          expect((await storeAll(association, { dataset: image })).response.status.code).toBe(0);
        }
      }),
    );
    expect((await readdir(directory)).sort()).toEqual(images.map((i) => `${i.SOPInstanceUID as string}.dcm`).sort());
    for (const image of images) {
      const stored = await readStored(join(directory, `${image.SOPInstanceUID as string}.dcm`));
      expect(stored.meta.mediaStorageSopInstanceUid).toBe(image.SOPInstanceUID);
      expect(Buffer.compare(stored.dataSet, encodeDataset(image, ELE))).toBe(0);
    }
    for (const association of [one, ...associations]) await lastValueFrom(association.release(), { defaultValue: undefined });
  });

  it.each([
    ['Explicit VR Little Endian', ELE],
    ['Explicit VR Big Endian', EBE],
  ])('converts a file in %s to Implicit VR Little Endian when the peer accepts only that', async (_name, sourceSyntax) => {
    const directory = await tempDir();
    const asked: string[][] = [];
    const { port } = await startScp({
      abstractSyntaxes: (abstractSyntax, proposed) => {
        asked.push([abstractSyntax, ...proposed]);
        return abstractSyntax === CT ? [ILE] : undefined;
      },
      store: fileSink({ directory }),
    });
    const association = await open(port, storageContexts([{ sopClassUid: CT, transferSyntaxUid: sourceSyntax }]));
    // The file's own syntax in a context of its own, then every syntax it converts to in another.
    expect(asked).toEqual([
      [CT, sourceSyntax],
      [CT, ELE, ILE, TransferSyntax.DeflatedExplicitVrLittleEndian, EBE],
    ]);
    expect(association.acceptedContexts.map((pc) => pc.transferSyntax)).toEqual([ILE]);

    const [image] = generateSampleStudy({ images: 1, rows: 64, columns: 48, seed: 13 });
    const { file, dataSet } = part10(image!, sourceSyntax);
    const path = join(await tempDir(), 'source.dcm');
    await writeFile(path, file);
    const { progress, response } = await storeAll(association, path, { readChunkSize: 4096 });
    expect(response).toMatchObject({ status: { code: 0 }, transferSyntaxUid: ILE, converted: true });
    // Progress counts the source's bytes.
    expectMonotonicProgress(progress, dataSet.length);

    const stored = await readStored(join(directory, `${image!.SOPInstanceUID as string}.dcm`));
    expect(stored.meta.transferSyntaxUid).toBe(ILE);
    expect(Buffer.compare(stored.dataSet, dataSet)).not.toBe(0);
    expect(decodeDataset(stored.dataSet, ILE)).toEqual(decodeDataset(dataSet, sourceSyntax));
    await lastValueFrom(association.release(), { defaultValue: undefined });
  });

  it('refuses to send a compressed file on a context accepted only uncompressed, naming what was accepted', async () => {
    const directory = await tempDir();
    const { port } = await startScp({ abstractSyntaxes: { [CT]: [ELE, ILE] }, store: fileSink({ directory }) });
    const association = await open(
      port,
      storageContexts([
        { sopClassUid: CT, transferSyntaxUid: JPEG_BASELINE },
        { sopClassUid: CT, transferSyntaxUid: ELE },
      ]),
    );
    expect(association.negotiation.presentationContexts.map((pc) => [pc.id, pc.accepted, pc.transferSyntax])).toEqual([
      [1, false, undefined],
      [3, true, ELE],
      [5, true, ELE],
    ]);
    const [image] = generateSampleStudy({ images: 1, rows: 16, columns: 16, seed: 14 });
    const jpeg: NaturalizedDataset = {
      ...image!,
      BitsAllocated: 8,
      BitsStored: 8,
      HighBit: 7,
      // Not a real JPEG stream: nothing on this path decodes it.
      PixelData: [Uint8Array.of(0xff, 0xd8, 0xff, 0xdb, 1, 2, 3, 4, 0xff, 0xd9).buffer],
      _vrMap: { PixelData: 'OB' },
    };
    const path = join(await tempDir(), 'jpeg.dcm');
    await writeFile(path, part10(jpeg, JPEG_BASELINE).file);

    const error = await lastValueFrom(store(association, path)).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(NoPresentationContextError);
    expect((error as Error).message).toContain(JPEG_BASELINE);
    expect((error as Error).message).toMatch(
      /class 1\.2\.840\.10008\.5\.1\.4\.1\.1\.2 \(CT Image Storage\) in .*; the peer accepted it in 1\.2\.840\.10008\.1\.2\.1 \(Explicit VR Little Endian\)$/,
    );

    // Nothing was sent: the association goes on.
    expect(association.state).toBe('Sta6');
    expect((await storeAll(association, { dataset: image! })).response.status.code).toBe(0);
    expect(await readdir(directory)).toEqual([`${image!.SOPInstanceUID as string}.dcm`]);
    await lastValueFrom(association.release(), { defaultValue: undefined });
  });
});

describe('store() of a file that cannot be converted', () => {
  it('errors with TranscodeError: the association goes on when nothing was sent, and is aborted in the middle of a data set', async () => {
    const directory = await tempDir();
    const { port, associations } = await startScp({ abstractSyntaxes: { [CT]: [ILE] }, store: fileSink({ directory }) });
    const association = await open(port, storageContexts([{ sopClassUid: CT, transferSyntaxUid: ELE }]));
    const [first, second, third] = generateSampleStudy({ images: 3, rows: 256, columns: 256, seed: 17 });
    const folder = await tempDir();
    const write = async (name: string, image: NaturalizedDataset, dataSet: Buffer) => {
      const path = join(folder, name);
      const meta = encodeFileMetaInformation({
        mediaStorageSopClassUid: CT,
        mediaStorageSopInstanceUid: image.SOPInstanceUID as string,
        transferSyntaxUid: ELE,
      });
      await writeFile(path, Buffer.concat([meta, dataSet]));
      return path;
    };
    // An item (FFFE,E000) outside any sequence, first thing in the data set.
    const item = Buffer.from([0xfe, 0xff, 0x00, 0xe0, 0x00, 0x00, 0x00, 0x00]);
    const brokenAtOnce = await write('at-once.dcm', first!, Buffer.concat([item, encodeDataset(first!, ELE)]));
    // 128 KiB of good elements, then an element whose value runs past the end.
    const truncated = Buffer.from([0xe1, 0x7f, 0x10, 0x00, 0x4f, 0x42, 0x00, 0x00, 0xe8, 0x03, 0x00, 0x00, 1, 2, 3, 4]);
    const brokenAtEnd = await write('at-end.dcm', second!, Buffer.concat([encodeDataset(second!, ELE), truncated]));

    const early = await lastValueFrom(store(association, brokenAtOnce, { readChunkSize: 4096 })).catch((e: unknown) => e);
    expect(early).toBeInstanceOf(TranscodeError);
    expect((early as Error).message).toMatch(/outside a sequence/);
    expect(association.state).toBe('Sta6');
    expect((await storeAll(association, { dataset: third! })).response).toMatchObject({ status: { code: 0 }, converted: true });

    const states = lastValueFrom(association.states.pipe(toArray()));
    const late = await lastValueFrom(store(association, brokenAtEnd, { readChunkSize: 4096 })).catch((e: unknown) => e);
    expect(late).toBeInstanceOf(TranscodeError);
    // Half a message cannot be taken back (PS3.7 Annex E): the association is aborted.
    expect(await within(states, 3_000, 'the end of the association')).toEqual(['Sta6', 'Sta13', 'Sta1']);
    expect(await within(firstValueFrom(associations[0]!.finished), 3_000, 'the SCP association')).toBeInstanceOf(AssociationAbortedError);
    expect(await readdir(directory)).toEqual([`${third!.SOPInstanceUID as string}.dcm`]);
  });
});

describe('store() with storage handlers answering other statuses', () => {
  it('delivers warnings and failures as typed statuses, answers a handler that throws with 0xA700, and the association goes on', async () => {
    const images = generateSampleStudy({ images: 6, rows: 8, columns: 8, seed: 15 });
    const uid = (i: number) => images[i]!.SOPInstanceUID as string;
    const received = new Map<string, number>();
    /** Reads the whole data set, then answers. */
    const reading = (answer: () => Observable<never> | number | { status: number; errorComment?: string }) =>
      ((info, data) =>
        new Observable((subscriber) => {
          let bytes = 0;
          return data.chunks.subscribe({
            next: (chunk) => {
              bytes += chunk.length;
            },
            complete: () => {
              received.set(info.sopInstanceUid, bytes);
              const a = answer();
              if (a instanceof Observable) a.subscribe(subscriber);
              else {
                subscriber.next(a);
                subscriber.complete();
              }
            },
          });
        })) satisfies StorageHandler;
    const handlers = new Map<string, StorageHandler>([
      [uid(0), reading(() => ({ status: 0xa700, errorComment: 'Disk quota reached' }))],
      [uid(1), reading(() => 0xb000)],
      [uid(2), reading(() => 0xc000)],
      [
        uid(3),
        () => {
          throw new Error('Handler broke at once');
        },
      ],
      [uid(4), reading(() => throwError(() => new Error('Handler broke after reading')))],
      [uid(5), reading(() => 0)],
    ]);
    const { port } = await startScp({
      abstractSyntaxes: { [CT]: [ELE], [VERIFICATION_SOP_CLASS]: [ILE] },
      store: (info, data) => handlers.get(info.sopInstanceUid)!(info, data),
    });
    const association = await open(port, storageContexts([{ sopClassUid: CT, transferSyntaxUid: ELE }]));

    const expected = [
      { code: 0xa700, kind: 'failure', meaning: 'failure: refused, out of resources', errorComment: 'Disk quota reached' },
      { code: 0xb000, kind: 'warning', meaning: 'warning: coercion of data elements' },
      { code: 0xc000, kind: 'failure', meaning: 'failure: cannot understand' },
      { code: 0xa700, kind: 'failure', meaning: 'failure: refused, out of resources', errorComment: 'Handler broke at once' },
      { code: 0xa700, kind: 'failure', meaning: 'failure: refused, out of resources', errorComment: 'Handler broke after reading' },
      { code: 0, kind: 'success', meaning: 'success' },
    ];
    for (const [i, status] of expected.entries()) {
      const { response } = await storeAll(association, { dataset: images[i]! });
      expect(response.status).toEqual(status);
      expect(response.sopInstanceUid).toBe(uid(i));
      expect(association.state).toBe('Sta6');
    }
    // The handlers that read saw every byte; the one that threw did not read.
    for (const i of [0, 1, 2, 4, 5]) expect(received.get(uid(i))).toBe(encodeDataset(images[i]!, ELE).length);
    expect(received.has(uid(3))).toBe(false);
    await lastValueFrom(association.release(), { defaultValue: undefined });
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

/**
 * A Part 10 file of a CT image whose pixel data is `pixelBytes` of a pattern, written piece by
 * piece; returns the SHA-256 and length of its data set.
 */
async function writeLargeFile(path: string, pixelBytes: number, seed: number): Promise<{ sha256: string; length: number; uid: string }> {
  const [image] = generateSampleStudy({ images: 1, rows: 1, columns: 1, seed });
  const { PixelData: _pixels, _vrMap: _map, ...rest } = image!;
  const head = encodeDataset({ ...rest, Rows: 4096, Columns: pixelBytes / 2 / 4096 }, ELE);
  const pixelHeader = Buffer.alloc(12);
  pixelHeader.writeUInt16LE(0x7fe0, 0);
  pixelHeader.writeUInt16LE(0x0010, 2);
  pixelHeader.write('OW', 4, 'latin1');
  pixelHeader.writeUInt32LE(pixelBytes, 8);
  const hash = createHash('sha256').update(head).update(pixelHeader);
  const out = createWriteStream(path);
  const write = (bytes: Uint8Array) => new Promise<void>((resolve, reject) => out.write(bytes, (e) => (e ? reject(e) : resolve())));
  await write(
    encodeFileMetaInformation({
      mediaStorageSopClassUid: CT,
      mediaStorageSopInstanceUid: image!.SOPInstanceUID as string,
      transferSyntaxUid: ELE,
    }),
  );
  await write(head);
  await write(pixelHeader);
  for (let i = 0; i < pixelBytes / MiB; i++) {
    const piece = Buffer.alloc(MiB, (i * 37) & 0xff);
    hash.update(piece);
    await write(piece);
  }
  await new Promise<void>((resolve, reject) => out.end((e?: Error | null) => (e ? reject(e) : resolve())));
  return { sha256: hash.digest('hex'), length: head.length + pixelHeader.length + pixelBytes, uid: image!.SOPInstanceUID as string };
}

describe('store() of a large data set to a handler that holds', () => {
  it('stalls the sender while the handler holds, in bounded memory, and delivers every byte once released', async () => {
    const path = join(await tempDir(), 'large.dcm');
    const source = await writeLargeFile(path, 64 * MiB, 16);
    let held!: () => void;
    const holding = new Promise<void>((resolve) => {
      held = resolve;
    });
    let release: (() => void) | undefined;
    let receivedBytes = 0;
    const hash = createHash('sha256');
    const { port } = await startScp({
      abstractSyntaxes: { [CT]: [ELE] },
      store: (_info, data) =>
        new Observable<number>((subscriber) =>
          data.chunks.subscribe({
            next: (chunk) => {
              // Held from the first chunk on, as a writer that falls behind would.
              if (receivedBytes === 0) {
                release = data.hold();
                held();
              }
              receivedBytes += chunk.length;
              hash.update(chunk);
            },
            complete: () => {
              subscriber.next(0);
              subscriber.complete();
            },
            error: (e) => subscriber.error(e),
          }),
        ),
    });
    const association = await open(port, storageContexts([{ sopClassUid: CT, transferSyntaxUid: ELE }]));
    const gc = collector();
    gc?.();
    const baseline = process.memoryUsage().arrayBuffers;

    let bytesSent = 0;
    const response = new Promise<Response>((resolve, reject) => {
      const subscription = store(association, path).subscribe({
        next: (event) => {
          if (event.type === 'progress') bytesSent = event.bytesSent;
          else resolve(event);
        },
        error: reject,
      });
      cleanup.add(() => subscription.unsubscribe());
    });
    await within(holding, 5_000, 'the first chunk');
    // Let the socket buffers fill up, then watch: nothing moves while held.
    await wait(400);
    const sentWhileHeld = bytesSent;
    const receivedWhileHeld = receivedBytes;
    await wait(600);
    expect(bytesSent).toBe(sentWhileHeld);
    expect(receivedBytes).toBe(receivedWhileHeld);
    expect(sentWhileHeld).toBeLessThan(source.length / 4);
    if (gc) {
      gc();
      expect(process.memoryUsage().arrayBuffers - baseline).toBeLessThan(48 * MiB);
    }

    release!();
    const answer = await within(response, 20_000, 'the response');
    expect(answer.status.code).toBe(0);
    expect(bytesSent).toBe(source.length);
    expect(receivedBytes).toBe(source.length);
    expect(hash.digest('hex')).toBe(source.sha256);
    await lastValueFrom(association.release(), { defaultValue: undefined });
  });
});

describe('storeAll()', () => {
  /** A Part 10 file of CT with `pixels` bytes of pattern `seed` as pixel data: its path and data set bytes. */
  async function patternFile(folder: string, seed: number, rows: number): Promise<{ path: string; uid: string; dataSet: Buffer }> {
    const [image] = generateSampleStudy({ images: 1, rows, columns: 64, seed });
    const pixels = Buffer.alloc(rows * 64 * 2);
    for (let i = 0; i < pixels.length; i++) pixels[i] = (i * 7 + seed) & 0xff;
    const { file, dataSet } = part10(
      { ...image!, PixelData: [pixels.buffer.slice(pixels.byteOffset, pixels.byteOffset + pixels.length)] },
      ELE,
    );
    const path = join(folder, `${seed}.dcm`);
    await writeFile(path, file);
    return { path, uid: image!.SOPInstanceUID as string, dataSet };
  }

  it('stores files one after the other, reusing read buffers, every byte right; a bad input fails alone', async () => {
    const directory = await tempDir();
    const source = await tempDir();
    const { port } = await startScp({ abstractSyntaxes: { [CT]: [ELE] }, store: fileSink({ directory }) });
    // Sizes around the 8 KiB read size: smaller, several chunks, and large.
    const files = await Promise.all([1, 2, 3, 4, 5, 6].map((seed) => patternFile(source, seed, [8, 64, 200, 31, 500, 1][seed - 1]!)));
    const inputs: StoreInput[] = [files[0]!.path, files[1]!.path, join(source, 'missing.dcm'), ...files.slice(2).map((f) => f.path)];
    const [a, b] = await Promise.all([
      open(port, storageContexts([{ sopClassUid: CT, transferSyntaxUid: ELE }])),
      open(port, storageContexts([{ sopClassUid: CT, transferSyntaxUid: ELE }])),
    ]);
    // Two at once on two associations: they share the pool of read buffers.
    const [eventsA, eventsB] = await Promise.all(
      [a!, b!].map((association) =>
        within(lastValueFrom(storeMany(association, inputs, { readChunkSize: 8192 }).pipe(toArray())), 20_000, 'storeAll()'),
      ),
    );
    for (const events of [eventsA!, eventsB!]) {
      const outcomes = events.filter((e) => e.type !== 'progress');
      expect(outcomes.map((e) => [e.index, e.type === 'response' ? e.status.code : e.type])).toEqual([
        [0, 0],
        [1, 0],
        [2, 'failed'],
        [3, 0],
        [4, 0],
        [5, 0],
        [6, 0],
      ]);
      const failure = outcomes[2];
      expect(failure?.type === 'failed' && failure.error.message).toMatch(/ENOENT/);
    }
    for (const file of files) {
      const stored = await readStored(join(directory, `${file.uid}.dcm`));
      expect(Buffer.compare(stored.dataSet, file.dataSet)).toBe(0);
    }
    expect(a!.state).toBe('Sta6');
  });

  it('reads files smaller than the read size into pooled buffers: no fresh buffer per file', async () => {
    const source = await tempDir();
    const { port } = await startScp({ abstractSyntaxes: { [CT]: [ELE] }, store: discardSink });
    // 40 files of about 26 KiB, each smaller than the 64 KiB read.
    const files = await Promise.all(Array.from({ length: 40 }, (_, i) => patternFile(source, 100 + i, 200)));
    const association = await open(port, storageContexts([{ sopClassUid: CT, transferSyntaxUid: ELE }]));
    const allocUnsafe = Buffer.allocUnsafe;
    let allocated = 0;
    Buffer.allocUnsafe = (size: number) => {
      allocated += size;
      return allocUnsafe.call(Buffer, size);
    };
    try {
      const events = await within(
        lastValueFrom(
          storeMany(
            association!,
            files.map((f) => f.path),
            { readChunkSize: 64 * 1024 },
          ).pipe(toArray()),
        ),
        20_000,
        'storeAll()',
      );
      expect(events.filter((e) => e.type === 'response').map((e) => e.type === 'response' && e.status.code)).toEqual(Array(40).fill(0));
    } finally {
      Buffer.allocUnsafe = allocUnsafe;
    }
    // The 1 MB of files went through the pool; what allocUnsafe gave is PDU headers and such.
    const fileBytes = files.reduce((n, f) => n + f.dataSet.length, 0);
    expect(fileBytes).toBeGreaterThan(1_000_000);
    expect(allocated).toBeLessThan(fileBytes / 10);
  });

  it('errors, and stores nothing more, when a file fails halfway: the association is aborted by then', async () => {
    const source = await tempDir();
    const { port } = await startScp({ abstractSyntaxes: { [CT]: [ELE] }, store: fileSink({ directory: await tempDir() }) });
    const [shrinking, next] = await Promise.all([patternFile(source, 21, 400), patternFile(source, 22, 8)]);
    const association = await open(port, storageContexts([{ sopClassUid: CT, transferSyntaxUid: ELE }]));
    const events: string[] = [];
    const outcome = await within(
      new Promise<unknown>((resolve) => {
        storeMany(association, [shrinking!.path, next!.path], { readChunkSize: 4096 }).subscribe({
          next: (event) => {
            events.push(`${event.index} ${event.type}`);
            // The file is cut short once sending has begun: a later read finds it shrunk.
            if (event.type === 'progress' && events.length === 1) void truncate(shrinking!.path, 0);
          },
          error: resolve,
          complete: () => resolve('completed'),
        });
      }),
      10_000,
      'storeAll',
    );
    expect(outcome).toBeInstanceOf(Error);
    expect((outcome as Error).message).toMatch(/shrank/);
    expect(events.filter((e) => !e.endsWith('progress'))).toEqual([]);
    expect(association.state).not.toBe('Sta6');
  });

  it('closes every file it opened when unsubscribed in the middle', async () => {
    const source = await tempDir();
    const { port } = await startScp({ abstractSyntaxes: { [CT]: [ELE] }, store: fileSink({ directory: await tempDir() }) });
    const files = await Promise.all([11, 12, 13].map((seed) => patternFile(source, seed, 400)));
    const association = await open(port, storageContexts([{ sopClassUid: CT, transferSyntaxUid: ELE }]));
    /** The files of `source` this process has open. */
    const openSources = async () => {
      const targets = await Promise.all((await readdir('/proc/self/fd')).map((fd) => readlink(`/proc/self/fd/${fd}`).catch(() => '')));
      return targets.filter((t) => t.startsWith(source));
    };
    let openWhileSending: string[] = [];
    const events: string[] = [];
    await new Promise<void>((resolve) => {
      const subscription = storeMany(
        association,
        files.map((f) => f.path),
        { readChunkSize: 4096 },
      ).subscribe((event) => {
        events.push(event.type);
        if (event.type === 'progress' && event.bytesSent > 20_000 && openWhileSending.length === 0) {
          void openSources().then((open) => {
            openWhileSending = open;
            subscription.unsubscribe();
            resolve();
          });
        }
      });
    });
    // The file being sent and the next one, opened ahead, are both closed.
    expect(openWhileSending.length).toBeGreaterThanOrEqual(1);
    await wait(100);
    expect(await openSources()).toEqual([]);
    expect(events).not.toContain('response');
  });
});

describe('store() over TLS', () => {
  it('sends files whose read buffers are reused, byte for byte, when TLS encrypts what is written', async () => {
    const dir = await tempDir();
    const { key, cert } = makeCertificate(dir);
    const directory = await tempDir();
    const { port } = await startScp({ abstractSyntaxes: { [CT]: [ELE] }, store: fileSink({ directory }), tls: { key, cert } });
    const association = await open(port, storageContexts([{ sopClassUid: CT, transferSyntaxUid: ELE }]), {
      ca: cert,
      servername: 'localhost',
    });
    // Three files of about 1 MiB read 16 KiB at a time: each buffer comes back and is reused many times.
    const files = [];
    for (const [i, image] of generateSampleStudy({ images: 3, rows: 512, columns: 1024, seed: 31 }).entries()) {
      const { file, dataSet } = part10(image, ELE);
      const path = join(dir, `${i}.dcm`);
      await writeFile(path, file);
      files.push({ path, uid: image.SOPInstanceUID as string, dataSet });
    }
    const events = await within(
      lastValueFrom(
        storeMany(
          association,
          files.map((f) => f.path),
          { readChunkSize: 16 * 1024 },
        ).pipe(toArray()),
      ),
      20_000,
      'storeAll over TLS',
    );
    expect(events.filter((e) => e.type === 'response').map((e) => e.type === 'response' && e.status.code)).toEqual([0, 0, 0]);
    for (const file of files) {
      const stored = await readStored(join(directory, `${file.uid}.dcm`));
      expect(createHash('sha256').update(stored.dataSet).digest('hex')).toBe(createHash('sha256').update(file.dataSet).digest('hex'));
    }
  });
});

describe('store() options', () => {
  it('refuses a read size that is not a whole number of bytes', async () => {
    const { port } = await startScp({ abstractSyntaxes: { [CT]: [ELE] }, store: fileSink({ directory: await tempDir() }) });
    const association = await open(port, storageContexts([{ sopClassUid: CT, transferSyntaxUid: ELE }]));
    for (const readChunkSize of [0, -1, 1.5]) {
      await expect(lastValueFrom(store(association, 'any.dcm', { readChunkSize }))).rejects.toThrow(/readChunkSize/);
      await expect(lastValueFrom(storeMany(association, ['any.dcm'], { readChunkSize }))).rejects.toThrow(/readChunkSize/);
    }
    expect(association.state).toBe('Sta6');
  });
});
