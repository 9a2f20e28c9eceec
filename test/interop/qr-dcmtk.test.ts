/**
 * Query/retrieve on the invoking side against DCMTK 3.6.7's dcmqrscp, filled by storescu with
 * generated patients, studies and series (bench/lib/qr-archive.mjs):
 *
 * - `find()` at every level of Patient Root and Study Root gives the identifiers findscu gets
 *   for the same keys (its `-X` files, decoded by the same decoder; compared as sets of
 *   naturalized data sets), and the matches the archive holds: wildcards, date ranges (closed
 *   and open), UID lists, at the level of the query and above it.
 * - `take(3)` of a query of 300 matches, and of the instances of a C-GET of 300, cancels it:
 *   dcmqrscp's log shows the C-CANCEL and its final 0xFE00 response, what the get stored is
 *   intact, and the association goes on with another query, then is released.
 * - `get()`, `move()` to a storage SCP of this process, to DCMTK's storescp and to ourselves
 *   (`retrieve()`) store data sets byte for byte as dcmqrscp holds them. The files' meta
 *   information is each writer's own (our file sink's, storescp's), so what is compared is the
 *   data set after it, and the transfer syntax the meta names.
 * - an unknown move destination is RetrieveFailedError 0xA801.
 *
 * dcmqrscp quirks met: it fails (0xC000) a query that leaves out a unique key above its level,
 * as the hierarchical rules of PS3.4 C.4.1.2.2 allow; it logs "Move Presentation Context but no
 * Find" as an error when a C-MOVE association has no C-FIND context (the move associations here
 * propose one).
 */
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ProposedContext } from '@dimse-rx/association';
import {
  acceptStorage,
  dateRange,
  decodeDataset,
  fileSink,
  find,
  get,
  move,
  type NaturalizedDataset,
  type Query,
  QueryFailedError,
  QueryKeyError,
  QueryModel,
  type QueryModelName,
  type RetrieveEvent,
  RetrieveFailedError,
  type RetrieveResult,
  type RetrieveStored,
  readPart10Header,
  retrieve,
  retrieveContexts,
  scp,
  TransferSyntax,
  uidList,
  withAssociation,
} from '@dimse-rx/dimse';
import { concat, filter, firstValueFrom, lastValueFrom, map, ReplaySubject, take, timeout, toArray } from 'rxjs';
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import type { ArchivedFile, QrArchive, QrArchiveOptions } from '../../bench/lib/qr-archive.mjs';
import { describeDcmtk, freePort, LOOPBACK, runDcmtk, startDcmtk } from '../support/dcmtk.js';
import { readDataSet } from '../support/dicom-files.js';

const SYNTAXES = [TransferSyntax.ExplicitVrLittleEndian, TransferSyntax.ImplicitVrLittleEndian];
const CALLING_AE = 'DIMSE-RX-QR';
/** Move destinations dcmqrscp knows (its HostTable), each on a port picked before it starts. */
const DESTINATIONS = ['DRX-STORE', 'DCMTK-STORE', 'DRX-SELF'] as const;
type Destination = (typeof DESTINATIONS)[number];
const TIMEOUTS = { connect: 5_000, acse: 5_000, artim: 5_000 };
/** Short network timeouts for the DCMTK SCUs, in seconds. */
const DCMTK_TIMEOUTS = ['-to', '10', '-ta', '10', '-td', '30'];
/** The unique key of each level (PS3.4 C.6.1.1, C.6.2.1). */
const UNIQUE_KEY = { PATIENT: 'PatientID', STUDY: 'StudyInstanceUID', SERIES: 'SeriesInstanceUID', IMAGE: 'SOPInstanceUID' } as const;
type Level = keyof typeof UNIQUE_KEY;
/** The models with C-GET and C-MOVE. */
type RootModel = 'PatientRoot' | 'StudyRoot';

/** qr-archive.mjs imports the built packages: loaded only when DCMTK is there to run it. */
const startQrArchive = async (options: QrArchiveOptions): Promise<QrArchive> =>
  (await import('../../bench/lib/qr-archive.mjs')).startQrArchive(options);

let archive: QrArchive;
const ports = {} as Record<Destination, number>;
let root: string;

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** A fresh folder under this file's temporary root. */
const folder = (name: string) => mkdtemp(join(root, `${name}-`));

