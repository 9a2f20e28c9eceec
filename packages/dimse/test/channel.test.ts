/**
 * The DIMSE channel of scp() facing a peer that breaks the rules. The peer is an association from
 * associate() with no DIMSE channel of its own: it sends P-DATA-TF built by hand (fragment() of
 * encodeCommand() or of raw bytes) and reads what comes back with a MessageAssembler. What is
 * asserted: the response commands, the A-ABORT and the Upper Layer states on both sides, and that
 * the server goes on serving its other associations.
 */
import { type Association, AssociationAbortedError, associate, type ProposedContext, type StateName, serve } from '@dimse-rx/association';
import { generateSampleStudy } from '@dimse-rx/dataset/sample';
import {
  assembleMessages,
  type Command,
  CommandField,
  DATA_SET_PRESENT,
  type DimseMessage,
  DimseProtocolError,
  dimse,
  discardSink,
  echo,
  encodeCommand,
  fragment,
  isResponse,
  MessageAssembler,
  MessageAssemblyError,
  NO_DATA_SET,
  Priority,
  type ScpOptions,
  type StoreRequestInfo,
  scp,
  store,
  TransferSyntax,
  VERIFICATION_SOP_CLASS,
} from '@dimse-rx/dimse';
import fc from 'fast-check';
import { firstValueFrom, from, lastValueFrom, ReplaySubject, skip, timeout, toArray } from 'rxjs';
import { afterEach, describe, expect, it } from 'vitest';
import { Cleanup, wait, within } from '../../association/test/support.js';

const ILE = TransferSyntax.ImplicitVrLittleEndian;
const CT = '1.2.840.10008.5.1.4.1.1.2';
const UNKNOWN_SOP_CLASS = '1.2.3.4.5.6.7.8.9';
const VERIFICATION: ProposedContext = { abstractSyntax: VERIFICATION_SOP_CLASS, transferSyntaxes: [ILE] };

const cleanup = new Cleanup();
afterEach(() => cleanup.run());

/** scp() on a free port; the associations it emitted, by calling AE title. */
async function startScp(options: Omit<ScpOptions, 'port' | 'onListening'>) {
  const port = new ReplaySubject<number>(1);
  const emitted = new ReplaySubject<Association>();
  const subscription = scp({ ...options, port: 0, onListening: (l) => port.next(l.port) }).subscribe((a) => emitted.next(a));
  cleanup.add(() => subscription.unsubscribe());
  return {
    port: await firstValueFrom(port.pipe(timeout(2_000))),
    /** The server's side of the association opened by `callingAeTitle`. */
    association: (callingAeTitle: string) =>
      new Promise<Association>((resolve, reject) => {
        const s = emitted.subscribe((a) => {
          if (a.negotiation.callingAeTitle === callingAeTitle) resolve(a);
        });
        setTimeout(() => {
          s.unsubscribe();
          reject(new Error(`No association from ${callingAeTitle}`));
        }, 2_000);
      }),
  };
}

function open(
  port: number,
  callingAeTitle: string,
  presentationContexts: readonly ProposedContext[] = [VERIFICATION],
): Promise<Association> {
  return new Promise<Association>((resolve, reject) => {
    const subscription = associate({
      host: '127.0.0.1',
      port,
      callingAeTitle,
      calledAeTitle: 'CHANNEL-SCP',
      presentationContexts,
    }).subscribe({
      next: resolve,
      error: reject,
    });
    cleanup.add(() => subscription.unsubscribe());
  });
}

/** scp() accepting Verification and CT, whose storage handler records each request and answers success. */
async function startRecordingScp() {
  const calls: StoreRequestInfo[] = [];
  const server = await startScp({
    abstractSyntaxes: { [VERIFICATION_SOP_CLASS]: [ILE], [CT]: [ILE] },
    store: (info) => {
      calls.push(info);
      return [0];
    },
  });
  return { server, calls };
}

/** Every state from now on, once the association reached Sta1. */
const statesUntilEnd = (association: Association): Promise<StateName[]> =>
  within(lastValueFrom(association.states.pipe(toArray())), 5_000, 'the end of the association');

