/**
 * `dimse-rx find` against a C-FIND SCP of this process: keys parsed as findscu takes them, the
 * matches printed as they arrive (table, JSON lines, CSV, tab-separated), --limit cancelling the
 * rest, failures in words with exit code 1, usage errors with 2.
 */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { parseQueryKeys, valueText } from '../src/commands/query-keys.js';
import { main } from '../src/main.js';
import { type QueryScp, startQueryScp } from './query-scp.js';
import { capture, jsonLines } from './support.js';

const scps: QueryScp[] = [];
afterEach(() => {
  for (const s of scps.splice(0)) s.stop();
});
const start = async (options: Parameters<typeof startQueryScp>[0]) => {
  const s = await startQueryScp(options);
  scps.push(s);
  return s;
};

const studies = Array.from({ length: 40 }, (_, i) => ({
  StudyInstanceUID: `1.2.3.${i}`,
  PatientName: `DOE^${i}`,
  PatientID: `P${i}`,
  StudyDate: '20240101',
}));

const usageError = async (args: string[], message: RegExp) => {
  const c = capture();
  expect(await main(args, c.io), args.join(' ')).toBe(2);
  expect(c.out).toEqual([]);
  expect(c.err[0]!.split('\n')[0]).toMatch(message);
  return c;
};

describe('query keys (-k) as findscu takes them', () => {
  it('a keyword, a tag with or without parentheses, or eight hex digits name the same attribute', () => {
    for (const spec of ['PatientID=123', '0010,0020=123', '(0010,0020)=123', '00100020=123', '(0010,0020)=123']) {
      const { keys, paths } = parseQueryKeys([spec]);
      expect(keys, spec).toEqual({ PatientID: '123' });
      expect(paths.map((p) => p.label)).toEqual(['PatientID']);
    }
  });

  it('a key with no value (or an empty one) is a return key, empty as its VR wants', () => {
    const { keys, paths } = parseQueryKeys(['PatientName', 'StudyDate=', 'NumberOfStudyRelatedInstances', 'ReferencedStudySequence']);
    expect(keys).toEqual({ PatientName: '', StudyDate: '', NumberOfStudyRelatedInstances: '', ReferencedStudySequence: [] });
    expect(paths.map((p) => p.vr)).toEqual(['PN', 'DA', 'IS', 'SQ']);
    // A binary number (US) as a return key: no value at all, not an empty string.
    expect(parseQueryKeys(['Rows']).keys).toEqual({ Rows: [] });
    expect(parseQueryKeys(['Rows=512']).keys).toEqual({ Rows: 512 });
  });

  it('ranges, wildcards and lists pass as they are; backslashes separate values', () => {
    expect(parseQueryKeys(['StudyDate=20240101-', 'StudyTime=-1200', 'PatientName=DOE*']).keys).toEqual({
      StudyDate: '20240101-',
      StudyTime: '-1200',
      PatientName: 'DOE*',
    });
    expect(parseQueryKeys(['StudyInstanceUID=1.2.3\\1.2.4']).keys).toEqual({ StudyInstanceUID: ['1.2.3', '1.2.4'] });
    // Only the first = separates the key from its value.
    expect(parseQueryKeys(['StudyDescription=a=b']).keys).toEqual({ StudyDescription: 'a=b' });
  });

  it('a later key of the same attribute overrides the earlier one; QueryRetrieveLevel gives the level', () => {
    const parsed = parseQueryKeys(['PatientName=A*', 'QueryRetrieveLevel=series', 'PatientName=B*']);
    expect(parsed.keys).toEqual({ PatientName: 'B*' });
    expect(parsed.level).toBe('SERIES');
    expect(parsed.paths.map((p) => p.label)).toEqual(['PatientName']);
  });

  it('sequence paths build the item: SEQUENCE[0].KEY, by keyword or tag, [0] optional', () => {
    const { keys, paths } = parseQueryKeys([
      'ScheduledProcedureStepSequence[0].Modality=CT',
      '(0040,0100)[0].(0040,0002)=20240101',
      'ScheduledProcedureStepSequence.ScheduledStationAETitle',
      'ScheduledProcedureStepSequence',
      'PatientName',
    ]);
    expect(keys).toEqual({
      ScheduledProcedureStepSequence: [{ Modality: 'CT', ScheduledProcedureStepStartDate: '20240101', ScheduledStationAETitle: '' }],
      PatientName: '',
    });
    expect(paths.map((p) => p.label)).toEqual([
      'ScheduledProcedureStepSequence[0].Modality',
      'ScheduledProcedureStepSequence[0].ScheduledProcedureStepStartDate',
      'ScheduledProcedureStepSequence[0].ScheduledStationAETitle',
      'ScheduledProcedureStepSequence',
      'PatientName',
    ]);
  });

  it.each([
    ['PatientNam=DOE', /unknown keyword "PatientNam"/],
    ['patientname=DOE', /unknown keyword "patientname" \(did you mean PatientName\?\)/],
    ['(0011,0010)=X', /\(0011,0010\) is not an attribute of the DICOM dictionary/],
    ['=DOE', /no attribute before =/],
    ['PatientName[0].Modality=CT', /PatientName is not a sequence/],
    ['PatientName.Modality=CT', /PatientName is not a sequence, nothing goes inside it/],
    ['ScheduledProcedureStepSequence=CT', /is a sequence: give the keys of its item/],
    ['Rows=many', /Rows \(US\) takes numbers/],
    ['PixelData=1', /holds bytes: it can only be a return key/],
    ['ScheduledProcedureStepSequence[x].Modality=CT', /is not KEYWORD, \(GGGG,EEEE\) or SEQUENCE\[n\]/],
    ['QueryRetrieveLevel', /QueryRetrieveLevel needs a level/],
  ])('-k %s is a usage error (exit 2)', async (spec, message) => {
    expect(() => parseQueryKeys([spec])).toThrow(message);
    await usageError(['find', '127.0.0.1', '104', '-k', spec], message);
  });

  it('values as text: person names, several values, sequences by their item count', () => {
    expect(valueText([{ Alphabetic: 'DOE^JANE' }])).toBe('DOE^JANE');
    expect(valueText([{ Alphabetic: 'YAMADA^TARO', Ideographic: '山田^太郎' }])).toBe('YAMADA^TARO=山田^太郎');
    expect(valueText(['CT', 'MR'])).toBe('CT\\MR');
    expect(valueText([{ Modality: 'CT' }, { Modality: 'MR' }])).toBe('(2 items)');
    expect(valueText(undefined)).toBe('');
    expect(valueText(512)).toBe('512');
  });
});