/** Ports free on 127.0.0.1, all different. */
async function distinctPorts(count: number): Promise<number[]> {
  const found = new Set<number>();
  while (found.size < count) found.add(await freePort());
  return [...found];
}

/** Association options to dcmqrscp with the given contexts. */
const toArchive = (presentationContexts: ProposedContext[], callingAeTitle = CALLING_AE) => ({
  host: LOOPBACK,
  port: archive.port,
  callingAeTitle,
  calledAeTitle: archive.aeTitle,
  timeouts: TIMEOUTS,
  presentationContexts,
});

const findContext = (model: QueryModelName): ProposedContext => ({ abstractSyntax: QueryModel[model].find, transferSyntaxes: SYNTAXES });

/** The archive's files that pass a test, sorted by SOP Instance UID. */
const filesWhere = (test: (file: ArchivedFile) => boolean): ArchivedFile[] =>
  archive.files.filter(test).sort((a, b) => (a.sopInstanceUid < b.sopInstanceUid ? -1 : 1));

/** The distinct values of a file attribute, sorted. */
const distinct = (files: readonly ArchivedFile[], attribute: keyof ArchivedFile): string[] =>
  [...new Set(files.map((file) => String(file[attribute])))].sort();

/** The studies of the archive in the order of the layout (study k is dated 2020-(k+1)-15). */
const studies = (): string[] =>
  [...new Map(archive.files.map((file) => [file.studyInstanceUid, file.studyDate])).entries()]
    .sort(([, a], [, b]) => (a < b ? -1 : 1))
    .map(([uid]) => uid);

// ---------------------------------------------------------------------------------------------
// C-FIND both ways

/** Our matches' identifiers. */
function ourMatches(query: Query): Promise<NaturalizedDataset[]> {
  return lastValueFrom(
    withAssociation(toArchive([findContext(query.model)]), (association) => find(association, query)).pipe(
      map((match) => match.identifier),
      toArray(),
    ),
  );
}

/** The keys as findscu takes them (`-k KEY` for a return key, `-k KEY=VALUE`, a list joined by backslashes). */
const findscuKeys = (keys: NaturalizedDataset): string[] =>
  Object.entries(keys).flatMap(([key, value]) => {
    const text = Array.isArray(value) ? value.join('\\') : String(value);
    return ['-k', text === '' ? key : `${key}=${text}`];
  });

/** findscu's run for a query (`-d`: its log names the final status), with what it extracted (`-X`) into a folder of its own. */
async function findscu(query: Query): Promise<{ readonly identifiers: NaturalizedDataset[]; readonly finalStatus: number }> {
  const cwd = await folder('findscu');
  const args = [
    query.model === 'PatientRoot' ? '-P' : '-S',
    '-X',
    '-d',
    '-aet',
    CALLING_AE,
    '-aec',
    archive.aeTitle,
    ...DCMTK_TIMEOUTS,
    '-k',
    `QueryRetrieveLevel=${query.level}`,
    ...findscuKeys(query.keys),
    LOOPBACK,
    String(archive.port),
  ];
  const result = await runDcmtk('findscu', args, { cwd });
  const log = result.stdout + result.stderr;
  expect(result.code, log).toBe(0);
  const statuses = [...log.matchAll(/DIMSE Status\s*:\s*0x([0-9a-f]{4})/gi)].map((m) => Number.parseInt(m[1]!, 16));
  const names = (await readdir(cwd)).filter((name) => /^rsp\d+\.dcm$/.test(name)).sort();
  const identifiers = await Promise.all(
    names.map(async (name) => {
      const { header, dataSet } = await readDataSet(join(cwd, name));
      return decodeDataset(dataSet, header.meta.transferSyntaxUid);
    }),
  );
  return { identifiers, finalStatus: statuses.at(-1) ?? -1 };
}

/** A data set as sorted JSON, without dcmjs's VR map: what two decodings of the same identifier share. */
const canonical = (dataset: NaturalizedDataset): string => {
  const { _vrMap, ...attributes } = dataset as Record<string, unknown>;
  return JSON.stringify(Object.fromEntries(Object.entries(attributes).sort(([a], [b]) => (a < b ? -1 : 1))));
};
const asSet = (identifiers: readonly NaturalizedDataset[]) => identifiers.map(canonical).sort();

