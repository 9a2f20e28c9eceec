// The Node peer of the store benchmark, dcmjs-dimse, as a process of its own so that its memory
// is measured apart:
//   node dcmjs-peer.mjs server PORT        a storage SCP that reads and drops every data set
//   node dcmjs-peer.mjs client PORT FILE... C-STORE of the files over one association; prints
//                                           one JSON line with the outcome, exit code 0 only
//                                           when every file was stored.
// Both run with dcmjs-dimse's defaults (its 256 KiB maximum PDU among them) except logging.
import { Writable } from 'node:stream';
import dcmjsDimse from 'dcmjs-dimse';

const { Client, Dataset, Server, Scp, log } = dcmjsDimse;
const { CEchoResponse, CStoreResponse } = dcmjsDimse.responses;
const { CStoreRequest } = dcmjsDimse.requests;
const { PresentationContextResult, Status, TransferSyntax } = dcmjsDimse.constants;

log.setLevel('error');

const [mode, portText, ...files] = process.argv.slice(2);
const port = Number(portText);
if (!Number.isInteger(port) || port < 1 || port > 65535) throw new Error(`dcmjs-peer: bad port ${portText}`);

/** Accepts every proposed context in an uncompressed syntax and drops what it receives, as `storescp --ignore` does. */
class DiscardingScp extends Scp {
  associationRequested(association) {
    for (const { id } of association.getPresentationContexts()) {
      const context = association.getPresentationContext(id);
      const syntaxes = context.getTransferSyntaxUids();
      const accepted = [TransferSyntax.ExplicitVRLittleEndian, TransferSyntax.ImplicitVRLittleEndian].find((ts) => syntaxes.includes(ts));
      if (accepted) context.setResult(PresentationContextResult.Accept, accepted);
      else context.setResult(PresentationContextResult.RejectTransferSyntaxesNotSupported);
    }
    this.sendAssociationAccept();
  }

  // dcmjs-dimse gathers a data set in memory by default; these two hooks make it stream to nowhere.
  createStoreWritableStream() {
    return new Writable({ write: (_chunk, _encoding, done) => done() });
  }

  createDatasetFromStoreWritableStream(_writable, _context, callback) {
    callback(new Dataset({}));
  }

  cEchoRequest(request, callback) {
    const response = CEchoResponse.fromRequest(request);
    response.setStatus(Status.Success);
    callback(response);
  }

  cStoreRequest(request, callback) {
    const response = CStoreResponse.fromRequest(request);
    response.setStatus(Status.Success);
    callback(response);
  }

  associationReleaseRequested() {
    this.sendAssociationReleaseResponse();
  }
}

if (mode === 'server') {
  const server = new Server(DiscardingScp);
  server.on('networkError', (e) => console.error(`dcmjs-dimse server: ${e.message}`));
  server.listen(port);
  const stop = () => {
    server.close();
    process.exit(0);
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
} else if (mode === 'client') {
  if (files.length === 0) throw new Error('dcmjs-peer client: no files');
  const client = new Client();
  let stored = 0;
  let failed = 0;
  let networkError;
  for (const file of files) {
    const request = new CStoreRequest(file);
    request.on('response', (response) => {
      if (response.getStatus() === Status.Success) stored++;
      else failed++;
    });
    client.addRequest(request);
  }
  client.on('networkError', (e) => {
    networkError = e.message;
  });
  client.on('closed', () => {
    const ok = stored === files.length && networkError === undefined;
    console.log(JSON.stringify({ stored, failed, files: files.length, ...(networkError ? { error: networkError } : {}) }));
    process.exit(ok ? 0 : 1);
  });
  client.send('127.0.0.1', port, 'DCMJS-DIMSE', 'ANY-SCP');
} else {
  throw new Error(`dcmjs-peer: mode must be server or client, not ${mode}`);
}
