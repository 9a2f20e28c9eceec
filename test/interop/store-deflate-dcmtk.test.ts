/**
 * C-STORE of every uncompressed transfer syntax into DCMTK storescp 3.6.7 when it prefers
 * Deflated Explicit VR Little Endian (`+xd`) and when it accepts every syntax it knows (`+xa`),
 * with `store()` (an association per file) and `storeAll()` (one for all of them). Issue 8:
 * fragments of odd length, which a deflated stream and its conversion produce, made storescp
 * abort with "DIMSE: Odd Fragment Length". Every response must be a success and every stored file
 * must hold the content of its source, compared through dcmdump.
 *
 * storescp without `+B` decodes what it receives and writes it in the transfer syntax it arrived
 * in, with its own length encoding: what the dumps may differ in (sequence and item lengths,
 * delimitation items, group lengths, the transfer syntax comment) is normalized away.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { deflateRawSync } from 'node:zlib';
import { type AssociateOptions, withAssociation } from '@dimse-rx/association';
import { generateSampleStudy } from '@dimse-rx/dataset/sample';
import {
  encodeDataset,
  encodeFileMetaInformation,
  type NaturalizedDataset,
  readPart10Header,
  type StoreAllEvent,
  type StoreEvent,
  storageContexts,
  store,
  storeAll,
  TransferSyntax,
} from '@dimse-rx/dimse';
import { lastValueFrom, toArray } from 'rxjs';
import { afterAll, afterEach, expect, it } from 'vitest';
import { describeDcmtk, dumpDataSet, freePort, LOOPBACK, startDcmtk } from '../support/dcmtk.js';
import { filesIn, readDataSet, writePart10 } from '../support/dicom-files.js';

const {
  ImplicitVrLittleEndian: IMPLICIT_LE,
  ExplicitVrLittleEndian: EXPLICIT_LE,
  ExplicitVrBigEndian: EXPLICIT_BE,
  DeflatedExplicitVrLittleEndian: DEFLATED,
} = TransferSyntax;

const TIMEOUTS = { connect: 5_000, acse: 5_000, artim: 5_000 };
const SUCCESS = { code: 0, kind: 'success', meaning: 'success' };

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

let root: Promise<string> | undefined;
afterAll(async () => {
  if (root) await rm(await root, { recursive: true, force: true });
});

async function folder(name: string): Promise<string> {
  root ??= mkdtemp(join(tmpdir(), 'dimse-rx-store-deflate-'));
  return mkdtemp(join(await root, `${name}-`));
}

/**
 * A CT image of 128 x 128 pixels (several PDUs of storescp's 16 KiB maximum) with a sequence of
 * two items, AT, FD, US and odd-length text, and a private element with its creator.
 */
function dataset(seed: number): NaturalizedDataset {
  const [image] = generateSampleStudy({ images: 1, rows: 128, columns: 128, seed });
  return {
    ...image!,
    ReferencedImageSequence: [
      { ReferencedSOPClassUID: '1.2.840.10008.5.1.4.1.1.2', ReferencedSOPInstanceUID: `1.2.826.0.1.3680043.2.1143.${seed}.1` },
      {
        ReferencedSOPClassUID: '1.2.840.10008.5.1.4.1.1.2',
        ReferencedSOPInstanceUID: `1.2.826.0.1.3680043.2.1143.${seed}.2`,
        ReferencedFrameNumber: 2,
      },
    ],
    FrameIncrementPointer: 0x00181063,
    SingleCollimationWidth: 0.625,
    LargestImagePixelValue: 2047,
    ImageComments: `odd ${seed}`,
    '00090010': 'DIMSE-RX INTEROP',
    '00091001': 'private value',
    _vrMap: { ...(image!._vrMap as object), LargestImagePixelValue: 'US', '00090010': 'LO', '00091001': 'LO' },
  };
}

interface Source {
  readonly name: string;
  readonly path: string;
  readonly syntax: string;
}

let sources: Promise<Source[]> | undefined;

/**
 * One file per uncompressed syntax, and a second deflated one: the deflated streams are one of
 * odd length left unpadded (as some writers leave it; encodeDataset pads it) and one of even
 * length, found by trying seeds.
 */