interface FindCase {
  readonly name: string;
  readonly model: QueryModelName;
  readonly level: Level;
  /** The keys (made once the archive is filled), and the unique keys of the matches the archive holds for them. */
  readonly keys: () => NaturalizedDataset;
  readonly expected: () => string[];
}

const startsWithA = (file: ArchivedFile) => file.patientName.startsWith('A');

const FIND_CASES: readonly FindCase[] = [
  {
    name: 'Patient Root PATIENT: PatientName=A*',
    model: 'PatientRoot',
    level: 'PATIENT',
    keys: () => ({ PatientName: 'A*', PatientID: '', PatientBirthDate: '', PatientSex: '' }),
    expected: () => distinct(filesWhere(startsWithA), 'patientId'),
  },
  {
    name: 'Patient Root STUDY: one patient, open date range -20200331',
    model: 'PatientRoot',
    level: 'STUDY',
    keys: () => ({ PatientID: 'QR2', StudyDate: dateRange(undefined, '20200331'), StudyInstanceUID: '', AccessionNumber: '', StudyID: '' }),
    expected: () =>
      distinct(
        filesWhere((f) => f.patientId === 'QR2' && f.studyDate <= '20200331'),
        'studyInstanceUid',
      ),
  },
  {
    name: 'Patient Root SERIES: the series of one study',
    model: 'PatientRoot',
    level: 'SERIES',
    keys: () => ({ PatientID: 'QR1', StudyInstanceUID: studies()[1]!, SeriesInstanceUID: '', SeriesNumber: '', Modality: '' }),
    expected: () =>
      distinct(
        filesWhere((f) => f.studyInstanceUid === studies()[1]),
        'seriesInstanceUid',
      ),
  },
  {
    name: 'Patient Root IMAGE: the images of one series',
    model: 'PatientRoot',
    level: 'IMAGE',
    keys: () => {
      const [file] = filesWhere((f) => f.patientId === 'QR3');
      return {
        PatientID: 'QR3',
        StudyInstanceUID: file!.studyInstanceUid,
        SeriesInstanceUID: file!.seriesInstanceUid,
        SOPInstanceUID: '',
        SOPClassUID: '',
        InstanceNumber: '',
      };
    },
    expected: () => {
      const [file] = filesWhere((f) => f.patientId === 'QR3');
      return distinct(
        filesWhere((f) => f.seriesInstanceUid === file!.seriesInstanceUid),
        'sopInstanceUid',
      );
    },
  },
  {
    name: 'Study Root STUDY: PatientName=A* and StudyDate=20200101-20200430',
    model: 'StudyRoot',
    level: 'STUDY',
    keys: () => ({
      PatientName: 'A*',
      PatientID: '',
      StudyDate: dateRange('20200101', '20200430'),
      StudyInstanceUID: '',
      StudyDescription: '',
    }),
    expected: () =>
      distinct(
        filesWhere((f) => startsWithA(f) && f.studyDate >= '20200101' && f.studyDate <= '20200430'),
        'studyInstanceUid',
      ),
  },
  {
    name: 'Study Root STUDY: open date range 20200301-',
    model: 'StudyRoot',
    level: 'STUDY',
    keys: () => ({ StudyDate: dateRange('20200301'), StudyInstanceUID: '', AccessionNumber: '' }),
    expected: () =>
      distinct(
        filesWhere((f) => f.studyDate >= '20200301'),
        'studyInstanceUid',
      ),
  },
  {
    name: 'Study Root STUDY: a list of StudyInstanceUIDs',
    model: 'StudyRoot',
    level: 'STUDY',
    keys: () => ({ StudyInstanceUID: uidList([studies()[0]!, studies()[3]!]), StudyDate: '', PatientID: '' }),
    expected: () => [studies()[0]!, studies()[3]!].sort(),
  },
  {
    name: 'Study Root SERIES: a list of StudyInstanceUIDs above the level',
    model: 'StudyRoot',
    level: 'SERIES',
    keys: () => ({ StudyInstanceUID: uidList([studies()[2]!, studies()[5]!]), SeriesInstanceUID: '', SeriesNumber: '', Modality: '' }),
    expected: () =>
      distinct(
        filesWhere((f) => [studies()[2], studies()[5]].includes(f.studyInstanceUid)),
        'seriesInstanceUid',
      ),
  },
  {
    name: 'Study Root IMAGE: a list of two of a series SOPInstanceUIDs',
    model: 'StudyRoot',
    level: 'IMAGE',
    keys: () => {
      const series = filesWhere((f) => f.seriesInstanceUid === archive.files[0]!.seriesInstanceUid);
      return {
        StudyInstanceUID: series[0]!.studyInstanceUid,
        SeriesInstanceUID: series[0]!.seriesInstanceUid,
        SOPInstanceUID: uidList([series[0]!.sopInstanceUid, series[2]!.sopInstanceUid]),
        InstanceNumber: '',
      };
    },
    expected: () => {
      const series = filesWhere((f) => f.seriesInstanceUid === archive.files[0]!.seriesInstanceUid);
      return [series[0]!.sopInstanceUid, series[2]!.sopInstanceUid].sort();
    },
  },
];

