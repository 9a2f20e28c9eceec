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

/** The data set as sent: one zero byte of padding when its length is odd. */
const padded = (bytes: Uint8Array) => Buffer.concat([bytes, new Uint8Array(bytes.length % 2)]);

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
      // Even PDVs make even PDUs: an odd maximum is filled up to one byte below it.
      expect(lengths.filter((l) => l === max - (max % 2)).length).toBeGreaterThan(0);
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
          expect(message!.data!.equals(padded(data))).toBe(true);
        },
      ),
      { numRuns: 200 },
    );
  });
});

/** What a PDV holds, for comparing fragments by hand. */
const shape = (pdu: PDataTf) =>
  pdu.pdvs.map((v) => [v.command ? 'command' : 'data', v.last, [...(v.command ? [v.value.length] : v.value)]]);

/** Chunks of the given sizes, each in an ArrayBuffer of its own (as a pool of read buffers gives them). */
function ownChunks(bytes: Uint8Array, sizes: number[]): Uint8Array[] {
  return chunksOf(bytes, sizes).map((chunk) => {
    // Placed at an odd offset inside a larger buffer, as a view of a read buffer may be.
    const buffer = new Uint8Array(chunk.length + 3);
    buffer.set(chunk, 1);
    return buffer.subarray(1, 1 + chunk.length);
  });
}

