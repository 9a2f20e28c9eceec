/**
 * SOP Class Extended Negotiation of Query/Retrieve and Modality Worklist (PS3.4 C.5, K.5): the
 * fields byte by byte, the acceptor's reply, what a real negotiation over linked transports
 * agrees, find() and move() taking relational queries and retrieval from it; sequence keys.
 */
import {
  agreedQueryNegotiation,
  agreedRetrieveNegotiation,
  agreedWorklistNegotiation,
  CommandField,
  decodeDataset,
  decodeQueryNegotiation,
  decodeRetrieveNegotiation,
  decodeWorklistNegotiation,
  encodeQueryNegotiation,
  encodeRetrieveNegotiation,
  encodeWorklistNegotiation,
  extendedNegotiationPolicy,
  extendedNegotiationReply,
  find,
  move,
  type NaturalizedDataset,
  QueryKeyError,
  QueryModel,
  queryNegotiationItems,
  type RequestHandler,
  Responses,
  retrieveNegotiationItems,
  Status,
  sequenceMatch,
  sequenceReturnKey,
  worklistNegotiationItems,
} from '@dimse-rx/dimse';
import { lastValueFrom, toArray } from 'rxjs';
import { afterEach, describe, expect, it } from 'vitest';
import { ILE, type Pair, type PairOptions, pair } from './harness.js';

const FIND = QueryModel.StudyRoot.find;
const MOVE = QueryModel.StudyRoot.move;
const MWL = QueryModel.ModalityWorklist.find;
const bytes = (b: Uint8Array | undefined) => (b === undefined ? undefined : [...b]);

const open: Pair[] = [];
afterEach(async () => {
  for (const p of open.splice(0)) await p.close();
});

/** An SCP answering C-FIND (Study Root, worklist) with no match and C-MOVE with no sub-operation; records each identifier it got. */
async function negotiated(options: Pick<PairOptions, 'acceptor' | 'requestor'>) {
  const received: NaturalizedDataset[] = [];
  const record = async (request: Parameters<RequestHandler>[0]) =>
    received.push(decodeDataset(await lastValueFrom(request.message.dataSet!.collect()), request.presentationContext.transferSyntax));
  const findHandler: RequestHandler = (request) =>
    (async function* () {
      await record(request);
      yield Responses.cFind(Status.Success);
    })();
  const moveHandler: RequestHandler = (request) =>
    (async function* () {
      await record(request);
      yield Responses.cMove(Status.Success, { completed: 0, failed: 0, warning: 0 });
    })();
  const p = await pair({
    contexts: [FIND, MOVE, MWL].map((abstractSyntax) => ({ abstractSyntax, transferSyntaxes: [ILE] })),
    services: [
      { command: CommandField.CFindRq, sopClasses: [FIND, MWL], handler: findHandler },
      { command: CommandField.CMoveRq, sopClasses: MOVE, handler: moveHandler },
    ],
    ...options,
  });
  open.push(p);
  return { p, received };
}

const seriesQuery = { model: 'StudyRoot', level: 'SERIES', keys: { SeriesInstanceUID: '', Modality: 'CT' } } as const;
const findAll = (p: Pair, query: Parameters<typeof find>[1]) => lastValueFrom(find(p.requestor, query).pipe(toArray()));
const refusal = (promise: Promise<unknown>) =>
  promise.then(
    () => undefined,
    (e: unknown) => e,
  );