// ---------------------------------------------------------------------------------------------
// Retrieval

/** The files of a folder by the SOP Instance UID their meta information names. */
async function receivedFiles(directory: string): Promise<Map<string, string>> {
  const files = new Map<string, string>();
  for (const name of await readdir(directory)) {
    const path = join(directory, name);
    files.set((await readPart10Header(path)).meta.mediaStorageSopInstanceUid, path);
  }
  return files;
}

/** Exactly the expected instances were received, each in dcmqrscp's transfer syntax and with its data set byte for byte. */
async function expectSameDataSets(received: ReadonlyMap<string, string>, expected: readonly ArchivedFile[]): Promise<void> {
  expect(expected.length).toBeGreaterThan(0);
  expect([...received.keys()].sort()).toEqual(expected.map((file) => file.sopInstanceUid).sort());
  for (const file of expected) {
    const ours = await readDataSet(received.get(file.sopInstanceUid)!);
    const theirs = await readDataSet(file.path);
    expect(ours.header.meta.transferSyntaxUid).toBe(theirs.header.meta.transferSyntaxUid);
    expect(ours.dataSet.length, file.sopInstanceUid).toBe(theirs.dataSet.length);
    expect(Buffer.compare(ours.dataSet, theirs.dataSet), `data set of ${file.sopInstanceUid}`).toBe(0);
  }
}

const resultOf = (events: readonly RetrieveEvent[]): RetrieveResult => {
  const results = events.filter((event): event is RetrieveResult => event.type === 'result');
  expect(results).toHaveLength(1);
  expect(events.at(-1)).toBe(results[0]);
  return results[0]!;
};
const storedOf = (events: readonly RetrieveEvent[]) => events.filter((event): event is RetrieveStored => event.type === 'stored');

/** A C-MOVE association: the model's C-MOVE context and its C-FIND (without which dcmqrscp logs an error). */
const moveAssociation = (model: RootModel) =>
  toArchive([findContext(model), { abstractSyntax: QueryModel[model].move, transferSyntaxes: SYNTAXES }]);

/** A Study Root retrieval of one study. */
const studyQuery = (uid: string): Query => ({ model: 'StudyRoot', level: 'STUDY', keys: { StudyInstanceUID: uid } });

// ---------------------------------------------------------------------------------------------
// Cancels

/** An archive of one series of 300 images for the cancels, started on first use. */
let big: Promise<QrArchive> | undefined;
const bigArchive = () => {
  big ??= startQrArchive({ patients: 1, studiesPerPatient: 1, seriesPerStudy: 1, instancesPerSeries: 300, verbose: '-v' });
  return big;
};

/** A Study Root query of the series of a file's study. */
const seriesOf = (file: ArchivedFile): Query => ({
  model: 'StudyRoot',
  level: 'SERIES',
  keys: { StudyInstanceUID: file.studyInstanceUid, SeriesInstanceUID: '' },
});

/**
 * dcmqrscp's log lines from the association a calling AE title opened, once they include its
 * release (dcmqrscp's process for the association writes it after our side has seen the A-RELEASE-RP).
 */