describe('dimse-rx find', () => {
  it('--json: one naturalized identifier per match, in order, and the keys as the SCP received them', async () => {
    const scp = await start({ matches: studies.slice(0, 3) });
    const c = capture();
    const code = await main(
      [
        'find',
        '127.0.0.1',
        String(scp.port),
        '-k',
        'PatientName=DOE*',
        '-k',
        '0010,0020',
        '-k',
        'StudyDate=20240101-',
        '-k',
        'StudyInstanceUID',
        '--json',
      ],
      c.io,
    );
    expect(c.err).toEqual([]);
    expect(code).toBe(0);
    expect(jsonLines(c.out)).toEqual(
      studies.slice(0, 3).map((s) => ({
        QueryRetrieveLevel: 'STUDY',
        StudyInstanceUID: s.StudyInstanceUID,
        PatientName: [{ Alphabetic: s.PatientName }],
        PatientID: s.PatientID,
        StudyDate: s.StudyDate,
      })),
    );
    expect(scp.identifiers).toHaveLength(1);
    expect(scp.identifiers[0]).toMatchObject({
      QueryRetrieveLevel: 'STUDY',
      PatientName: [{ Alphabetic: 'DOE*' }],
      StudyDate: '20240101-',
    });
    // The return keys went as empty values.
    expect(scp.identifiers[0]!.PatientID ?? '').toBe('');
    expect(scp.identifiers[0]!.StudyInstanceUID ?? '').toBe('');
    expect(
      Object.keys(scp.identifiers[0]!)
        .filter((k) => k !== '_vrMap')
        .sort(),
    ).toEqual(['PatientID', 'PatientName', 'QueryRetrieveLevel', 'StudyDate', 'StudyInstanceUID'].sort());
  });

  it('--csv: a header line of the keys asked, then one line per match, quoted where needed', async () => {
    const scp = await start({ matches: [...studies.slice(0, 2), { ...studies[2]!, StudyDescription: 'HEAD, "WITH" CONTRAST' }] });
    const c = capture();
    const code = await main(
      ['find', '127.0.0.1', String(scp.port), '-k', 'PatientName', '-k', 'StudyDescription', '-k', 'StudyInstanceUID', '--csv'],
      c.io,
    );
    expect(code).toBe(0);
    expect(c.out).toEqual([
      'PatientName,StudyDescription,StudyInstanceUID',
      'DOE^0,,1.2.3.0',
      'DOE^1,,1.2.3.1',
      'DOE^2,"HEAD, ""WITH"" CONTRAST",1.2.3.2',
    ]);
  });

  it('not a terminal and no --json or --csv: tab-separated values with a header line, the header alone for no match', async () => {
    const scp = await start({ matches: studies.slice(0, 2) });
    const c = capture();
    expect(await main(['find', '127.0.0.1', String(scp.port), '-k', 'PatientID', '-k', 'StudyInstanceUID'], c.io)).toBe(0);
    expect(c.out).toEqual(['PatientID\tStudyInstanceUID', 'P0\t1.2.3.0', 'P1\t1.2.3.1']);
    const none = await start({ matches: [] });
    const n = capture();
    expect(await main(['find', '127.0.0.1', String(none.port), '-k', 'PatientID'], n.io)).toBe(0);
    expect(n.out).toEqual(['PatientID']);
  });

  it('on a terminal: a table with a column per key, then the count', async () => {
    const scp = await start({ matches: studies.slice(0, 2) });
    const c = capture();
    const code = await main(['find', '127.0.0.1', String(scp.port), '-k', 'PatientName', '-k', 'StudyDate', '-k', 'StudyInstanceUID'], {
      ...c.io,
      outIsTerminal: true,
    });
    expect(code).toBe(0);
    expect(c.out.slice(0, 3)).toEqual([
      `${'PatientName'.padEnd(24)}  StudyDate  StudyInstanceUID`,
      `${'DOE^0'.padEnd(24)}  20240101   1.2.3.0`,
      `${'DOE^1'.padEnd(24)}  20240101   1.2.3.1`,
    ]);
    expect(c.out[3]).toMatch(/^2 matches in \d+\.\d s$/);
  });

  it('without -k: the usual return keys of the level', async () => {
    const scp = await start({ matches: studies.slice(0, 1) });
    const c = capture();
    expect(await main(['find', '127.0.0.1', String(scp.port)], c.io)).toBe(0);
    expect(c.out[0]).toBe('StudyDate\tPatientName\tPatientID\tAccessionNumber\tStudyDescription\tStudyInstanceUID');
    expect(c.out[1]).toBe('20240101\tDOE^0\tP0\t\t\t1.2.3.0');
  });

  it('--limit N: N matches printed, the rest cancelled (the SCP sees C-CANCEL), exit 0', async () => {
    const scp = await start({ matches: studies, matchDelay: 10 });
    const c = capture();
    expect(await main(['find', '127.0.0.1', String(scp.port), '-k', 'StudyInstanceUID', '--limit', '3', '--json'], c.io)).toBe(0);
    expect(jsonLines(c.out).map((m) => m.StudyInstanceUID)).toEqual(['1.2.3.0', '1.2.3.1', '1.2.3.2']);
    await new Promise((r) => setTimeout(r, 50));
    expect(scp.cancels).toHaveLength(1);
    expect(scp.cancels[0]).toBeGreaterThanOrEqual(3);
    expect(scp.cancels[0]).toBeLessThan(studies.length);
  });

  it('a failure status: exit 1 and the status in words with its Error Comment; the matches before it printed', async () => {
    const scp = await start({ matches: studies.slice(0, 1), findStatus: 0xa700 });
    const c = capture();
    expect(await main(['find', '127.0.0.1', String(scp.port), '-k', 'StudyInstanceUID'], c.io)).toBe(1);
    expect(c.out).toEqual(['StudyInstanceUID', '1.2.3.0']);
    expect(c.err).toEqual(['dimse-rx find: C-FIND failed: failure: refused, out of resources (0xa700): index unavailable']);
    const unable = await start({ findStatus: 0xc001 });
    const u = capture();
    expect(await main(['find', '127.0.0.1', String(unable.port), '-k', 'StudyInstanceUID', '--json'], u.io)).toBe(1);
    expect(u.out).toEqual([]);
    expect(u.err).toEqual(['dimse-rx find: C-FIND failed: failure: unable to process (0xc001): index unavailable']);
  });

  it('-P at the PATIENT level, -W the worklist with a sequence key: the identifier the SCP got', async () => {
    const scp = await start({ matches: [{ PatientID: 'P9', PatientName: 'ROE^RICHARD' }] });
    const c = capture();
    expect(await main(['find', '127.0.0.1', String(scp.port), '-P', '-k', 'PatientName=ROE*', '-k', 'PatientID', '--json'], c.io)).toBe(0);
    expect(scp.identifiers[0]).toMatchObject({ QueryRetrieveLevel: 'PATIENT', PatientName: [{ Alphabetic: 'ROE*' }] });
    expect(jsonLines(c.out)).toEqual([{ QueryRetrieveLevel: 'PATIENT', PatientID: 'P9', PatientName: [{ Alphabetic: 'ROE^RICHARD' }] }]);

    const worklist = await start({
      matches: [{ PatientName: 'ROE^RICHARD', ScheduledProcedureStepSequence: [{ Modality: 'CT', ScheduledStationAETitle: 'CT1' }] }],
    });
    const w = capture();
    const code = await main(
      [
        'find',
        '127.0.0.1',
        String(worklist.port),
        '-W',
        '-k',
        'PatientName',
        '-k',
        'ScheduledProcedureStepSequence[0].Modality=CT',
        '-k',
        'ScheduledProcedureStepSequence[0].ScheduledStationAETitle',
      ],
      w.io,
    );
    expect(w.err).toEqual([]);
    expect(code).toBe(0);
    const sent = worklist.identifiers[0]!;
    expect(sent.QueryRetrieveLevel).toBeUndefined();
    expect(sent.ScheduledProcedureStepSequence).toEqual([expect.objectContaining({ Modality: 'CT' })]);
    expect(w.out).toEqual([
      'PatientName\tScheduledProcedureStepSequence[0].Modality\tScheduledProcedureStepSequence[0].ScheduledStationAETitle',
      'ROE^RICHARD\tCT\tCT1',
    ]);
  });

  it('usage errors (exit 2): the model, the level, the output form, the limit, the hierarchy', async () => {
    await usageError(['find', '127.0.0.1', '104', '-P', '-S'], /choose one information model, not --patient-root and --study-root/);
    await usageError(['find', '127.0.0.1', '104', '-W', '--level', 'STUDY'], /the worklist has no levels/);
    await usageError(['find', '127.0.0.1', '104', '--level', 'PATIENT'], /StudyRoot has no level PATIENT/);
    await usageError(['find', '127.0.0.1', '104', '--level', 'STUDY', '-k', 'QueryRetrieveLevel=SERIES'], /disagree/);
    await usageError(['find', '127.0.0.1', '104', '--json', '--csv'], /choose --json or --csv, not both/);
    await usageError(['find', '127.0.0.1', '104', '--limit', '0'], /--limit must be an integer from 1/);
    await usageError(
      ['find', '127.0.0.1', '104', '--level', 'SERIES', '-k', 'SeriesInstanceUID'],
      /needs the STUDY unique key StudyInstanceUID/,
    );
    await usageError(['find', '127.0.0.1'], /find takes HOST and PORT/);
  });

  it('--help: the key forms and the output forms', async () => {
    const c = capture();
    expect(await main(['find', '--help'], c.io)).toBe(0);
    const help = c.out.join('\n');
    expect(help).toMatch(/^Usage: dimse-rx find HOST PORT/);
    expect(help).toMatch(/^ {2}-k, --key KEY\[=VALUE\]/m);
    expect(help).toMatch(/^ {2}-W, --worklist/m);
    expect(help).toContain('tab-separated values');
    const all = capture();
    expect(await main(['--help'], all.io)).toBe(0);
    expect(all.out.join('\n')).toMatch(/^ {2}dimse-rx find HOST PORT -k KEY\[=VALUE\]\.\.\. +C-FIND/m);
  });
});

/** The command as installed (the built bundle). */
const BIN = fileURLToPath(new URL('../../../node_modules/.bin/dimse-rx', import.meta.url));

describe('the installed dimse-rx find', () => {
  it('to a pipe: tab-separated lines, dcmjs loaded for the dictionary from the bundle; a bad key exits 2', async () => {
    const scp = await start({ matches: studies.slice(0, 2) });
    const { stdout } = await promisify(execFile)(BIN, [
      'find',
      '127.0.0.1',
      String(scp.port),
      '-k',
      '(0010,0020)',
      '-k',
      'StudyInstanceUID',
    ]);
    expect(stdout).toBe('PatientID\tStudyInstanceUID\nP0\t1.2.3.0\nP1\t1.2.3.1\n');
    const failed = await promisify(execFile)(BIN, ['find', '127.0.0.1', String(scp.port), '-k', 'Nonsense=1']).catch(
      (error: { code: number; stderr: string }) => error,
    );
    expect((failed as { code: number }).code).toBe(2);
    expect((failed as { stderr: string }).stderr).toContain('unknown keyword "Nonsense"');
  });
});
