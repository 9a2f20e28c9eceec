import { type Command, DataSetStream, encodeCommand, Fragmenter, fragment, MessageAssembler, MessageAssemblyError } from '@dimse-rx/dimse';
import { decodePdu, encodePdu, type PDataTf } from '@dimse-rx/pdu';
import fc from 'fast-check';
import { lastValueFrom } from 'rxjs';
import { describe, expect, it } from 'vitest';

const store: Command = {
  commandField: 0x0001,
  messageId: 1,
  affectedSopClassUid: '1.2.840.10008.5.1.4.1.1.2',
  affectedSopInstanceUid: '1.2.3.4',
  priority: 0,
  commandDataSetType: 0x0001,
};
const command = encodeCommand(store);
const pduLength = (pdu: PDataTf) => pdu.pdvs.reduce((n, v) => n + 6 + v.value.length, 0);
const bytesOf = (n: number, seed = 1) => Uint8Array.from({ length: n }, (_, i) => (i * 31 + seed) & 0xff);

/** Splits bytes into chunks at the given sizes (cycling). */
function chunksOf(bytes: Uint8Array, sizes: number[]): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let o = 0, i = 0; o < bytes.length; i++) {
    const size = Math.max(1, sizes[i % sizes.length]!);
    out.push(bytes.subarray(o, o + size));
    o += size;
  }
  return out;
}

/** Reassembles PDUs into (command bytes, data bytes) the way a receiver does. */
async function reassemble(pdus: PDataTf[]): Promise<{ command: Command; data: Buffer | undefined }[]> {
  const assembler = new MessageAssembler(
    () => true,
    () => () => {},
  );
  const messages = pdus.flatMap((pdu) => assembler.push(pdu));
  return Promise.all(
    messages.map(async (m) => ({ command: m.command, data: m.dataSet ? await lastValueFrom(m.dataSet.collect()) : undefined })),
  );
}

describe('fragmentation at the peer maximum PDU length', () => {
  it('never makes a P-DATA-TF one byte over the maximum, and fills PDUs up to it', () => {
    for (const max of [command.length + 12 + 1, 100, 1024, 4096, 16384]) {
      const data = bytesOf(50_000);
      const pdus = fragment(3, command, chunksOf(data, [7000, 123, 20000]), max);
      const lengths = pdus.map(pduLength);
      expect(Math.max(...lengths)).toBeLessThanOrEqual(max);
      expect(lengths.filter((l) => l === max).length).toBeGreaterThan(0);
      for (const pdu of pdus) expect(encodePdu(pdu).length - 6).toBe(pduLength(pdu));
    }
  });

  it('packs the command and the first data fragment into one P-DATA-TF when they fit', () => {
    const pdus = fragment(1, command, [bytesOf(100)], 16384);
    expect(pdus).toHaveLength(1);
    expect(pdus[0]!.pdvs.map((v) => [v.command, v.last, v.value.length])).toEqual([
      [true, true, command.length],
      [false, true, 100],
    ]);
  });

  it('cuts a command longer than one PDV into several command fragments, the last one flagged', () => {
    const pdus = fragment(5, command, undefined, 40);
    expect(pdus.every((p) => p.pdvs.every((v) => v.command && v.presentationContextId === 5))).toBe(true);
    expect(pdus.map((p) => p.pdvs[0]!.last)).toEqual([...new Array(pdus.length - 1).fill(false), true]);
    expect(Buffer.concat(pdus.map((p) => p.pdvs[0]!.value)).equals(command)).toBe(true);
    expect(Math.max(...pdus.map(pduLength))).toBe(40);
  });

  it('sends an announced but empty data set as one empty last fragment', () => {
    const pdus = fragment(1, command, [], 16384);
    expect(pdus).toHaveLength(1);
    expect(pdus[0]!.pdvs.map((v) => [v.command, v.last, v.value.length])).toEqual([
      [true, true, command.length],
      [false, true, 0],
    ]);
  });

  it('hands out views of the data chunks, not copies', () => {
    const chunk = bytesOf(40_000);
    const f = new Fragmenter(1, 16384);
    f.command(command, true);
    const pdus = [...f.data(chunk), ...f.end()];
    const values = pdus.flatMap((p) => p.pdvs.filter((v) => !v.command).map((v) => v.value));
    expect(values.every((v) => v.buffer === chunk.buffer)).toBe(true);
  });

  it('reassembles to the same command and data for generated sizes, limits and chunkings', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 0, max: 30_000 }),
        fc.integer({ min: command.length + 13, max: 20_000 }),
        fc.array(fc.integer({ min: 1, max: 9000 }), { minLength: 1, maxLength: 5 }),
        async (size, max, sizes) => {
          const data = bytesOf(size, size);
          const pdus = fragment(7, command, chunksOf(data, sizes), max);
          expect(Math.max(...pdus.map(pduLength))).toBeLessThanOrEqual(max);
          const [message, ...rest] = await reassemble(pdus.map((p) => decodePdu(encodePdu(p)) as PDataTf));
          expect(rest).toEqual([]);
          expect(message!.command).toEqual(store);
          expect(message!.data!.equals(data)).toBe(true);
        },
      ),
      { numRuns: 200 },
    );
  });
});

