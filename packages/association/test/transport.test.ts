/**
 * The socket transport's flow control (issue 8, defect 8): while more than its bound of outgoing
 * bytes waits for a peer that does not read, it stops reading that peer, and reads again once
 * they have drained.
 */
import { createServer, connect as netConnect, type Socket } from 'node:net';
import { socketTransport } from '@dimse-rx/association';
import { afterEach, describe, expect, it } from 'vitest';
import { Cleanup, LOCALHOST, wait } from './support.js';

const cleanup = new Cleanup();
afterEach(() => cleanup.run());

async function socketPair(): Promise<{ ours: Socket; theirs: Socket }> {
  const server = createServer();
  cleanup.add(() => server.close());
  const accepted = new Promise<Socket>((resolve) => server.once('connection', resolve));
  await new Promise<void>((resolve) => server.listen(0, LOCALHOST, resolve));
  const port = (server.address() as { port: number }).port;
  const theirs = netConnect({ host: LOCALHOST, port });
  const ours = await accepted;
  cleanup.add(() => {
    ours.destroy();
    theirs.destroy();
  });
  return { ours, theirs };
}

describe('the socket transport under a peer that does not read', () => {
  it('stops reading while more than 4 MiB waits to be sent, and reads again once it drained', async () => {
    const { ours, theirs } = await socketPair();
    theirs.pause();
    const transport = socketTransport(ours);
    const received: number[] = [];
    const subscription = transport.chunks.subscribe((chunk) => received.push(chunk.length));
    cleanup.add(() => subscription.unsubscribe());
    // A little below the bound: reading goes on.
    transport.write(new Uint8Array(1024 * 1024));
    theirs.write(Buffer.alloc(100, 1));
    await wait(100);
    expect(ours.isPaused()).toBe(false);
    expect(received.reduce((a, b) => a + b, 0)).toBe(100);
    // Far above it (the kernel's buffers take some): nothing more is read.
    const written: (Error | undefined)[] = [];
    for (let i = 0; i < 16; i++) transport.write(new Uint8Array(1024 * 1024), (error) => written.push(error));
    expect(ours.writableLength).toBeGreaterThan(4 * 1024 * 1024);
    expect(ours.isPaused()).toBe(true);
    theirs.write(Buffer.alloc(100, 2));
    await wait(200);
    expect(received.reduce((a, b) => a + b, 0)).toBe(100);
    // The peer reads: everything is sent, and its bytes are read again.
    let drained = 0;
    theirs.on('data', (chunk: Buffer) => (drained += chunk.length));
    theirs.resume();
    const deadline = performance.now() + 10_000;
    const done = () => written.length === 16 && drained === 17 * 1024 * 1024 && received.reduce((a, b) => a + b, 0) === 200;
    while (!done() && performance.now() < deadline) await wait(20);
    expect(written).toEqual(Array(16).fill(undefined));
    expect(drained).toBe(17 * 1024 * 1024);
    expect(ours.isPaused()).toBe(false);
    expect(received.reduce((a, b) => a + b, 0)).toBe(200);
  });
});
