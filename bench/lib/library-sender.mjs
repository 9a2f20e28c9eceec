// dimse-rx as a library in a process that keeps running, as a service uses it: one association,
// the same files stored RUNS times over it; prints one JSON line with each run's seconds.
//   node library-sender.mjs PORT RUNS FILE...
import { lastValueFrom, tap } from 'rxjs';
import { associate } from '../../packages/association/dist/index.js';
import { readPart10HeaderSync, storageContexts, storeAll } from '../../packages/dimse/dist/index.js';

const [portText, runsText, ...files] = process.argv.slice(2);
const headers = files.map((file) => readPart10HeaderSync(file));
const association = await new Promise((resolve, reject) =>
  associate({
    host: '127.0.0.1',
    port: Number(portText),
    callingAeTitle: 'DIMSE-RX',
    calledAeTitle: 'ANY-SCP',
    presentationContexts: storageContexts(
      headers.map((h) => ({ sopClassUid: h.meta.mediaStorageSopClassUid, transferSyntaxUid: h.meta.transferSyntaxUid })),
    ),
  }).subscribe({ next: resolve, error: reject }),
);
const seconds = [];
let stored = 0;
for (let run = 0; run < Number(runsText); run++) {
  const started = performance.now();
  await lastValueFrom(
    storeAll(association, files).pipe(
      tap((event) => {
        if (event.type === 'response' && event.status.kind === 'success') stored++;
      }),
    ),
    { defaultValue: undefined },
  );
  seconds.push((performance.now() - started) / 1000);
}
await lastValueFrom(association.release(), { defaultValue: undefined });
console.log(JSON.stringify({ seconds, stored, expected: files.length * Number(runsText) }));