describe('reassembly', () => {
  const echo: Command = { commandField: 0x0030, messageId: 2, affectedSopClassUid: '1.2.840.10008.1.1', commandDataSetType: 0x0101 };
  const echoBytes = encodeCommand(echo);
  const data = bytesOf(3000);

  /** Every PDV of two messages (a C-STORE with data and a C-ECHO), each PDV in its own PDU. */
  const pdvs = [...fragment(1, command, chunksOf(data, [700]), 800), ...fragment(1, echoBytes, undefined, 20)].flatMap((p) => p.pdvs);

  it('rebuilds messages whatever PDV boundaries fall between PDUs', async () => {
    // Group the PDVs into PDUs at every possible cut between two PDVs.
    for (let cut = 0; cut <= pdvs.length; cut++) {
      const pdus: PDataTf[] = [
        { type: 'PDataTf' as const, pdvs: pdvs.slice(0, cut) },
        { type: 'PDataTf' as const, pdvs: pdvs.slice(cut) },
      ].filter((p) => p.pdvs.length > 0);
      const messages = await reassemble(pdus);
      expect(messages.map((m) => m.command)).toEqual([store, echo]);
      expect(messages[0]!.data!.equals(data)).toBe(true);
      expect(messages[1]!.data).toBeUndefined();
    }
    const onePerPdu = await reassemble(pdvs.map((pdv) => ({ type: 'PDataTf', pdvs: [pdv] })));
    expect(onePerPdu.map((m) => m.command)).toEqual([store, echo]);
  });

  it('streams data set fragments as they arrive, before the last one', () => {
    const assembler = new MessageAssembler(
      () => true,
      () => () => {},
    );
    const [message] = assembler.push({ type: 'PDataTf', pdvs: pdvs.slice(0, 2) });
    const seen: number[] = [];
    message!.dataSet!.chunks.subscribe((chunk) => seen.push(chunk.length));
    expect(seen).toEqual([pdvs[1]!.value.length]);
    assembler.push({ type: 'PDataTf', pdvs: pdvs.slice(2, 3) });
    expect(seen).toEqual([pdvs[1]!.value.length, pdvs[2]!.value.length]);
    expect(message!.dataSet!.ended).toBe(false);
  });

  it('pauses the peer when nobody reads a data set past the high-water mark, and resumes on subscribe', () => {
    let holds = 0;
    const stream = new DataSetStream(() => {
      holds++;
      return () => holds--;
    }, 1000);
    stream.push(new Uint8Array(600));
    expect(holds).toBe(0);
    stream.push(new Uint8Array(600));
    expect(holds).toBe(1);
    stream.push(new Uint8Array(600));
    expect(holds).toBe(1);
    let received = 0;
    stream.chunks.subscribe((c) => {
      received += c.length;
    });
    expect(received).toBe(1800);
    expect(holds).toBe(0);
  });

  it.each([
    [
      'a PDV on a context that was not accepted',
      [{ presentationContextId: 3, command: true, last: true, value: echoBytes }],
      /context 3, which was not accepted/,
    ],
    [
      'a data fragment without a command',
      [{ presentationContextId: 1, command: false, last: true, value: Uint8Array.of(1) }],
      /without a command/,
    ],
    [
      'a command fragment in the middle of a data set',
      [
        { presentationContextId: 1, command: true, last: true, value: command },
        { presentationContextId: 1, command: true, last: true, value: echoBytes },
      ],
      /Command fragment while a data set/,
    ],
    [
      'bytes that are not a command set',
      [{ presentationContextId: 1, command: true, last: true, value: Uint8Array.of(1, 2, 3) }],
      /cannot be read/,
    ],
  ])('refuses %s with MessageAssemblyError', (_, bad, message) => {
    const assembler = new MessageAssembler(
      (id) => id === 1,
      () => () => {},
    );
    expect(() => assembler.push({ type: 'PDataTf', pdvs: bad })).toThrow(MessageAssemblyError);
    expect(() =>
      new MessageAssembler(
        (id) => id === 1,
        () => () => {},
      ).push({ type: 'PDataTf', pdvs: bad }),
    ).toThrow(message);
  });

  it('hands over a request whose command lacks a required field, with the problem, so it can be answered', () => {
    const assembler = new MessageAssembler(
      () => true,
      () => () => {},
    );
    const bad = encodeCommand({ ...store, affectedSopInstanceUid: undefined } as unknown as Command);
    const [message] = assembler.push({ type: 'PDataTf', pdvs: [{ presentationContextId: 1, command: true, last: true, value: bad }] });
    expect(message!.problem?.message).toBe('C-STORE-RQ lacks affectedSopInstanceUid');
    expect(message!.dataSet).toBeDefined();
  });
});