function sourceFiles(): Promise<Source[]> {
  sources ??= (async () => {
    const dir = await folder('sources');
    const rawDeflate = (seed: number) => deflateRawSync(encodeDataset(dataset(seed), EXPLICIT_LE));
    const deflatedSeed = (parity: number) => {
      for (let seed = 300; seed < 400; seed++) if (rawDeflate(seed).length % 2 === parity) return seed;
      throw new Error(`no seed gives a deflated stream of parity ${parity}`);
    };
    const files: [string, string, number][] = [
      ['implicit VR little endian', IMPLICIT_LE, 101],
      ['explicit VR little endian', EXPLICIT_LE, 102],
      ['explicit VR big endian', EXPLICIT_BE, 103],
      ['deflated, odd length', DEFLATED, deflatedSeed(1)],
      ['deflated, even length', DEFLATED, deflatedSeed(0)],
    ];
    return Promise.all(
      files.map(async ([name, syntax, seed], index) => {
        const path = join(dir, `source-${index}.dcm`);
        if (name === 'deflated, odd length') {
          const ds = dataset(seed);
          const meta = encodeFileMetaInformation({
            mediaStorageSopClassUid: String(ds.SOPClassUID),
            mediaStorageSopInstanceUid: String(ds.SOPInstanceUID),
            transferSyntaxUid: DEFLATED,
          });
          await writeFile(path, Buffer.concat([meta, rawDeflate(seed)]));
        } else {
          await writePart10(path, dataset(seed), syntax);
        }
        return { name, path, syntax };
      }),
    );
  })();
  return sources;
}

interface Storescp {
  readonly port: number;
  /** Its error lines so far, for the message of a failed expectation. */
  readonly errors: () => string;
}

/** DCMTK storescp on a free port writing to `directory`; stopped when the test ends. */
async function storescp(directory: string, ...options: string[]): Promise<Storescp> {
  const port = await freePort();
  const peer = await startDcmtk('storescp', ['-aet', 'STORESCP', '-od', directory, ...options, String(port)], { ready: port });
  cleanups.push(() => peer.stop());
  const errors = () =>
    peer
      .output()
      .split('\n')
      .filter((line) => line.startsWith('E:'))
      .join('\n');
  return { port, errors };
}

/** A failure of `work` comes with what storescp logged as errors (an abort says nothing of why). */
async function explained<T>(peer: Storescp, what: string, work: Promise<T>): Promise<T> {
  try {
    return await work;
  } catch (error) {
    throw new Error(`${what}: ${(error as Error).message}\nstorescp:\n${peer.errors()}`, { cause: error });
  }
}

interface FileIds {
  readonly sopClassUid: string;
  readonly sopInstanceUid: string;
  readonly transferSyntaxUid: string;
}

/** What is proposed: as storageContexts() does, or deflated only so that storescp can take nothing else. */
type Proposal = 'own syntax first' | 'deflated only';

function associateOptions(port: number, files: readonly FileIds[], proposal: Proposal): AssociateOptions {
  return {
    host: LOOPBACK,
    port,
    callingAeTitle: 'DIMSE-RX',
    calledAeTitle: 'STORESCP',
    timeouts: TIMEOUTS,
    presentationContexts:
      proposal === 'deflated only'
        ? [...new Set(files.map((file) => file.sopClassUid))].map((abstractSyntax) => ({ abstractSyntax, transferSyntaxes: [DEFLATED] }))
        : storageContexts(files),
  };
}

async function describeFile(path: string): Promise<FileIds> {
  const { meta } = await readPart10Header(path);
  return {
    sopClassUid: meta.mediaStorageSopClassUid,
    sopInstanceUid: meta.mediaStorageSopInstanceUid,
    transferSyntaxUid: meta.transferSyntaxUid,
  };
}

/**
 * The data set's dump without what a re-encoding changes and the content does not: delimitation
 * items (written only with undefined lengths), "explicit/undefined length" of sequences and items,
 * the length column, group lengths (gggg,0000), the alignment. A private element read from
 * implicit VR has no VR to keep: converted it is UN, which dcmdump prints as its bytes, as it
 * prints the implicit source's unknown VR "??".
 */
