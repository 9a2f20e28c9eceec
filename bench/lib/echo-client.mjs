// C-ECHO round trips from dimse-rx as a library in a running process: one association, COUNT
// echoes with WINDOW of them outstanding at once (the window is proposed when it is not 1);
// prints one JSON line with the seconds the echoes took (the association's set-up not counted).
//   node echo-client.mjs PORT COUNT WINDOW
import { lastValueFrom } from 'rxjs';
import { associate } from '../../packages/association/dist/index.js';
import { echo } from '../../packages/dimse/dist/index.js';

const [portText, countText, windowText] = process.argv.slice(2);
const count = Number(countText);
const window = Number(windowText ?? 1);
const association = await new Promise((resolve, reject) =>
  associate({
    host: '127.0.0.1',
    port: Number(portText),
    callingAeTitle: 'DIMSE-RX',
    calledAeTitle: 'ANY-SCP',
    presentationContexts: [{ abstractSyntax: '1.2.840.10008.1.1', transferSyntaxes: ['1.2.840.10008.1.2'] }],
    ...(window === 1 ? {} : { asynchronousOperationsWindow: { maxOperationsInvoked: window, maxOperationsPerformed: window } }),
  }).subscribe({ next: resolve, error: reject }),
);
let ok = 0;
const started = performance.now();
const cpu0 = process.cpuUsage();
// WINDOW workers, each sending its next echo when its last one is answered: the library's cost,
// not that of an operator queueing COUNT pending subscriptions.
let sent = 0;
const worker = async () => {
  while (sent < count) {
    sent++;
    const status = await lastValueFrom(echo(association));
    if (status.code === 0) ok++;
  }
};
await Promise.all(Array.from({ length: window }, worker));
const seconds = (performance.now() - started) / 1000;
const cpu = process.cpuUsage(cpu0);
const negotiated = association.negotiation.asynchronousOperationsWindow;
await lastValueFrom(association.release(), { defaultValue: undefined });
console.log(
  JSON.stringify({
    seconds,
    ok,
    count,
    window: negotiated,
    cpuMicrosPerEcho: (cpu.user + cpu.system) / count,
    userMicrosPerEcho: cpu.user / count,
  }),
);