/** A peer without a DIMSE channel: sends messages built by hand and reads the messages it receives. */
class RawDimse {
  readonly association: Association;
  readonly #messages = new ReplaySubject<DimseMessage>();
  readonly received: DimseMessage[] = [];
  #read = 0;

  constructor(association: Association) {
    this.association = association;
    const assembler = new MessageAssembler(
      () => true,
      () => () => {},
    );
    association.pData.subscribe((pdu) => {
      for (const message of assembler.push(pdu)) {
        this.received.push(message);
        this.#messages.next(message);
      }
    });
  }

  /** Sends a command set (a Command, or any bytes as the command) and its data set, cut to the peer's maximum length. */
  async send(presentationContextId: number, command: Command | Uint8Array, dataSet?: readonly Uint8Array[]): Promise<void> {
    const bytes = command instanceof Uint8Array ? command : encodeCommand(command);
    for (const pdu of fragment(presentationContextId, bytes, dataSet, this.association.negotiation.peerMaxPduLength)) {
      await lastValueFrom(this.association.send(pdu), { defaultValue: undefined });
    }
  }

  /** The next message received. */
  next(ms = 3_000): Promise<DimseMessage> {
    const index = this.#read++;
    return firstValueFrom(this.#messages.pipe(skip(index), timeout(ms)));
  }
}

const storeRq = (messageId: number, sopInstanceUid: string): Command => ({
  commandField: CommandField.CStoreRq,
  messageId,
  affectedSopClassUid: CT,
  affectedSopInstanceUid: sopInstanceUid,
  priority: Priority.Medium,
  commandDataSetType: DATA_SET_PRESENT,
});

const echoRq = (messageId: number): Command => ({
  commandField: CommandField.CEchoRq,
  messageId,
  affectedSopClassUid: VERIFICATION_SOP_CLASS,
  commandDataSetType: NO_DATA_SET,
});

/** The end of an association the server aborted: A-ABORT from the service user (the DIMSE layer), seen by the peer. */
async function expectAbortedByServer(
  peer: Association,
  peerStates: Promise<StateName[]>,
  serverStates: Promise<StateName[]>,
): Promise<void> {
  const error = await within(firstValueFrom(peer.finished), 3_000, 'the peer association');
  expect(error).toBeInstanceOf(AssociationAbortedError);
  expect((error as AssociationAbortedError).source).toBe(0);
  // The peer got A-ABORT in Sta6 (AA-3); the server sent it (AA-1, Sta13) and closed after.
  expect(await peerStates).toEqual(['Sta6', 'Sta1']);
  expect(await serverStates).toEqual(['Sta6', 'Sta13', 'Sta1']);
}

/** The server still serves: C-ECHO on an association opened before and on one opened now. */
async function expectServing(port: number, bystander: Association): Promise<void> {
  expect(await firstValueFrom(echo(bystander))).toEqual({ code: 0, kind: 'success', meaning: 'success' });
  const fresh = await open(port, 'FRESH');
  expect(await firstValueFrom(echo(fresh))).toEqual({ code: 0, kind: 'success', meaning: 'success' });
  expect(bystander.state).toBe('Sta6');
  await lastValueFrom(fresh.release(), { defaultValue: undefined });
  await lastValueFrom(bystander.release(), { defaultValue: undefined });
}

describe('DIMSE channel: protocol errors end the association', () => {
  it('aborts when a response answers no outstanding request, and goes on serving other associations', async () => {
    const server = await startScp({ abstractSyntaxes: { [VERIFICATION_SOP_CLASS]: [ILE] } });
    const bystander = await open(server.port, 'BYSTANDER');
    const rogue = new RawDimse(await open(server.port, 'ROGUE'));
    const serverStates = statesUntilEnd(await server.association('ROGUE'));
    const states = statesUntilEnd(rogue.association);

    // A valid C-ECHO-RSP, to a request that was never sent.
    await rogue.send(1, {
      commandField: CommandField.CEchoRsp,
      messageIdBeingRespondedTo: 42,
      affectedSopClassUid: VERIFICATION_SOP_CLASS,
      status: 0,
      commandDataSetType: NO_DATA_SET,
    });
    await expectAbortedByServer(rogue.association, states, serverStates);
    expect(rogue.received).toEqual([]);
    await expectServing(server.port, bystander);
  });

  it.each([
    ['bytes that are not a command set', Buffer.from('not a command set, not even close')],
    ['an element outside group 0000', Buffer.from([0x08, 0x00, 0x16, 0x00, 0x06, 0x00, 0x00, 0x00, 0x31, 0x2e, 0x32, 0x2e, 0x33, 0x00])],
    ['a command cut short', encodeCommand(echoRq(1)).subarray(0, 30)],
  ])('aborts when the command is %s, as no response can name its request', async (_what, garbage) => {
    const server = await startScp({ abstractSyntaxes: { [VERIFICATION_SOP_CLASS]: [ILE] } });
    const bystander = await open(server.port, 'BYSTANDER');
    const rogue = new RawDimse(await open(server.port, 'ROGUE'));
    const serverStates = statesUntilEnd(await server.association('ROGUE'));
    const states = statesUntilEnd(rogue.association);

    await rogue.send(1, garbage);
    await expectAbortedByServer(rogue.association, states, serverStates);
    expect(rogue.received).toEqual([]);
    await expectServing(server.port, bystander);
  });

  it.each([
    ['rejected in negotiation', 3],
    ['never proposed', 99],
  ])('aborts when a PDV comes on a presentation context %s', async (_what, id) => {
    const server = await startScp({ abstractSyntaxes: { [VERIFICATION_SOP_CLASS]: [ILE] } });
    const bystander = await open(server.port, 'BYSTANDER');
    const rogue = new RawDimse(
      await open(server.port, 'ROGUE', [VERIFICATION, { abstractSyntax: UNKNOWN_SOP_CLASS, transferSyntaxes: [ILE] }]),
    );
    expect(rogue.association.negotiation.presentationContexts.map((pc) => [pc.id, pc.accepted])).toEqual([
      [1, true],
      [3, false],
    ]);
    const serverStates = statesUntilEnd(await server.association('ROGUE'));
    const states = statesUntilEnd(rogue.association);

    // A well-formed C-ECHO-RQ, on the wrong context.
    await rogue.send(id, echoRq(1));
    await expectAbortedByServer(rogue.association, states, serverStates);
    expect(rogue.received).toEqual([]);
    await expectServing(server.port, bystander);
  });

  it('aborts when a request has no Message ID, as no response could name it', async () => {
    const server = await startScp({ abstractSyntaxes: { [VERIFICATION_SOP_CLASS]: [ILE] } });
    const bystander = await open(server.port, 'BYSTANDER');
    const rogue = new RawDimse(await open(server.port, 'ROGUE'));
    const serverStates = statesUntilEnd(await server.association('ROGUE'));
    const states = statesUntilEnd(rogue.association);

    await rogue.send(1, {
      commandField: CommandField.CEchoRq,
      affectedSopClassUid: VERIFICATION_SOP_CLASS,
      commandDataSetType: NO_DATA_SET,
    });
    await expectAbortedByServer(rogue.association, states, serverStates);
    expect(rogue.received).toEqual([]);
    await expectServing(server.port, bystander);
  });
});

describe('DIMSE channel: requests it answers with a status', () => {
  it('answers a C-STORE-RQ lacking a required field with 0x0212 once its data set is in, without calling the handler', async () => {
    const { server, calls } = await startRecordingScp();
    const rogue = new RawDimse(await open(server.port, 'ROGUE', [VERIFICATION, { abstractSyntax: CT, transferSyntaxes: [ILE] }]));
    const ct = rogue.association.acceptedContexts.find((pc) => pc.abstractSyntax === CT)!.id;
    const command = encodeCommand({
      commandField: CommandField.CStoreRq,
      messageId: 5,
      affectedSopClassUid: CT,
      priority: Priority.Medium,
      commandDataSetType: DATA_SET_PRESENT,
    });
    // The data set goes in two parts by hand: the answer must wait for its last fragment.
    const dataSet = Buffer.alloc(100_000, 0x5a);
    const pdus = fragment(ct, command, [dataSet], rogue.association.negotiation.peerMaxPduLength);
    expect(pdus.length).toBeGreaterThan(4);
    const half = Math.floor(pdus.length / 2);
    for (const pdu of pdus.slice(0, half)) await lastValueFrom(rogue.association.send(pdu), { defaultValue: undefined });
    await wait(200);
    expect(rogue.received).toEqual([]);
    for (const pdu of pdus.slice(half)) await lastValueFrom(rogue.association.send(pdu), { defaultValue: undefined });

    const response = await rogue.next();
    expect(response.presentationContextId).toBe(ct);
    expect(response.dataSet).toBeUndefined();
    expect(response.command).toEqual({
      commandField: CommandField.CStoreRsp,
      messageIdBeingRespondedTo: 5,
      commandDataSetType: NO_DATA_SET,
      status: 0x0212,
      errorComment: 'C-STORE-RQ lacks affectedSopInstanceUid',
    });
    expect(calls).toEqual([]);

    // The association goes on.
    await rogue.send(1, echoRq(6));
    expect((await rogue.next()).command).toMatchObject({ commandField: CommandField.CEchoRsp, messageIdBeingRespondedTo: 6, status: 0 });
    expect(rogue.association.state).toBe('Sta6');
    await lastValueFrom(rogue.association.release(), { defaultValue: undefined });
  });

  it("answers C-ECHO by itself, requests nobody handles with the command table's status (0x0122 DIMSE-C, 0x0118 DIMSE-N, 0x0211 unknown), ignoring a stray C-CANCEL", async () => {
    const server = await startScp({ abstractSyntaxes: { [VERIFICATION_SOP_CLASS]: [ILE], [CT]: [ILE] } });
    const rogue = new RawDimse(await open(server.port, 'ROGUE', [VERIFICATION, { abstractSyntax: CT, transferSyntaxes: [ILE] }]));
    const ct = rogue.association.acceptedContexts.find((pc) => pc.abstractSyntax === CT)!.id;

    await rogue.send(1, echoRq(7));
    const echoed = await rogue.next();
    expect(echoed.presentationContextId).toBe(1);
    expect(echoed.command).toEqual({
      commandField: CommandField.CEchoRsp,
      messageIdBeingRespondedTo: 7,
      commandDataSetType: NO_DATA_SET,
      status: 0,
    });

    // C-CANCEL of nothing in progress: no answer (PS3.7 9.3.2.3 has none), and nothing breaks.
    await rogue.send(1, { commandField: CommandField.CCancelRq, messageIdBeingRespondedTo: 99, commandDataSetType: NO_DATA_SET });

    await rogue.send(1, {
      commandField: CommandField.NActionRq,
      messageId: 8,
      requestedSopClassUid: VERIFICATION_SOP_CLASS,
      requestedSopInstanceUid: '1.2.3.4',
      actionTypeId: 1,
      commandDataSetType: NO_DATA_SET,
    });
    expect((await rogue.next()).command).toEqual({
      commandField: CommandField.NActionRsp,
      messageIdBeingRespondedTo: 8,
      commandDataSetType: NO_DATA_SET,
      status: 0x0118,
      errorComment: 'No N-ACTION service for this SOP class',
    });

    // A command field PS3.7 does not define.
    await rogue.send(1, { commandField: 0x0055, messageId: 9, commandDataSetType: NO_DATA_SET });
    expect((await rogue.next()).command).toEqual({
      commandField: 0x8055,
      messageIdBeingRespondedTo: 9,
      commandDataSetType: NO_DATA_SET,
      status: 0x0211,
      errorComment: 'Unrecognized command 0x0055',
    });

    // C-STORE on an SCP without a storage handler: SOP class not supported, after the data set.
    await rogue.send(ct, storeRq(10, '1.2.3.4.10'), [Buffer.alloc(40_000, 1)]);
    expect((await rogue.next()).command).toEqual({
      commandField: CommandField.CStoreRsp,
      messageIdBeingRespondedTo: 10,
      commandDataSetType: NO_DATA_SET,
      status: 0x0122,
      errorComment: 'No C-STORE service for this SOP class',
    });

    // C-FIND: DIMSE-C too, the same answer once its identifier is read.
    await rogue.send(
      1,
      {
        commandField: CommandField.CFindRq,
        messageId: 12,
        affectedSopClassUid: VERIFICATION_SOP_CLASS,
        priority: 0,
        commandDataSetType: 1,
      },
      [Buffer.alloc(8)],
    );
    expect((await rogue.next()).command).toMatchObject({
      commandField: CommandField.CFindRsp,
      messageIdBeingRespondedTo: 12,
      status: 0x0122,
    });

    await rogue.send(1, echoRq(11));
    expect((await rogue.next()).command).toMatchObject({ messageIdBeingRespondedTo: 11, status: 0 });
    // One answer per request, none for the C-CANCEL.
    expect(rogue.received.map((m) => m.command.messageIdBeingRespondedTo)).toEqual([7, 8, 9, 10, 12, 11]);
    expect(rogue.association.state).toBe('Sta6');
    await lastValueFrom(rogue.association.release(), { defaultValue: undefined });
  });
});

/** A server without a DIMSE channel (serve() alone): each association as a RawDimse that answers by hand. */
async function startRawServer() {
  const port = new ReplaySubject<number>(1);
  const peers = new ReplaySubject<RawDimse>();
  const subscription = serve({
    port: 0,
    abstractSyntaxes: { [VERIFICATION_SOP_CLASS]: [ILE] },
    onListening: (l) => port.next(l.port),
  }).subscribe((a) => peers.next(new RawDimse(a)));
  cleanup.add(() => subscription.unsubscribe());
  return {
    port: await firstValueFrom(port.pipe(timeout(2_000))),
    /** The server's side of the association number `index` (0 is the first). */
    peer: (index = 0) => firstValueFrom(peers.pipe(skip(index), timeout(2_000))),
  };
}

const echoRsp = (respondedTo: number, status?: number): Command => ({
  commandField: CommandField.CEchoRsp,
  messageIdBeingRespondedTo: respondedTo,
  affectedSopClassUid: VERIFICATION_SOP_CLASS,
  commandDataSetType: NO_DATA_SET,
  ...(status === undefined ? {} : { status }),
});

describe('DIMSE channel: responses that fail one request only', () => {
  it('does not send a request given up on before its turn came', async () => {
    const server = await startRawServer();
    const client = await open(server.port, 'CLIENT');
    const peer = await server.peer();
    // Within a window of 1 the second waits for the first; given up while it waits, it is never sent.
    const first = firstValueFrom(echo(client));
    echo(client).subscribe().unsubscribe();
    const third = firstValueFrom(echo(client));
    const rq1 = await peer.next();
    await peer.send(1, echoRsp(rq1.command.messageId!, 0));
    expect((await within(first, 3_000, 'echo')).code).toBe(0);
    const rq3 = await peer.next();
    expect(rq3.command.messageId).toBe(rq1.command.messageId! + 1);
    await peer.send(1, echoRsp(rq3.command.messageId!, 0));
    expect((await within(third, 3_000, 'echo')).code).toBe(0);
    expect(peer.received).toHaveLength(2);
    expect(client.state).toBe('Sta6');
  });

  it('fails the request with DimseProtocolError when a response has no Status, and the association goes on', async () => {
    const server = await startRawServer();
    const client = await open(server.port, 'CLIENT');
    const peer = await server.peer();
    const answered = firstValueFrom(echo(client)).then(
      (status) => ({ status }),
      (error: unknown) => ({ error }),
    );
    const rq = await peer.next();
    await peer.send(1, echoRsp(rq.command.messageId!));
    const outcome = await within(answered, 3_000, 'echo');
    expect('error' in outcome && outcome.error).toBeInstanceOf(DimseProtocolError);
    expect('error' in outcome && (outcome.error as Error).message).toMatch(/Malformed C-ECHO-RSP: C-ECHO-RSP lacks status/);
    expect(client.state).toBe('Sta6');
    // The next C-ECHO on the same association is answered properly.
    const second = firstValueFrom(echo(client));
    const rq2 = await peer.next();
    expect(rq2.command.messageId).not.toBe(rq.command.messageId);
    await peer.send(1, echoRsp(rq2.command.messageId!, 0));
    expect((await within(second, 3_000, 'second echo')).code).toBe(0);
  });

  it('drops the late response to a request given up on, instead of aborting the association', async () => {
    const server = await startRawServer();
    const client = await open(server.port, 'CLIENT');
    const peer = await server.peer();
    // Given up once sent (a timeout, a switchMap that moved on).
    const givenUp = echo(client).subscribe();
    const abandoned = await peer.next();
    givenUp.unsubscribe();
    // Within a window of 1 the given-up request keeps its place until its final response: the
    // next one is sent after the late answer to the first, which is dropped.
    const next = firstValueFrom(echo(client));
    await peer.send(1, echoRsp(abandoned.command.messageId!, 0));
    const rq = await peer.next();
    await peer.send(1, echoRsp(rq.command.messageId!, 0));
    expect((await within(next, 3_000, 'echo')).code).toBe(0);
    await wait(50);
    expect(client.state).toBe('Sta6');
    expect(peer.association.state).toBe('Sta6');
  });

  it('answers 0x0110 when a request handler throws at once, and goes on serving', async () => {
    const server = await startScp({
      abstractSyntaxes: { [VERIFICATION_SOP_CLASS]: [ILE] },
      services: [
        {
          command: CommandField.NActionRq,
          sopClasses: '*',
          handler: () => {
            throw new Error('handler bug');
          },
        },
      ],
    });
    const rogue = new RawDimse(await open(server.port, 'ROGUE'));
    await rogue.send(1, {
      commandField: CommandField.NActionRq,
      messageId: 7,
      requestedSopClassUid: VERIFICATION_SOP_CLASS,
      requestedSopInstanceUid: '1.2.3',
      actionTypeId: 1,
      commandDataSetType: NO_DATA_SET,
    });
    const response = await rogue.next();
    expect(response.command).toMatchObject({ commandField: CommandField.NActionRsp, messageIdBeingRespondedTo: 7, status: 0x0110 });
    expect(response.command.errorComment).toBe('handler bug');
    expect(await firstValueFrom(echo(rogue.association))).toMatchObject({ code: 0 });
  });
});

describe('assembleMessages()', () => {
  it('turns P-DATA-TF into messages whose data sets stream in order, and errors on a rule broken', async () => {
    const data = Buffer.alloc(5000);
    for (let i = 0; i < data.length; i++) data[i] = i % 253;
    const command = encodeCommand(storeRq(3, '1.2.3.4'));
    const pdus = fragment(1, command, [data.subarray(0, 3000), data.subarray(3000)], 1024);
    const messages = await lastValueFrom(from(pdus).pipe(assembleMessages(), toArray()));
    expect(messages).toHaveLength(1);
    expect(messages[0]!.command).toMatchObject({ commandField: CommandField.CStoreRq, messageId: 3 });
    expect(Buffer.compare(await lastValueFrom(messages[0]!.dataSet!.collect()), data)).toBe(0);

    const refused = lastValueFrom(from(pdus).pipe(assembleMessages({ accepted: (id) => id === 3 }), toArray()));
    await expect(refused).rejects.toBeInstanceOf(MessageAssemblyError);
  });
});

describe('DIMSE channel: responses of the wrong shape', () => {
  const CT_CONTEXT: ProposedContext = { abstractSyntax: CT, transferSyntaxes: [ILE] };

  /** serve() accepting Verification and CT, and the client's association to it. */
  async function rawPair() {
    const port = new ReplaySubject<number>(1);
    const peers = new ReplaySubject<RawDimse>();
    const subscription = serve({
      port: 0,
      abstractSyntaxes: { [VERIFICATION_SOP_CLASS]: [ILE], [CT]: [ILE] },
      onListening: (l) => port.next(l.port),
    }).subscribe((a) => peers.next(new RawDimse(a)));
    cleanup.add(() => subscription.unsubscribe());
    const client = await open(await firstValueFrom(port.pipe(timeout(2_000))), 'CLIENT', [VERIFICATION, CT_CONTEXT]);
    return { client, peer: await firstValueFrom(peers.pipe(timeout(2_000))) };
  }

  it('drops what follows a pending response without Status, and the association goes on', async () => {
    const { client, peer } = await rawPair();
    const context = client.acceptedContexts.find((pc) => pc.abstractSyntax === VERIFICATION_SOP_CLASS)!;
    const outcome = lastValueFrom(
      dimse(client)
        .request(context.id, { commandField: CommandField.CEchoRq, affectedSopClassUid: VERIFICATION_SOP_CLASS })
        .pipe(toArray()),
    ).then(
      () => 'completed',
      (error: unknown) => error,
    );
    const rq = await peer.next();
    const id = rq.command.messageId!;
    // No Status, then the final response the peer thought would end it.
    await peer.send(1, echoRsp(id));
    await peer.send(1, echoRsp(id, 0));
    expect(await within(outcome, 3_000, 'request')).toBeInstanceOf(DimseProtocolError);
    await wait(50);
    expect(client.state).toBe('Sta6');
    // The next request on the association is answered as usual.
    const next = firstValueFrom(echo(client));
    const rq2 = await peer.next();
    await peer.send(1, echoRsp(rq2.command.messageId!, 0));
    expect((await within(next, 3_000, 'echo')).code).toBe(0);
  });

  it('delivers the status of a C-STORE-RSP that carries a data set it should not, and drops the data set', async () => {
    const { client, peer } = await rawPair();
    const [image] = generateSampleStudy({ images: 1, rows: 8, columns: 8, seed: 3 });
    const response = lastValueFrom(store(client, { dataset: image! }));
    const rq = await peer.next();
    await lastValueFrom(rq.dataSet!.collect());
    const ct = client.acceptedContexts.find((pc) => pc.abstractSyntax === CT)!;
    await peer.send(
      ct.id,
      {
        commandField: CommandField.CStoreRsp,
        messageIdBeingRespondedTo: rq.command.messageId!,
        affectedSopClassUid: CT,
        affectedSopInstanceUid: image!.SOPInstanceUID as string,
        status: 0,
        commandDataSetType: DATA_SET_PRESENT,
      },
      [Buffer.alloc(64, 1)],
    );
    const answer = await within(response, 3_000, 'store');
    expect(answer.type === 'response' && answer.status.code).toBe(0);
    expect(client.state).toBe('Sta6');
  });
});

describe('DIMSE channel: requests on the wrong context', () => {
  it('refuses with 0x0122 a C-STORE on the Verification context and a C-ECHO on a storage one, storing nothing', async () => {
    const { server, calls } = await startRecordingScp();
    const rogue = new RawDimse(await open(server.port, 'ROGUE', [VERIFICATION, { abstractSyntax: CT, transferSyntaxes: [ILE] }]));
    await rogue.send(1, storeRq(5, '1.2.3.4.5'), [Buffer.alloc(64, 2)]);
    expect((await rogue.next()).command).toMatchObject({
      commandField: CommandField.CStoreRsp,
      messageIdBeingRespondedTo: 5,
      status: 0x0122,
    });
    await rogue.send(3, echoRq(6));
    expect((await rogue.next()).command).toMatchObject({
      commandField: CommandField.CEchoRsp,
      messageIdBeingRespondedTo: 6,
      status: 0x0122,
    });
    expect(calls).toEqual([]);
    // On their own contexts both are served.
    expect(await firstValueFrom(echo(rogue.association))).toMatchObject({ code: 0 });
    expect(rogue.association.state).toBe('Sta6');
  });
});

describe('DIMSE channel: fuzzed commands', () => {
  it('answers or aborts each of 300 mutated command sets, and the server goes on serving', async () => {
    const server = await startScp({ abstractSyntaxes: { [VERIFICATION_SOP_CLASS]: [ILE], [CT]: [ILE] }, store: discardSink });
    const bystander = await open(server.port, 'BYSTANDER');
    const valid = [encodeCommand(echoRq(1)), encodeCommand(storeRq(2, '1.2.3.4.5'))];
    const mutated = fc.sample(
      fc
        .tuple(
          fc.constantFrom(0, 1),
          fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 6 }),
          fc.nat(),
        )
        .map(([which, flips, cut]) => {
          const copy = Buffer.from(valid[which]!);
          for (const [at, value] of flips) copy[at % copy.length] = value;
          // Now and then cut short, too. The C-ECHO goes on Verification (1), the C-STORE on CT (3).
          return { context: which === 0 ? 1 : 3, bytes: cut % 5 === 0 ? copy.subarray(0, cut % copy.length) : copy };
        }),
      { numRuns: 300, seed: 4242 },
    );
    let rogue: RawDimse | undefined;
    let answered = 0;
    let aborted = 0;
    for (const { context, bytes } of mutated) {
      if (rogue?.association.state !== 'Sta6')
        rogue = new RawDimse(await open(server.port, 'ROGUE', [VERIFICATION, { abstractSyntax: CT, transferSyntaxes: [ILE] }]));
      const peer: RawDimse = rogue;
      // A data set follows in case the command announced one.
      await peer.send(context, bytes, [Buffer.alloc(100, 7)]).catch(() => undefined);
      const outcome = await Promise.race([
        peer.next(2_000),
        firstValueFrom(peer.association.finished).then(() => 'aborted' as const),
      ]).catch(() => 'silent' as const);
      if (outcome === 'aborted') {
        aborted++;
      } else if (outcome === 'silent') {
        // Neither: the association must still be usable (a fragment the server waits the rest of).
        expect(peer.association.state).toBe('Sta6');
        peer.association.abort();
      } else {
        // What comes back is a response, on the context the request was sent on.
        expect(isResponse(outcome.command.commandField)).toBe(true);
        expect(outcome.presentationContextId).toBe(context);
        answered++;
      }
    }
    expect(answered + aborted).toBeGreaterThan(200);
    expect(answered).toBeGreaterThan(0);
    expect(aborted).toBeGreaterThan(0);
    await expectServing(server.port, bystander);
  }, 60_000);
});