async function associationLog(archive: QrArchive, callingAeTitle: string): Promise<string[]> {
  const log = () => {
    const output = archive.output();
    const at = output.indexOf(`(localhost:${callingAeTitle} ->`);
    return at < 0 ? '' : output.slice(at);
  };
  const deadline = Date.now() + 5_000;
  while (!/Association Release/.test(log()) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
  return log().split('\n');
}

describeDcmtk('query/retrieve against DCMTK dcmqrscp', () => {
  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'dimse-rx-qr-dcmtk-'));
    const [port, ...destinations] = await distinctPorts(1 + DESTINATIONS.length);
    for (const [i, title] of DESTINATIONS.entries()) ports[title] = destinations[i]!;
    // 3 patients (two named A...), 6 studies dated 2020-01-15 to 2020-06-15, 12 series, 36 images.
    archive = await startQrArchive({
      port: port!,
      patients: 3,
      studiesPerPatient: 2,
      seriesPerStudy: 2,
      instancesPerSeries: 3,
      destinations: ports,
      verbose: '-v',
    });
  });
  afterAll(async () => {
    await (await big?.catch(() => undefined))?.stop();
    await archive?.stop();
    if (root) await rm(root, { recursive: true, force: true });
  });

  it.each(FIND_CASES)('find() gives the identifiers findscu gets: $name', async ({ model, level, keys, expected }) => {
    const query: Query = { model, level, keys: keys() };
    const [ours, theirs] = await Promise.all([ourMatches(query), findscu(query)]);
    expect(theirs.finalStatus).toBe(0x0000);
    expect(ours.map((identifier) => String(identifier[UNIQUE_KEY[level]])).sort()).toEqual(expected());
    expect(asSet(ours)).toEqual(asSet(theirs.identifiers));
  });

  it('refuses a query without the unique key above its level, which dcmqrscp fails with the status findscu gets', async () => {
    const file = archive.files[0]!;
    const query: Query = { model: 'StudyRoot', level: 'IMAGE', keys: { StudyInstanceUID: file.studyInstanceUid, SOPInstanceUID: '' } };
    await expect(ourMatches(query)).rejects.toBeInstanceOf(QueryKeyError);
    // Sent anyway (as if relational queries were agreed): dcmqrscp's failure comes back typed.
    const error = await ourMatches({ ...query, relational: true }).catch((e: unknown) => e);
    const theirs = await findscu(query);
    expect(theirs.identifiers).toEqual([]);
    expect(theirs.finalStatus & 0xf000).toBe(0xc000);
    expect(error).toBeInstanceOf(QueryFailedError);
    expect((error as QueryFailedError).status.code).toBe(theirs.finalStatus);
  });

  it('cancels a query of 300 matches after 3, and the association goes on with another query before its release', async () => {
    const big = await bigArchive();
    const [file] = big.files;
    const images: Query = {
      model: 'StudyRoot',
      level: 'IMAGE',
      keys: { StudyInstanceUID: file!.studyInstanceUid, SeriesInstanceUID: file!.seriesInstanceUid, SOPInstanceUID: '' },
    };
    const results = await lastValueFrom(
      withAssociation(
        { ...toArchive([findContext('StudyRoot')], 'DRX-FIND-CANCEL'), port: big.port, calledAeTitle: big.aeTitle },
        (association) =>
          concat(
            find(association, images).pipe(
              take(3),
              map((match) => ({ query: 'images', uid: String(match.identifier.SOPInstanceUID) })),
            ),
            find(association, seriesOf(file!)).pipe(map((match) => ({ query: 'series', uid: String(match.identifier.SeriesInstanceUID) }))),
          ),
      ).pipe(toArray()),
    );
    const all = new Set(big.files.map((f) => f.sopInstanceUid));
    const first = results.filter((r) => r.query === 'images');
    expect(first).toHaveLength(3);
    expect(new Set(first.map((r) => r.uid)).size).toBe(3);
    for (const { uid } of first) expect(all.has(uid)).toBe(true);
    expect(results.filter((r) => r.query === 'series')).toEqual([{ query: 'series', uid: file!.seriesInstanceUid }]);

    const lines = await associationLog(big, 'DRX-FIND-CANCEL');
    const cancelled = lines.findIndex((line) =>
      /Find SCP Response \d+ \[status: Cancel: MatchingTerminatedDueToCancelRequest\]/.test(line),
    );
    expect(cancelled, lines.join('\n')).toBeGreaterThan(0);
    // The final response (number N + 1 after N pending) came before the 300 matches were all sent.
    expect(Number(/Find SCP Response (\d+)/.exec(lines[cancelled]!)![1])).toBeLessThanOrEqual(300);
    const after = lines.slice(cancelled + 1);
    expect(after.some((line) => /Find SCP Response \d+ \[status: Success\]/.test(line))).toBe(true);
    expect(after.some((line) => /Association Release/.test(line))).toBe(true);
    expect(lines.join('\n')).not.toMatch(/Abort/i);
  });

  it('cancels a get of 300 instances after 3: dcmqrscp stops its sub-operations, what came is intact, and a query follows', async () => {
    const big = await bigArchive();
    const [file] = big.files;
    const directory = await folder('get-cancel');
    const { contexts, roles } = retrieveContexts({ model: 'StudyRoot', others: [findContext('StudyRoot')] });
    const results = await lastValueFrom(
      withAssociation({ ...toArchive(contexts, 'DRX-GET-CANCEL'), roles, port: big.port, calledAeTitle: big.aeTitle }, (association) =>
        concat(
          get(association, studyQuery(file!.studyInstanceUid), { store: fileSink({ directory }) }).pipe(
            filter((event) => event.type === 'stored'),
            take(3),
            map(() => 'stored'),
          ),
          find(association, seriesOf(file!)).pipe(map((match) => String(match.identifier.SeriesInstanceUID))),
        ),
      ).pipe(toArray()),
    );
    expect(results).toEqual(['stored', 'stored', 'stored', file!.seriesInstanceUid]);

    const lines = await associationLog(big, 'DRX-GET-CANCEL');
    expect(lines.some((line) => /Get SCP: Received C-Cancel RQ/.test(line))).toBe(true);
    const cancelled = lines.findIndex((line) =>
      /Get SCP Response \d+ \[status: Cancel: SubOperationsTerminatedDueToCancelIndication\]/.test(line),
    );
    expect(cancelled, lines.join('\n')).toBeGreaterThan(0);
    expect(lines.slice(cancelled + 1).some((line) => /Association Release/.test(line))).toBe(true);
    // The sub-operations dcmqrscp had started before the cancel still went to the sink, whole.
    const received = await receivedFiles(directory);
    expect(received.size).toBeGreaterThanOrEqual(3);
    expect(received.size).toBeLessThan(300);
    await expectSameDataSets(
      received,
      big.files.filter((f) => received.has(f.sopInstanceUid)),
    );
  });

  it.each([
    {
      name: 'Study Root, a study',
      query: (): Query => studyQuery(studies()[0]!),
      files: () => filesWhere((f) => f.studyInstanceUid === studies()[0]),
    },
    {
      name: 'Patient Root, a list of two images',
      query: (): Query => {
        const series = filesWhere((f) => f.seriesInstanceUid === archive.files[5]!.seriesInstanceUid);
        return {
          model: 'PatientRoot',
          level: 'IMAGE',
          keys: {
            PatientID: series[0]!.patientId,
            StudyInstanceUID: series[0]!.studyInstanceUid,
            SeriesInstanceUID: series[0]!.seriesInstanceUid,
            SOPInstanceUID: uidList([series[0]!.sopInstanceUid, series[1]!.sopInstanceUid]),
          },
        };
      },
      files: () => filesWhere((f) => f.seriesInstanceUid === archive.files[5]!.seriesInstanceUid).slice(0, 2),
    },
  ])('get() stores the data sets dcmqrscp holds, byte for byte: $name', async ({ query, files }) => {
    const directory = await folder('get');
    const q = query();
    const { contexts, roles } = retrieveContexts({ model: q.model as RootModel });
    const events = await lastValueFrom(
      withAssociation({ ...toArchive(contexts), roles }, (association) => get(association, q, { store: fileSink({ directory }) })).pipe(
        toArray(),
      ),
    );
    const expected = files();
    const result = resultOf(events);
    expect(result.status.code).toBe(0x0000);
    expect(result).toMatchObject({ completed: expected.length, failed: 0, warning: 0, failedSopInstanceUids: [] });
    const stored = storedOf(events);
    expect(stored.map((event) => event.sopInstanceUid).sort()).toEqual(expected.map((f) => f.sopInstanceUid));
    expect(stored.every((event) => event.status === 0x0000)).toBe(true);
    await expectSameDataSets(await receivedFiles(directory), expected);
  });

  it('move() to a storage SCP of this process: the data sets arrive byte for byte', async () => {
    const directory = await folder('move-scp');
    const listening = new ReplaySubject<number>(1);
    const subscription = scp({
      host: LOOPBACK,
      port: ports['DRX-STORE'],
      aeTitles: ['DRX-STORE'],
      abstractSyntaxes: acceptStorage,
      timeouts: TIMEOUTS,
      store: fileSink({ directory }),
      onListening: ({ port }) => listening.next(port),
    }).subscribe({ error: (error: unknown) => listening.error(error) });
    cleanups.push(() => subscription.unsubscribe());
    await firstValueFrom(listening.pipe(timeout(5_000)));

    const study = studies()[1]!;
    const events = await lastValueFrom(
      withAssociation(moveAssociation('StudyRoot'), (association) =>
        move(association, studyQuery(study), { destination: 'DRX-STORE' }),
      ).pipe(toArray()),
    );
    const expected = filesWhere((f) => f.studyInstanceUid === study);
    expect(resultOf(events)).toMatchObject({ status: { code: 0x0000 }, completed: expected.length, failed: 0, warning: 0 });
    // No receiver was given: the move reports counts only.
    expect(storedOf(events)).toEqual([]);
    await expectSameDataSets(await receivedFiles(directory), expected);
  });

  it("move() to DCMTK's storescp (bit-preserving): the data sets arrive byte for byte", async () => {
    const directory = await folder('move-storescp');
    const port = ports['DCMTK-STORE'];
    const storescp = await startDcmtk('storescp', ['-aet', 'DCMTK-STORE', '+B', '-od', directory, String(port)], { ready: port });
    cleanups.push(() => storescp.stop());

    const query: Query = { model: 'PatientRoot', level: 'PATIENT', keys: { PatientID: 'QR3' } };
    const events = await lastValueFrom(
      withAssociation(moveAssociation('PatientRoot'), (association) => move(association, query, { destination: 'DCMTK-STORE' })).pipe(
        toArray(),
      ),
    );
    const expected = filesWhere((f) => f.patientId === 'QR3');
    expect(resultOf(events)).toMatchObject({ status: { code: 0x0000 }, completed: expected.length, failed: 0, warning: 0 });
    await expectSameDataSets(await receivedFiles(directory), expected);
  });

  it('retrieve() moves to ourselves: a stored event for each instance, and the data sets byte for byte', async () => {
    const directory = await folder('move-self');
    const series = archive.files[7]!.seriesInstanceUid;
    const query: Query = {
      model: 'StudyRoot',
      level: 'SERIES',
      keys: { StudyInstanceUID: archive.files[7]!.studyInstanceUid, SeriesInstanceUID: series },
    };
    const events = await lastValueFrom(
      withAssociation(moveAssociation('StudyRoot'), (association) =>
        retrieve(association, query, { destination: 'DRX-SELF', port: ports['DRX-SELF'], store: fileSink({ directory }) }),
      ).pipe(toArray()),
    );
    const expected = filesWhere((f) => f.seriesInstanceUid === series);
    expect(resultOf(events)).toMatchObject({ status: { code: 0x0000 }, completed: expected.length, failed: 0, warning: 0 });
    const stored = storedOf(events);
    expect(stored.map((event) => event.sopInstanceUid).sort()).toEqual(expected.map((f) => f.sopInstanceUid));
    expect(stored.every((event) => event.status === 0x0000 && event.stored?.path !== undefined)).toBe(true);
    await expectSameDataSets(await receivedFiles(directory), expected);
  });

  it('move() to a destination dcmqrscp does not know fails with RetrieveFailedError 0xA801', async () => {
    const error = await lastValueFrom(
      withAssociation(moveAssociation('StudyRoot'), (association) =>
        move(association, studyQuery(studies()[0]!), { destination: 'NOWHERE' }),
      ).pipe(toArray()),
    ).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RetrieveFailedError);
    const failed = error as RetrieveFailedError;
    expect(failed.service).toBe('C-MOVE');
    expect(failed.status.code).toBe(0xa801);
    expect(failed.failure).toBe('move-destination-unknown');
    expect(failed.counts.completed).toBe(0);
  });
});