describe('Service-class-application-information, byte by byte', () => {
  it('encodes a C-FIND field as byte 1 and then up to the last flag set, in the order of C.5.1.1', () => {
    expect(bytes(encodeQueryNegotiation({}))).toEqual([0]);
    expect(bytes(encodeQueryNegotiation({ relationalQueries: true }))).toEqual([1]);
    expect(bytes(encodeQueryNegotiation({ relationalQueries: false, combinedDateTime: true }))).toEqual([0, 1]);
    expect(bytes(encodeQueryNegotiation({ fuzzyPersonNames: true }))).toEqual([0, 0, 1]);
    expect(bytes(encodeQueryNegotiation({ timezoneAdjustment: true }))).toEqual([0, 0, 0, 1]);
    expect(bytes(encodeQueryNegotiation({ enhancedMultiFrameConversion: true }))).toEqual([0, 0, 0, 0, 1]);
    expect(bytes(encodeQueryNegotiation({ emptyValueMatching: true, multipleValueMatching: true }))).toEqual([0, 0, 0, 0, 0, 1, 1]);
  });

  it('decodes a C-FIND field with every missing byte false, only 1 true, and bytes past byte 7 ignored', () => {
    expect(decodeQueryNegotiation(Uint8Array.of(1))).toEqual({
      relationalQueries: true,
      combinedDateTime: false,
      fuzzyPersonNames: false,
      timezoneAdjustment: false,
      enhancedMultiFrameConversion: false,
      emptyValueMatching: false,
      multipleValueMatching: false,
    });
    expect(decodeQueryNegotiation(Uint8Array.of(0, 1, 0, 1, 0, 0, 1, 1, 1))).toEqual({
      relationalQueries: false,
      combinedDateTime: true,
      fuzzyPersonNames: false,
      timezoneAdjustment: true,
      enhancedMultiFrameConversion: false,
      emptyValueMatching: false,
      multipleValueMatching: true,
    });
    expect(Object.values(decodeQueryNegotiation(new Uint8Array(0))).some(Boolean)).toBe(false);
    expect(decodeQueryNegotiation(Uint8Array.of(2)).relationalQueries).toBe(false);
  });

  it('encodes and decodes the C-MOVE and C-GET field: relational retrieval, then Enhanced Multi-Frame conversion', () => {
    expect(bytes(encodeRetrieveNegotiation({}))).toEqual([0]);
    expect(bytes(encodeRetrieveNegotiation({ relationalRetrieval: true }))).toEqual([1]);
    expect(bytes(encodeRetrieveNegotiation({ enhancedMultiFrameConversion: true }))).toEqual([0, 1]);
    expect(decodeRetrieveNegotiation(Uint8Array.of(1))).toEqual({ relationalRetrieval: true, enhancedMultiFrameConversion: false });
    expect(decodeRetrieveNegotiation(Uint8Array.of(0, 1))).toEqual({ relationalRetrieval: false, enhancedMultiFrameConversion: true });
  });

  it('encodes the worklist field with its two reserved bytes 1 and at least three bytes; decoding skips them', () => {
    expect(bytes(encodeWorklistNegotiation({}))).toEqual([1, 1, 0]);
    expect(bytes(encodeWorklistNegotiation({ fuzzyPersonNames: true }))).toEqual([1, 1, 1]);
    expect(bytes(encodeWorklistNegotiation({ timezoneAdjustment: true }))).toEqual([1, 1, 0, 1]);
    expect(decodeWorklistNegotiation(Uint8Array.of(1, 1, 1))).toEqual({ fuzzyPersonNames: true, timezoneAdjustment: false });
    expect(decodeWorklistNegotiation(Uint8Array.of(0, 0, 0, 1))).toEqual({ fuzzyPersonNames: false, timezoneAdjustment: true });
  });

  it('builds one item per SOP class, each with a field of its own', () => {
    const items = queryNegotiationItems([QueryModel.PatientRoot.find, FIND], { relationalQueries: true });
    expect(items.map((i) => [i.sopClassUid, bytes(i.serviceClassApplicationInformation)])).toEqual([
      [QueryModel.PatientRoot.find, [1]],
      [FIND, [1]],
    ]);
    expect(items[0]!.serviceClassApplicationInformation).not.toBe(items[1]!.serviceClassApplicationInformation);
    expect(bytes(retrieveNegotiationItems([MOVE], { relationalRetrieval: true })[0]!.serviceClassApplicationInformation)).toEqual([1]);
    expect(bytes(worklistNegotiationItems([MWL], { fuzzyPersonNames: true })[0]!.serviceClassApplicationInformation)).toEqual([1, 1, 1]);
  });
});

describe('the acceptor reply', () => {
  const item = (sopClassUid: string, ...field: number[]) => ({ sopClassUid, serviceClassApplicationInformation: Uint8Array.from(field) });

  it('answers each byte offered with what was asked for and is supported, never more bytes than it knows', () => {
    const support = { query: { relationalQueries: true, fuzzyPersonNames: true, timezoneAdjustment: true } };
    expect(bytes(extendedNegotiationReply(item(FIND, 1, 1, 1), support))).toEqual([1, 0, 1]);
    expect(bytes(extendedNegotiationReply(item(FIND, 0, 1, 1, 1), support))).toEqual([0, 0, 1, 1]);
    expect(bytes(extendedNegotiationReply(item(FIND, 1, 1, 1, 1, 1, 1, 1, 1, 1), support))).toEqual([1, 0, 1, 1, 0, 0, 0]);
    expect(bytes(extendedNegotiationReply(item(MOVE, 1, 1), { retrieve: { relationalRetrieval: true } }))).toEqual([1, 0]);
    expect(bytes(extendedNegotiationReply(item(MWL, 1, 1, 1, 1), { worklist: { fuzzyPersonNames: true } }))).toEqual([1, 1, 1, 0]);
  });

  it('sends no reply for a kind it has no support for, another SOP class, or an empty field', () => {
    expect(extendedNegotiationReply(item(FIND, 1), { retrieve: { relationalRetrieval: true } })).toBeUndefined();
    expect(extendedNegotiationReply(item('1.2.840.10008.5.1.4.1.1.2', 1), { query: { relationalQueries: true } })).toBeUndefined();
    expect(extendedNegotiationReply(item(FIND), { query: { relationalQueries: true } })).toBeUndefined();
  });

  it('knows the field of every SOP class of the query models', () => {
    const support = { query: { relationalQueries: true }, retrieve: { relationalRetrieval: true }, worklist: { fuzzyPersonNames: true } };
    for (const model of [QueryModel.PatientRoot, QueryModel.StudyRoot]) {
      for (const uid of [model.find, model.move, model.get]) expect(bytes(extendedNegotiationReply(item(uid, 1), support))).toEqual([1]);
    }
    expect(bytes(extendedNegotiationReply(item(MWL, 1, 1, 1), support))).toEqual([1, 1, 1]);
  });
});

