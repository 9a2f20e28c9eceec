/**
 * storePool(): inputs over several associations at once, a new association after one that ended
 * early with the inputs not yet answered, and inputs given up once the retries are used up.
 */
import type { Association } from '@dimse-rx/association';
import { generateSampleStudy } from '@dimse-rx/dataset/sample';
import { encodeDataset, type PoolInput, Status, type StorageHandler, type StorePoolEvent, scp, storePool } from '@dimse-rx/dimse';
import { firstValueFrom, lastValueFrom, ReplaySubject, type Subscription, toArray } from 'rxjs';
import { afterEach, describe, expect, it } from 'vitest';

const CT = '1.2.840.10008.5.1.4.1.1.2';
const ILE = '1.2.840.10008.1.2';
const servers: Subscription[] = [];
afterEach(() => {
  for (const s of servers.splice(0)) s.unsubscribe();
});

const images = generateSampleStudy({ images: 9, rows: 16, columns: 16, seed: 77 });
const inputs: PoolInput[] = images.map((dataset) => ({
  input: { dataset },
  sopClassUid: CT,
  transferSyntaxUid: ILE,
  size: encodeDataset(dataset, ILE).length,
}));

/** A storage SCP whose handler may abort the association; records each association's calls. */
async function server(handler: (association: Association, count: number) => 'store' | 'abort') {
  const port = new ReplaySubject<number>(1);
  const seen = new Map<Association, number>();
  const open = new Set<Association>();
  let most = 0;
  const store: StorageHandler = (info, data) => {
    const count = (seen.get(info.association) ?? 0) + 1;
    seen.set(info.association, count);
    if (handler(info.association, count) === 'abort') {
      info.association.abort();
      return new Promise(() => undefined);
    }
    return lastValueFrom(data.collect()).then(() => Status.Success);
  };
  servers.push(
    scp({ port: 0, abstractSyntaxes: { [CT]: [ILE] }, store, onListening: (l) => port.next(l.port) }).subscribe((association) => {
      open.add(association);
      most = Math.max(most, open.size);
      association.finished.subscribe(() => open.delete(association));
    }),
  );
  return { port: await firstValueFrom(port), associations: () => seen.size, most: () => most };
}

const associateTo = (port: number) => ({ host: '127.0.0.1', port, callingAeTitle: 'POOL', calledAeTitle: 'ANY' });
const kinds = (events: readonly StorePoolEvent[]) =>
  events.map((e) => (e.type === 'response' || e.type === 'failed' || e.type === 'notSent' ? `${e.type} ${e.index}` : e.type));

describe('storePool', () => {
  it('goes on over a new association after the peer aborts, the input in flight failed, the rest stored', async () => {
    let abortedOnce = false;
    const peer = await server((_association, count) => {
      if (count === 3 && !abortedOnce) {
        abortedOnce = true;
        return 'abort';
      }
      return 'store';
    });
    const events = await lastValueFrom(storePool(inputs, { associate: associateTo(peer.port), retryDelay: 0 }).pipe(toArray()));
    const outcome = kinds(events).filter((k) => !k.startsWith('progress'));
    expect(outcome).toEqual([
      'opened',
      'response 0',
      'response 1',
      'failed 2',
      'endedEarly',
      'opened',
      ...[3, 4, 5, 6, 7, 8].map((i) => `response ${i}`),
    ]);
    const early = events.find((e) => e.type === 'endedEarly');
    expect(early).toMatchObject({ association: 1, left: 6, retry: 1, retries: 2 });
    expect(peer.associations()).toBe(2);
  });

  it('with retries 0 gives up the inputs left, saying why', async () => {
    const peer = await server((_association, count) => (count === 2 ? 'abort' : 'store'));
    const events = await lastValueFrom(storePool(inputs, { associate: associateTo(peer.port), retries: 0 }).pipe(toArray()));
    const notSent = events.filter((e) => e.type === 'notSent');
    expect(notSent.map((e) => e.index)).toEqual([2, 3, 4, 5, 6, 7, 8]);
    expect(notSent[0]).toMatchObject({ reason: 'retriesUsedUp', association: 1 });
    expect(kinds(events).filter((k) => k.startsWith('response'))).toEqual(['response 0']);
  });

  it('shares the inputs among 3 associations open at once, each input answered once', async () => {
    const peer = await server(() => 'store');
    const events = await lastValueFrom(storePool(inputs, { associate: associateTo(peer.port), associations: 3 }).pipe(toArray()));
    expect(events.filter((e) => e.type === 'opened')).toHaveLength(3);
    const answered = events.flatMap((e) => (e.type === 'response' ? [e.index] : [])).sort((a, b) => a - b);
    expect(answered).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8]);
    expect(peer.most()).toBe(3);
  });

  it('reports every input as not sent when no association can be had', async () => {
    const events = await lastValueFrom(storePool(inputs.slice(0, 3), { associate: associateTo(1) }).pipe(toArray()));
    expect(events.map((e) => e.type)).toEqual(['notSent', 'notSent', 'notSent']);
    expect(events[0]).toMatchObject({ reason: 'unreachable' });
  });
});
