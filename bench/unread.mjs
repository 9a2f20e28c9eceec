// A peer that sends C-ECHO-RQs and never reads the answers (issue 8, defect 8): the receiver's
// peak resident set size while it is flooded, dimse-rx storescp against DCMTK storescp in the same
// run. The flood is one raw socket; when the receiver stops reading, the flood's writes wait in
// the client, and the receiver's memory must not follow the number of requests sent.

import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { Child, freePort } from './lib/process.mjs';

const REQUESTS = Number(process.env.BENCH_UNREAD ?? 600_000);
const CLI = fileURLToPath(new URL('../node_modules/.bin/dimse-rx', import.meta.url));
const VERIFICATION = '1.2.840.10008.1.1';
const IMPLICIT = '1.2.840.10008.1.2';

const { encodePdu } = await import('@dimse-rx/pdu');
const { encodeCommand, CommandField, NO_DATA_SET } = await import('@dimse-rx/dimse');

const associateRq = encodePdu({
  type: 'AssociateRq',
  protocolVersion: 1,
  calledAeTitle: 'ANY-SCP',
  callingAeTitle: 'FLOOD',
  applicationContextName: '1.2.840.10008.3.1.1.1',
  presentationContexts: [{ id: 1, abstractSyntax: VERIFICATION, transferSyntaxes: [IMPLICIT] }],
  userInformation: [
    { type: 'MaximumLength', maximumLength: 16384 },
    { type: 'ImplementationClassUid', uid: '1.2.826.0.1.3680043.10.1055.9' },
  ],
});
const echoRq = (messageId) =>
  encodePdu({
    type: 'PDataTf',
    pdvs: [
      {
        presentationContextId: 1,
        command: true,
        last: true,
        value: encodeCommand({
          commandField: CommandField.CEchoRq,
          messageId,
          affectedSopClassUid: VERIFICATION,
          commandDataSetType: NO_DATA_SET,
        }),
      },
    ],
  });

/** Floods `port`; resolves once the receiver has stopped taking requests (its peak RSS is then read). */
async function flood(port, child) {
  const socket = connect({ host: '127.0.0.1', port });
  socket.on('error', () => undefined);
  await new Promise((resolve) => socket.once('connect', resolve));
  socket.write(associateRq);
  // The A-ASSOCIATE-AC is the only thing read; then the socket is paused for good.
  await new Promise((resolve) => socket.once('data', resolve));
  socket.pause();
  const started = performance.now();
  const batch = [];
  for (let i = 0; i < REQUESTS; i++) {
    batch.push(echoRq((i % 0xffff) + 1));
    if (batch.length === 1000 || i === REQUESTS - 1) socket.write(Buffer.concat(batch.splice(0)));
  }
  const total = socket.writableLength;
  // Settled when the bytes still unsent in the client stop going down.
  let last = -1;
  for (;;) {
    await sleep(500);
    child.sample();
    if (socket.writableLength === last || socket.writableLength === 0) break;
    last = socket.writableLength;
  }
  const unsent = socket.writableLength;
  socket.destroy();
  return { seconds: (performance.now() - started) / 1000, sentMiB: total / 2 ** 20, unsentMiB: unsent / 2 ** 20 };
}

const hasDcmtk = spawnSync('storescp', ['--version']).status === 0;
const out = mkdtempSync(join(tmpdir(), 'bench-unread-'));
const rows = [];
try {
  const receivers = [
    ...(hasDcmtk
      ? [
          {
            name: 'DCMTK storescp',
            start: async () => {
              const port = await freePort();
              const child = new Child('storescp', 'storescp', ['-od', out, String(port)]);
              await child.waitForPort(port);
              return { child, port };
            },
          },
        ]
      : []),
    {
      name: 'dimse-rx storescp',
      start: async () => {
        const child = new Child('dimse-rx storescp', CLI, ['storescp', '--port', '0', '--out', out]);
        const [, port] = await child.waitForOutput(/listening on 127\.0\.0\.1:(\d+)/);
        return { child, port: Number(port) };
      },
    },
  ];
  if (!hasDcmtk) console.error('unread.mjs: DCMTK storescp not found: dimse-rx alone');
  for (const receiver of receivers) {
    const { child, port } = await receiver.start();
    const idle = child.sample();
    const result = await flood(port, child);
    await child.stop();
    rows.push({ receiver: receiver.name, idleMiB: idle / 1024, peakMiB: child.peakKiB / 1024, ...result });
  }
} finally {
  rmSync(out, { recursive: true, force: true });
}

console.log(`\n${REQUESTS} C-ECHO-RQs from a peer that never reads the answers`);
console.log('receiver                 peak RSS   at start   requests left unread in the client');
for (const r of rows)
  console.log(
    `${r.receiver.padEnd(24)} ${r.peakMiB.toFixed(1).padStart(6)} MiB ${r.idleMiB.toFixed(1).padStart(6)} MiB   ${r.unsentMiB.toFixed(1)} of ${r.sentMiB.toFixed(1)} MiB`,
  );
const ours = rows.find((r) => r.receiver.startsWith('dimse-rx'));
const dcmtk = rows.find((r) => r.receiver.startsWith('DCMTK'));
if (ours && dcmtk) console.log(`ratio (dimse-rx / DCMTK peak RSS): ${(ours.peakMiB / dcmtk.peakMiB).toFixed(2)}`);
