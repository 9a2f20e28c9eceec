// A dimse-rx Verification SCP as a library in a running process, allowing WINDOW operations at
// once either way; prints "listening on 127.0.0.1:PORT" once it accepts connections.
//   node echo-scp.mjs WINDOW
import { scp } from '../../packages/dimse/dist/index.js';

const window = Number(process.argv[2] ?? 1);
scp({
  port: 0,
  abstractSyntaxes: { '1.2.840.10008.1.1': ['1.2.840.10008.1.2'] },
  asynchronousOperationsWindow: { maxOperationsInvoked: window, maxOperationsPerformed: window },
  onListening: ({ host, port }) => console.log(`listening on ${host}:${port}`),
}).subscribe();