describe('even fragments (DCMTK aborts with "DIMSE: Odd Fragment Length" otherwise)', () => {
  it('carries the byte at an odd chunk end into a 2-byte fragment with the next chunk’s first byte', () => {
    const f = new Fragmenter(1, 16384);
    expect(f.command(command, true)).toEqual([]);
    const pdus = [f.data(Uint8Array.of(1, 2, 3)), f.data(Uint8Array.of(4, 5)), f.data(Uint8Array.of(6)), f.end()];
    expect(pdus.map((batch) => batch.map(shape))).toEqual([
      [],
      [
        [
          ['command', true, [command.length]],
          ['data', false, [1, 2]],
        ],
      ],
      [[['data', false, [3, 4]]]],
      [[['data', true, [5, 6]]]],
    ]);
  });

  it('pads a data set of odd length with one zero byte in its last fragment', () => {
    expect(fragment(1, command, [Uint8Array.of(1, 2), Uint8Array.of(3, 4, 5)], 16384).map(shape)).toEqual([
      [
        ['command', true, [command.length]],
        ['data', false, [1, 2]],
      ],
      [
        ['data', false, [3, 4]],
        ['data', true, [5, 0]],
      ],
    ]);
    expect(fragment(1, command, [Uint8Array.of(9)], 16384).map(shape)).toEqual([
      [
        ['command', true, [command.length]],
        ['data', true, [9, 0]],
      ],
    ]);
    // Where the last PDU is full, the padded pair goes in one of its own.
    const size = 16384 - 12 - command.length + (16384 - 6) + 1;
    const full = fragment(1, command, [bytesOf(size)], 16384);
    expect(full.map(pduLength)).toEqual([16384, 16384, 8]);
    expect(full.at(-1)!.pdvs.map((v) => [v.last, [...v.value]])).toEqual([[true, [bytesOf(size)[size - 1], 0]]]);
  });

  it('puts two PDVs at most in a P-DATA-TF, one data fragment beside the command (DCMTK 3.6.7 misreads a third)', () => {
    expect(fragment(1, command, [Uint8Array.of(1, 2, 3)], 16384).map(shape)).toEqual([
      [
        ['command', true, [command.length]],
        ['data', false, [1, 2]],
      ],
      [['data', true, [3, 0]]],
    ]);
    expect(fragment(1, command, [Uint8Array.of(1), Uint8Array.of(2, 3, 4)], 16384).map(shape)).toEqual([
      [
        ['command', true, [command.length]],
        ['data', false, [1, 2]],
      ],
      [['data', true, [3, 4]]],
    ]);
    expect(fragment(1, command, [Uint8Array.of(1, 2), Uint8Array.of(3), Uint8Array.of(4, 5, 6, 7)], 16384).map(shape)).toEqual([
      [
        ['command', true, [command.length]],
        ['data', false, [1, 2]],
      ],
      [
        ['data', false, [3, 4]],
        ['data', false, [5, 6]],
      ],
      [['data', true, [7, 0]]],
    ]);
  });

  it('rounds the room of a PDV down to even: an odd maximum of 9 sends 2-byte values, as 8 does', () => {
    for (const max of [8, 9]) {
      const pdus = fragment(1, command, [bytesOf(7)], max);
      expect(pdus.every((p) => p.pdvs.length === 1 && p.pdvs[0]!.value.length === 2)).toBe(true);
      expect(pdus.filter((p) => p.pdvs[0]!.command)).toHaveLength(command.length / 2);
      expect(Buffer.concat(pdus.filter((p) => !p.pdvs[0]!.command).map((p) => p.pdvs[0]!.value))).toEqual(padded(bytesOf(7)));
    }
  });

  it('refuses a maximum PDU length that leaves no room for 2 bytes of value', () => {
    for (const max of [1, 6, 7]) expect(() => new Fragmenter(1, max)).toThrow(RangeError);
    expect(() => new Fragmenter(1, 7)).toThrow('(8 at least)');
  });

  it('for any chunking and maximum: even values, the bytes in order (padded when odd), last flags right, no PDU over the maximum', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 4000 }),
        fc.oneof(fc.constant(0), fc.integer({ min: 8, max: 64 }), fc.integer({ min: 8, max: 3000 })),
        fc.array(fc.integer({ min: 1, max: 700 }), { minLength: 1, maxLength: 6 }),
        fc.boolean(),
        (size, max, sizes, hasDataSet) => {
          const data = bytesOf(size, size + 3);
          const original = Buffer.from(data);
          const chunks = hasDataSet ? ownChunks(data, sizes) : [];
          const f = new Fragmenter(3, max);
          // Each batch is encoded as it comes (the socket write); then the chunk before the one
          // just given is scribbled over, as the channel recycles it: no PDU may still point into it.
          const wire: Uint8Array[] = [];
          const write = (batch: PDataTf[]) => {
            for (const pdu of batch) wire.push(Buffer.from(encodePdu(pdu)));
          };
          write(f.command(command, hasDataSet));
          let previous: Uint8Array | undefined;
          const views: PDataTf[] = [];
          for (const chunk of chunks) {
            const batch = f.data(chunk);
            views.push(...batch);
            write(batch);
            previous?.fill(0xee);
            previous = chunk;
          }
          const last = f.end();
          views.push(...last);
          write(last);
          previous?.fill(0xee);

          // Values longer than a carried pair are views of the chunks, never copies.
          const buffers = new Set(chunks.map((c) => c.buffer));
          for (const pdv of views.flatMap((p) => p.pdvs))
            if (!pdv.command && pdv.value.length > 2) expect(buffers.has(pdv.value.buffer)).toBe(true);

          const received = wire.map((bytes) => decodePdu(bytes) as PDataTf);
          const limit = max === 0 ? (1 << 20) + 6 : max;
          for (const pdu of received) {
            expect(pduLength(pdu)).toBeLessThanOrEqual(limit);
            expect(pdu.pdvs.length).toBeGreaterThan(0);
            expect(pdu.pdvs.length).toBeLessThanOrEqual(2);
          }
          const pdvs = received.flatMap((p) => p.pdvs);
          expect(pdvs.every((v) => v.value.length % 2 === 0 && v.presentationContextId === 3)).toBe(true);
          const commands = pdvs.filter((v) => v.command);
          const dataPdvs = pdvs.filter((v) => !v.command);
          // Command fragments first, then data fragments; each kind flagged last once, at its end.
          expect(pdvs.slice(0, commands.length).every((v) => v.command)).toBe(true);
          expect(commands.map((v) => v.last)).toEqual([...new Array(commands.length - 1).fill(false), true]);
          expect(Buffer.concat(commands.map((v) => v.value)).equals(command)).toBe(true);
          if (!hasDataSet) {
            expect(dataPdvs).toEqual([]);
            return;
          }
          expect(dataPdvs.map((v) => v.last)).toEqual([...new Array(dataPdvs.length - 1).fill(false), true]);
          expect(Buffer.concat(dataPdvs.map((v) => v.value)).equals(padded(original))).toBe(true);
        },
      ),
      { numRuns: 500 },
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
