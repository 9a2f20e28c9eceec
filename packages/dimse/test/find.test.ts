/**
 * find(): C-FIND matches as a stream over linked in-memory transports: identifiers decoded,
 * 0xFF01 flagged, failures typed, cancel on take(n), the hierarchical rules checked before sending.
 */
import {
  CommandField,
  dateRange,
  dateTimeRange,
  decodeDataset,
  dicomDate,
  dicomTime,
  echo,
  encodeDataset,
  find,
  type NaturalizedDataset,
  QueryFailedError,
  QueryKeyError,
  QueryModel,
  queryIdentifier,
  type RequestHandler,
  Responses,
  Status,
  timeRange,
  uidList,
} from '@dimse-rx/dimse';
import { firstValueFrom, lastValueFrom, take, toArray } from 'rxjs';
import { afterEach, describe, expect, it } from 'vitest';
import { ILE, type Pair, pair, settle, VERIFICATION } from './harness.js';

const FIND = QueryModel.StudyRoot.find;
const open: Pair[] = [];
afterEach(async () => {
  for (const p of open.splice(0)) await p.close();
});

/** An SCP whose C-FIND service answers the studies given, then `final`; records the identifiers it got. */
async function withStudies(studies: readonly NaturalizedDataset[], final = Status.Success, pending = Status.Pending) {
  const received: NaturalizedDataset[] = [];
  let cancelledAfter = -1;
  const handler: RequestHandler = (request) => {
    let sent = 0;
    request.onCancel(() => {
      cancelledAfter = sent;
      return Responses.cFind(Status.Cancel);
    });
    const ts = request.presentationContext.transferSyntax;
    return (async function* () {
      received.push(decodeDataset(await lastValueFrom(request.message.dataSet!.collect()), ts));
      for (const study of studies) {
        sent++;
        yield Responses.cFind(pending, { identifier: encodeDataset({ ...study, QueryRetrieveLevel: 'STUDY' }, ts) });
      }
      yield Responses.cFind(final, final === Status.Success ? {} : { errorComment: 'index unavailable' });
    })();
  };
  const p = await pair({
    contexts: [
      { abstractSyntax: VERIFICATION, transferSyntaxes: [ILE] },
      { abstractSyntax: FIND, transferSyntaxes: [ILE] },
    ],
    services: [{ command: CommandField.CFindRq, sopClasses: FIND, handler }],
  });
  open.push(p);
  return { p, received, cancelledAfter: () => cancelledAfter };
}

const studies = Array.from({ length: 50 }, (_, i) => ({ StudyInstanceUID: `1.2.3.${i}`, PatientName: `DOE^${i}`, StudyDate: '20240101' }));