function content(lines: readonly string[]): string[] {
  return lines
    .filter((line) => !/^\s*\(fffe,e0(0d|dd)\)/.test(line) && !/^\s*\([0-9a-f]{4},0000\)/.test(line))
    .map((line) =>
      line
        .replace(/with (explicit|undefined) length /, '')
        .replace(/#\s*(\d+|u\/l),\s*/, '# ')
        .replace(/^(\s*\(0009,1001\)) (\?\?|UN) /, '$1 ?? ')
        .replace(/\s+/g, ' ')
        .trim(),
    );
}

/** The file storescp wrote for a SOP instance (it names them `<modality>.<SOP Instance UID>`). */
async function storedFile(directory: string, sopInstanceUid: string): Promise<string> {
  const files = await filesIn(directory);
  const matching = files.filter((file) => basename(file).endsWith(`.${sopInstanceUid}`));
  expect(matching, `files in ${directory}: ${files.join(', ')}`).toHaveLength(1);
  return matching[0]!;
}

/** The stored file is in the syntax the response names and holds the source's content. */
async function expectStored(directory: string, source: Source, transferSyntaxUid: string): Promise<void> {
  const { sopInstanceUid } = await describeFile(source.path);
  const file = await storedFile(directory, sopInstanceUid);
  const stored = await readDataSet(file);
  expect(stored.header.meta.transferSyntaxUid, source.name).toBe(transferSyntaxUid);
  expect(stored.header.meta.sourceApplicationEntityTitle).toBe('DIMSE-RX');
  const [theirs, ours] = await Promise.all([dumpDataSet(file), dumpDataSet(source.path)]);
  const lines = content(theirs);
  expect(lines, source.name).toEqual(content(ours));
  // The comparison sees the values: a few of them, spelled out.
  expect(lines).toContain('(0028,0009) AT (0018,1063) # 1 FrameIncrementPointer');
  expect(lines).toContain('(0028,0107) US 2047 # 1 LargestImagePixelValue');
  expect(lines.filter((line) => line.startsWith('(0008,1155) UI [1.2.826.0.1.3680043.2.1143.'))).toHaveLength(2);
  expect(lines.some((line) => line.startsWith('(7fe0,0010) OW '))).toBe(true);
}

/** Options of each storescp: prefer deflated, or accept every syntax it knows. */
const MODES = [
  { option: '+xd', what: 'prefers deflated' },
  { option: '+xa', what: 'accepts every syntax' },
] as const;
const PROPOSALS: readonly Proposal[] = ['own syntax first', 'deflated only'];

/** The response says success and names the syntax storescp took; with a deflated-only proposal that is deflated. */
function expectResponse(response: StoreEvent & { type: 'response' }, source: Source, file: FileIds, proposal: Proposal): void {
  expect(response.status, source.name).toEqual(SUCCESS);
  expect(response.sopInstanceUid).toBe(file.sopInstanceUid);
  expect(response.converted, source.name).toBe(response.transferSyntaxUid !== source.syntax);
  if (proposal === 'deflated only') expect(response.transferSyntaxUid, source.name).toBe(DEFLATED);
}

describeDcmtk('DIMSE: store() and storeAll() into DCMTK storescp with deflated explicit VR little endian', () => {
  for (const mode of MODES) {
    for (const proposal of PROPOSALS) {
      it(`store() of each uncompressed file into storescp ${mode.option} (${mode.what}), ${proposal}: success, the content stored`, async () => {
        const files = await sourceFiles();
        const directory = await folder(`store${mode.option}`);
        const peer = await storescp(directory, mode.option);
        for (const source of files) {
          const file = await describeFile(source.path);
          // An odd read size: chunks end at odd offsets where a file goes as it is.
          const events: StoreEvent[] = await explained(
            peer,
            source.name,
            lastValueFrom(
              withAssociation(associateOptions(peer.port, [file], proposal), (association) =>
                store(association, source.path, { readChunkSize: 4001 }),
              ).pipe(toArray()),
            ),
          );
          const responses = events.filter((event) => event.type === 'response');
          expect(responses, source.name).toHaveLength(1);
          expectResponse(responses[0]!, source, file, proposal);
          await expectStored(directory, source, responses[0]!.transferSyntaxUid);
        }
      });

      it(`storeAll() of every uncompressed file on one association into storescp ${mode.option}, ${proposal}: success for each`, async () => {
        const files = await sourceFiles();
        const directory = await folder(`store-all${mode.option}`);
        const peer = await storescp(directory, mode.option);
        const described = await Promise.all(files.map((source) => describeFile(source.path)));
        const events: StoreAllEvent[] = await explained(
          peer,
          'storeAll()',
          lastValueFrom(
            withAssociation(associateOptions(peer.port, described, proposal), (association) =>
              storeAll(
                association,
                files.map((source) => source.path),
              ),
            ).pipe(toArray()),
          ),
        );
        expect(events.filter((event) => event.type === 'failed')).toEqual([]);
        const responses = events.filter((event) => event.type === 'response');
        expect(responses.map((response) => response.index)).toEqual(files.map((_, index) => index));
        for (const response of responses) {
          const source = files[response.index]!;
          expectResponse(response, source, described[response.index]!, proposal);
          await expectStored(directory, source, response.transferSyntaxUid);
        }
      });
    }
  }
});