describe('negotiated over an association', () => {
  it('agrees relational queries when the acceptor supports them, and find() sends a SERIES query without StudyInstanceUID', async () => {
    const { p, received } = await negotiated({
      requestor: { extendedNegotiation: queryNegotiationItems([FIND], { relationalQueries: true, combinedDateTime: true }) },
      acceptor: { extendedNegotiation: extendedNegotiationPolicy({ query: { relationalQueries: true } }) },
    });
    expect(p.requestor.negotiation.extendedNegotiation.map((i) => [i.sopClassUid, bytes(i.serviceClassApplicationInformation)])).toEqual([
      [FIND, [1, 0]],
    ]);
    expect(agreedQueryNegotiation(p.requestor, FIND)).toMatchObject({ relationalQueries: true, combinedDateTime: false });
    expect(agreedQueryNegotiation(p.acceptor, FIND).relationalQueries).toBe(true);
    expect(agreedQueryNegotiation(p.requestor, QueryModel.PatientRoot.find).relationalQueries).toBe(false);
    await findAll(p, seriesQuery);
    expect(received).toEqual([expect.objectContaining({ QueryRetrieveLevel: 'SERIES', SeriesInstanceUID: '', Modality: 'CT' })]);
    expect(received[0]!.StudyInstanceUID).toBeUndefined();
    // An explicit relational: false still asks for the hierarchical keys.
    expect(await refusal(findAll(p, { ...seriesQuery, relational: false }))).toBeInstanceOf(QueryKeyError);
    expect(received).toHaveLength(1);
  });

  it('refuses the same query with QueryKeyError, sending nothing, when the acceptor declines', async () => {
    const { p, received } = await negotiated({
      requestor: { extendedNegotiation: queryNegotiationItems([FIND], { relationalQueries: true }) },
      acceptor: { extendedNegotiation: extendedNegotiationPolicy({ query: {} }) },
    });
    expect(bytes(p.requestor.negotiation.extendedNegotiation[0]?.serviceClassApplicationInformation)).toEqual([0]);
    expect(agreedQueryNegotiation(p.requestor, FIND).relationalQueries).toBe(false);
    const error = await refusal(findAll(p, seriesQuery));
    expect(error).toBeInstanceOf(QueryKeyError);
    expect((error as Error).message).toMatch(/needs the STUDY unique key StudyInstanceUID/);
    expect(p.sentByRequestor).toHaveLength(0);
    expect(received).toHaveLength(0);
  });

  it('reads the bytes a shorter reply leaves out as not agreed', async () => {
    const { p } = await negotiated({
      requestor: {
        extendedNegotiation: queryNegotiationItems([FIND], { relationalQueries: true, combinedDateTime: true, fuzzyPersonNames: true }),
      },
      acceptor: { extendedNegotiation: () => Uint8Array.of(1) },
    });
    expect(agreedQueryNegotiation(p.requestor, FIND)).toMatchObject({
      relationalQueries: true,
      combinedDateTime: false,
      fuzzyPersonNames: false,
    });
  });

  it('agrees nothing when the acceptor sends no item, while an explicit relational: true is still sent', async () => {
    const { p, received } = await negotiated({
      requestor: { extendedNegotiation: queryNegotiationItems([FIND], { relationalQueries: true }) },
    });
    expect(p.requestor.negotiation.extendedNegotiation).toHaveLength(0);
    expect(Object.values(agreedQueryNegotiation(p.requestor, FIND)).some(Boolean)).toBe(false);
    expect(await refusal(findAll(p, seriesQuery))).toBeInstanceOf(QueryKeyError);
    await findAll(p, { ...seriesQuery, relational: true });
    expect(received).toEqual([expect.objectContaining({ QueryRetrieveLevel: 'SERIES' })]);
  });

  it('does not count a reply byte the request did not ask for', async () => {
    const { p } = await negotiated({
      requestor: { extendedNegotiation: queryNegotiationItems([FIND], { combinedDateTime: true }) },
      acceptor: { extendedNegotiation: () => Uint8Array.of(1, 1) },
    });
    expect(agreedQueryNegotiation(p.requestor, FIND)).toMatchObject({ relationalQueries: false, combinedDateTime: true });
  });

  it('move() takes relational retrieval from the C-MOVE SOP class: a SERIES move without StudyInstanceUID is sent once agreed', async () => {
    const agreed = await negotiated({
      requestor: { extendedNegotiation: retrieveNegotiationItems([MOVE], { relationalRetrieval: true }) },
      acceptor: { extendedNegotiation: extendedNegotiationPolicy({ retrieve: { relationalRetrieval: true } }) },
    });
    expect(agreedRetrieveNegotiation(agreed.p.requestor, MOVE)).toEqual({ relationalRetrieval: true, enhancedMultiFrameConversion: false });
    const query = { model: 'StudyRoot', level: 'SERIES', keys: { SeriesInstanceUID: '1.2.3.4' } } as const;
    const events = await lastValueFrom(move(agreed.p.requestor, query, { destination: 'ELSEWHERE' }).pipe(toArray()));
    expect(events.at(-1)).toMatchObject({ type: 'result', completed: 0 });
    expect(agreed.received).toEqual([expect.objectContaining({ QueryRetrieveLevel: 'SERIES', SeriesInstanceUID: '1.2.3.4' })]);

    const declined = await negotiated({
      requestor: { extendedNegotiation: retrieveNegotiationItems([MOVE], { relationalRetrieval: true }) },
      acceptor: { extendedNegotiation: extendedNegotiationPolicy({ retrieve: {} }) },
    });
    const error = await refusal(lastValueFrom(move(declined.p.requestor, query, { destination: 'ELSEWHERE' })));
    expect(error).toBeInstanceOf(QueryKeyError);
    expect(declined.p.sentByRequestor).toHaveLength(0);
  });

  it('negotiates fuzzy person name matching of the worklist, and a sequence key reaches the SCP as one item', async () => {
    const { p, received } = await negotiated({
      requestor: { extendedNegotiation: worklistNegotiationItems([MWL], { fuzzyPersonNames: true, timezoneAdjustment: true }) },
      acceptor: { extendedNegotiation: extendedNegotiationPolicy({ worklist: { fuzzyPersonNames: true } }) },
    });
    expect(bytes(p.requestor.negotiation.extendedNegotiation[0]?.serviceClassApplicationInformation)).toEqual([1, 1, 1, 0]);
    expect(agreedWorklistNegotiation(p.requestor, MWL)).toEqual({ fuzzyPersonNames: true, timezoneAdjustment: false });
    await findAll(p, {
      model: 'ModalityWorklist',
      keys: {
        PatientName: 'DOE',
        ScheduledProcedureStepSequence: sequenceMatch({
          Modality: 'CT',
          ScheduledStationAETitle: 'CT01',
          ScheduledProcedureStepStartDate: '',
        }),
        ReferencedStudySequence: sequenceReturnKey(),
      },
    });
    expect(received[0]!.ScheduledProcedureStepSequence).toEqual([
      expect.objectContaining({ Modality: 'CT', ScheduledStationAETitle: 'CT01', ScheduledProcedureStepStartDate: '' }),
    ]);
    expect(received[0]!.ReferencedStudySequence).toEqual([]);
  });
});

describe('sequence matching keys', () => {
  it('wraps one item, as given or in an array of one, in a copy', () => {
    const item = { Modality: 'MR', ScheduledStationAETitle: '' };
    const key = sequenceMatch(item);
    expect(key).toEqual([{ Modality: 'MR', ScheduledStationAETitle: '' }]);
    expect(key[0]).not.toBe(item);
    expect(sequenceMatch([item])).toEqual([item]);
    expect(sequenceReturnKey()).toEqual([]);
  });

  it('throws a RangeError for no item, more than one, or an item that is not a data set', () => {
    expect(() => sequenceMatch([])).toThrow(new RangeError('a sequence matching key holds exactly one item, not 0'));
    expect(() => sequenceMatch([{ Modality: 'CT' }, { Modality: 'MR' }])).toThrow(/exactly one item, not 2/);
    expect(() => sequenceMatch([null as unknown as NaturalizedDataset])).toThrow(RangeError);
    expect(() => sequenceMatch([['CT'] as unknown as NaturalizedDataset])).toThrow(/is a data set/);
  });
});