describe('find()', () => {
  it('emits each match decoded, in order, and completes at the final success', async () => {
    const { p, received } = await withStudies(studies.slice(0, 3));
    const matches = await lastValueFrom(
      find(p.requestor, {
        model: 'StudyRoot',
        level: 'STUDY',
        keys: { PatientName: 'DOE*', StudyInstanceUID: '', StudyDate: '20240101-' },
      }).pipe(toArray()),
    );
    expect(matches.map((m) => m.identifier.StudyInstanceUID)).toEqual(['1.2.3.0', '1.2.3.1', '1.2.3.2']);
    expect(matches.every((m) => !m.optionalKeysNotSupported)).toBe(true);
    expect(received[0]).toMatchObject({ QueryRetrieveLevel: 'STUDY', StudyDate: '20240101-' });
  });

  it('take(2) sends C-CANCEL-RQ at once; the service stops, and the association goes on', async () => {
    const { p, cancelledAfter } = await withStudies(studies);
    const two = await lastValueFrom(find(p.requestor, { model: 'StudyRoot', keys: { StudyInstanceUID: '' } }).pipe(take(2), toArray()));
    expect(two).toHaveLength(2);
    await settle(100);
    expect(p.sentByRequestor.map((c) => c.commandField)).toEqual([CommandField.CFindRq, CommandField.CCancelRq]);
    expect(cancelledAfter()).toBeGreaterThanOrEqual(2);
    expect(cancelledAfter()).toBeLessThan(50);
    expect((await firstValueFrom(echo(p.requestor))).code).toBe(0);
  });

  it('flags matches of 0xFF01 (optional keys not supported)', async () => {
    const { p } = await withStudies(studies.slice(0, 2), Status.Success, 0xff01);
    const matches = await lastValueFrom(find(p.requestor, { model: 'StudyRoot', keys: { StudyInstanceUID: '' } }).pipe(toArray()));
    expect(matches.map((m) => m.optionalKeysNotSupported)).toEqual([true, true]);
  });

  it('errors with QueryFailedError on a failure: the status, its C-FIND meaning, the comment', async () => {
    const { p } = await withStudies(studies.slice(0, 1), 0xa700);
    const seen: string[] = [];
    const error = await lastValueFrom(find(p.requestor, { model: 'StudyRoot', keys: { StudyInstanceUID: '' } }), {
      defaultValue: undefined,
    })
      .then(() => undefined)
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(QueryFailedError);
    expect((error as QueryFailedError).status).toMatchObject({
      code: 0xa700,
      meaning: 'failure: refused, out of resources',
      errorComment: 'index unavailable',
    });
    seen.push((error as Error).message);
    expect(seen[0]).toBe('C-FIND failed: failure: refused, out of resources (0xa700): index unavailable');
  });

  it('refuses, before sending, a query without the unique keys above its level unless relational', async () => {
    const { p } = await withStudies([]);
    const error = await firstValueFrom(find(p.requestor, { model: 'StudyRoot', level: 'SERIES', keys: { SeriesInstanceUID: '' } })).catch(
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(QueryKeyError);
    expect((error as Error).message).toBe('a SERIES query of StudyRoot needs the STUDY unique key StudyInstanceUID (hierarchical query)');
    expect(p.sentByRequestor).toHaveLength(0);
    expect(() => queryIdentifier({ model: 'PatientRoot', level: 'IMAGE', keys: { PatientID: 'P1', StudyInstanceUID: '1.2' } })).toThrow(
      /SeriesInstanceUID/,
    );
    expect(queryIdentifier({ model: 'StudyRoot', level: 'SERIES', keys: { SeriesInstanceUID: '' }, relational: true })).toEqual({
      SeriesInstanceUID: '',
      QueryRetrieveLevel: 'SERIES',
    });
    expect(() => queryIdentifier({ model: 'StudyRoot', level: 'PATIENT', keys: {} })).toThrow(/has no level PATIENT/);
  });

  it('sets Specific Character Set when a value needs more than ASCII, and the SCP reads the name right', async () => {
    const { p, received } = await withStudies([]);
    await lastValueFrom(find(p.requestor, { model: 'StudyRoot', keys: { PatientName: 'MÜLLER^JÖRG', StudyInstanceUID: '' } }), {
      defaultValue: undefined,
    });
    expect(received[0]!.SpecificCharacterSet).toBe('ISO_IR 192');
    expect(JSON.stringify(received[0]!.PatientName)).toContain('MÜLLER^JÖRG');
    expect(queryIdentifier({ model: 'StudyRoot', keys: { PatientName: 'DOE' } }).SpecificCharacterSet).toBeUndefined();
  });
});

describe('matching forms', () => {
  it('builds date, time and date-time ranges, open ones too, and refuses what is not one', () => {
    expect(dateRange('20240101', '20241231')).toBe('20240101-20241231');
    expect(dateRange('20240101')).toBe('20240101-');
    expect(dateRange(undefined, '20241231')).toBe('-20241231');
    expect(dateRange(new Date(2024, 0, 5), new Date(2024, 1, 9))).toBe('20240105-20240209');
    expect(timeRange('0800', '173000.5')).toBe('0800-173000.5');
    expect(() => timeRange('1730.5')).toThrow(/is not a TM value/);
    expect(dateTimeRange('20240101080000+0100')).toBe('20240101080000+0100-');
    expect(() => dateRange()).toThrow(/needs a start, an end or both/);
    expect(() => dateRange('2024-01-01')).toThrow(/is not a DA value/);
    expect(() => dateRange('20241231', '20240101')).toThrow(/ends before it starts/);
    expect(dicomDate(new Date(Date.UTC(2024, 11, 31, 23, 0)), true)).toBe('20241231');
    expect(dicomTime(new Date(Date.UTC(2024, 0, 1, 7, 5, 9)), true)).toBe('070509');
  });

  it('builds UID lists, and a query with one goes as a multi-valued key', async () => {
    expect(uidList(['1.2.3', '1.2.4'])).toEqual(['1.2.3', '1.2.4']);
    expect(() => uidList([])).toThrow(/at least one/);
    expect(() => uidList(['1.2.x'])).toThrow(/is not a UID/);
    const { p, received } = await withStudies([]);
    await lastValueFrom(
      find(p.requestor, { model: 'StudyRoot', keys: { StudyInstanceUID: uidList(['1.2.3', '1.2.4']), StudyDate: dateRange('20240101') } }),
      {
        defaultValue: undefined,
      },
    );
    expect(received[0]).toMatchObject({ StudyInstanceUID: ['1.2.3', '1.2.4'], StudyDate: '20240101-' });
  });
});