describe('DIMSE channel: fuzzed responses', () => {
  it('ends each of 200 C-ECHOs answered with a mutated response in a status or a typed error', async () => {
    const server = await startRawServer();
    const outcomes = new Map<string, number>();
    const count = (key: string) => outcomes.set(key, (outcomes.get(key) ?? 0) + 1);
    const cases = fc.sample(
      fc.record({
        flips: fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 4 }),
        cut: fc.nat(),
      }),
      { numRuns: 200, seed: 99 },
    );
    let client: Association | undefined;
    let peer: RawDimse | undefined;
    let opened = 0;
    for (const c of cases) {
      if (client?.state !== 'Sta6') {
        client = await open(server.port, 'CLIENT');
        peer = await server.peer(opened++);
      }
      const association = client;
      const answered = firstValueFrom(echo(association).pipe(timeout(1_000))).then(
        (status) => `status ${status.kind}`,
        (error: Error) => error.name,
      );
      const rq = await peer!.next(2_000);
      const bytes = Buffer.from(encodeCommand(echoRsp(rq.command.messageId!, 0)));
      for (const [at, value] of c.flips) bytes[at % bytes.length] = value;
      await peer!.send(1, c.cut % 4 === 0 ? bytes.subarray(0, c.cut % bytes.length) : bytes).catch(() => undefined);
      const outcome = await answered;
      count(outcome);
      // Whatever came back is one of these: nothing else may come out.
      expect([
        'status success',
        'status warning',
        'status failure',
        'status cancel',
        'status pending',
        'DimseProtocolError',
        'MessageAssemblyError',
        'ConnectionError',
        'AssociationAbortedError',
        'TimeoutError',
        'Error',
      ]).toContain(outcome);
      if (outcome === 'TimeoutError' && client.state === 'Sta6') client.abort();
    }
    expect(outcomes.size).toBeGreaterThan(1);
  }, 90_000);
});
