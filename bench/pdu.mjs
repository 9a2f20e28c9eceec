// PDU codec throughput: framing and encoding P-DATA-TF, and A-ASSOCIATE-RQ with 100 contexts.
// Run after a build: `npm run bench` (or `node bench/pdu.mjs`). Prints one table.
import { performance } from 'node:perf_hooks';
import { decodePdu, encodePdu, encodePduParts, PduFramer } from '@dimse-rx/pdu';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 1.5);

/** Runs `fn` repeatedly for about SECONDS after a warm-up; returns operations per second. */
function rate(fn) {
  const until = performance.now() + 200;
  while (performance.now() < until) fn();
  let ops = 0;
  const start = performance.now();
  let now = start;
  while (now - start < SECONDS * 1000) {
    for (let i = 0; i < 16; i++) fn();
    ops += 16;
    now = performance.now();
  }
  return (ops * 1000) / (now - start);
}

/** A stream of P-DATA-TF PDUs, each one PDV of `pdvSize` bytes, as a socket delivers it in 64 KiB chunks. */
function pDataStream(pdvSize, totalBytes) {
  const one = encodePdu({
    type: 'PDataTf',
    pdvs: [{ presentationContextId: 1, command: false, last: false, value: Buffer.alloc(pdvSize, 0x5a) }],
  });
  const count = Math.ceil(totalBytes / one.length);
  const stream = Buffer.concat(Array.from({ length: count }, () => one));
  const chunks = [];
  for (let o = 0; o < stream.length; o += 65536) chunks.push(stream.subarray(o, o + 65536));
  return { one, stream, chunks, count };
}

const rows = [];
const gbps = (bytesPerSecond) => (bytesPerSecond / 1e9).toFixed(2);

// Reference for the same run: copying the same bytes once (what a framer that copies would pay at least).
const ref = pDataStream(16384, 32 << 20);
const copyRate = rate(() => Buffer.from(ref.stream)) * ref.stream.length;
rows.push(['memcpy of the stream (reference)', `${gbps(copyRate)} GB/s`, '1.00']);

for (const pdvSize of [16384, 65536]) {
  const s = pDataStream(pdvSize, 32 << 20);
  const framer = new PduFramer({ maxPduLength: 0 });
  const frameRate =
    rate(() => {
      let n = 0;
      for (const chunk of s.chunks) n += framer.push(chunk).length;
      if (n !== s.count) throw new Error(`framed ${n} PDUs of ${s.count}`);
    }) * s.stream.length;
  rows.push([`frame P-DATA-TF, ${pdvSize / 1024} KiB PDVs, 64 KiB chunks`, `${gbps(frameRate)} GB/s`, (frameRate / copyRate).toFixed(2)]);

  const decodeRate = rate(() => decodePdu(s.one)) * s.one.length;
  rows.push([`decode one P-DATA-TF, ${pdvSize / 1024} KiB PDV`, `${gbps(decodeRate)} GB/s`, (decodeRate / copyRate).toFixed(2)]);

  const pdu = decodePdu(s.one);
  const encodeRate = rate(() => encodePdu(pdu)) * s.one.length;
  rows.push([`encode P-DATA-TF, ${pdvSize / 1024} KiB PDV`, `${gbps(encodeRate)} GB/s`, (encodeRate / copyRate).toFixed(2)]);
  // What the sender uses: header bytes and a view of the value, for a vectored write.
  const partsRate = rate(() => encodePduParts(pdu)) * s.one.length;
  rows.push([`encode P-DATA-TF in parts, ${pdvSize / 1024} KiB PDV`, `${gbps(partsRate)} GB/s`, (partsRate / copyRate).toFixed(2)]);
}

const rq = {
  type: 'AssociateRq',
  protocolVersion: 1,
  calledAeTitle: 'STORESCP',
  callingAeTitle: 'DIMSE-RX',
  applicationContextName: '1.2.840.10008.3.1.1.1',
  presentationContexts: Array.from({ length: 100 }, (_, i) => ({
    id: 2 * i + 1,
    abstractSyntax: `1.2.840.10008.5.1.4.1.1.${i + 1}`,
    transferSyntaxes: ['1.2.840.10008.1.2.1', '1.2.840.10008.1.2', '1.2.840.10008.1.2.2'],
  })),
  userInformation: [
    { type: 'MaximumLength', maximumLength: 16384 },
    { type: 'ImplementationClassUid', uid: '1.2.826.0.1.3680043.10.1519' },
    { type: 'ImplementationVersionName', name: 'DIMSE_RX_010' },
  ],
};
const rqBytes = encodePdu(rq);
rows.push([`decode A-ASSOCIATE-RQ, 100 contexts (${rqBytes.length} bytes)`, `${Math.round(rate(() => decodePdu(rqBytes)))} PDUs/s`, '']);
rows.push([`encode A-ASSOCIATE-RQ, 100 contexts`, `${Math.round(rate(() => encodePdu(rq)))} PDUs/s`, '']);

const width = Math.max(...rows.map((r) => r[0].length));
console.log(`@dimse-rx/pdu, node ${process.version}, ${SECONDS} s per figure`);
console.log(`${'case'.padEnd(width)}  ${'rate'.padStart(16)}  vs memcpy`);
for (const [name, value, ratio] of rows) console.log(`${name.padEnd(width)}  ${value.padStart(16)}  ${ratio.padStart(9)}`);
