import type { Socket } from 'node:net';
import { Observable } from 'rxjs';
import { ConnectionError } from '../errors.js';
import { log } from '../log.js';
import type { Transport } from './transport.js';

/**
 * Outgoing bytes waiting in the socket above which it stops reading until they drain: a peer
 * that sends requests but does not read the answers cannot make them pile up in memory. Above
 * a data set chunk's worth, so that a sender waiting on drain between its chunks never stops
 * reading the responses.
 */
const OUTGOING_BOUND = 4 * 1024 * 1024;

/** A connection error as words, with its code: what a user can act on. */
function inWords(error: NodeJS.ErrnoException): string {
  switch (error.code) {
    case 'EPIPE':
      return `closed by the peer while sending (${error.code})`;
    case 'ECONNRESET':
      return `reset by the peer (${error.code})`;
    case 'ETIMEDOUT':
      return `timed out: the peer stopped answering at the network level (${error.code})`;
    default:
      return `failed: ${error.message}`;
  }
}

/** Bytes of a PDU below which its parts are joined and written at once rather than corked. */
const SMALL_PDU = 1024;

/** How long a closed transport waits for the peer's side of the close before it lets go. */
const CLOSE_GRACE_MS = 2_000;

/**
 * A transport over a connected `net.Socket` or `tls.TLSSocket`: Nagle off, reading paused
 * while a consumer holds it, writes in order with `drain` reported to whoever waits for it.
 */
export function socketTransport(socket: Socket): Transport {
  socket.setNoDelay(true);
  const peer = `${socket.remoteAddress}:${socket.remotePort}`;
  let holds = 0;
  let corked = false;
  const uncork = () => {
    corked = false;
    socket.uncork();
  };
  const pause = () => {
    if (holds++ === 0) socket.pause();
  };
  const resume = () => {
    if (holds > 0 && --holds === 0) socket.resume();
  };
  let drainHeld = false;
  const holdUntilDrained = () => {
    if (drainHeld || socket.writableLength <= OUTGOING_BOUND) return;
    drainHeld = true;
    log.net('%s: %d bytes not yet sent: reading paused until they drain', peer, socket.writableLength);
    pause();
    const release = () => {
      socket.off('drain', release);
      socket.off('close', release);
      drainHeld = false;
      resume();
    };
    socket.on('drain', release);
    socket.on('close', release);
  };
  let failure: Error | undefined;
  /** Delivers received bytes to whoever reads the transport. */
  let deliver: ((chunk: Buffer) => void) | undefined;
  socket.on('error', (error: NodeJS.ErrnoException) => {
    failure = new ConnectionError(`Connection to ${peer} ${inWords(error)}`, error.code, { cause: error });
    log.net('%s: %s', peer, error.message);
    // What the peer sent before it closed (an A-ABORT, typically) may wait in the socket, read but
    // not delivered while reading was held: it says why the connection ended, better than the
    // EPIPE of the write that found it closed.
    for (let chunk: Buffer | null = socket.read(); chunk !== null && deliver; chunk = socket.read()) deliver(chunk);
  });

  const chunks = new Observable<Uint8Array>((subscriber) => {
    const onData = (chunk: Buffer) => subscriber.next(chunk);
    deliver = onData;
    const onClose = () => {
      log.net('%s: closed%s', peer, failure ? ` after ${failure.message}` : '');
      // A connection that broke (reset, timed out) says so: the association ends with a ConnectionError.
      if (failure) subscriber.error(failure);
      else subscriber.complete();
    };
    socket.on('data', onData);
    socket.once('close', onClose);
    if (socket.destroyed) onClose();
    return () => {
      deliver = undefined;
      socket.off('data', onData);
      socket.off('close', onClose);
    };
  });

  return {
    chunks,
    peer,
    write(bytes, onWritten) {
      if (socket.destroyed || !socket.writable) {
        onWritten?.(failure ?? new ConnectionError(`Connection to ${peer} closed while sending`, undefined));
        return;
      }
      const done = onWritten && ((error?: Error | null) => onWritten(error ?? undefined));
      if (bytes instanceof Uint8Array) {
        socket.write(bytes, done);
        holdUntilDrained();
        return;
      }
      // A small PDU (a command, a response) outside a batch: its parts copied into one buffer and
      // written at once, cheaper than corking until the next tick for one writev.
      if (!corked && bytes.length <= 3) {
        let length = 0;
        for (const part of bytes) length += part.length;
        if (length <= SMALL_PDU) {
          socket.write(bytes.length === 1 ? bytes[0]! : Buffer.concat(bytes as Uint8Array[], length), done);
          holdUntilDrained();
          return;
        }
      }
      // The writes of one tick go out together in one writev (cork until the next tick): the
      // PDUs of a data set chunk cost one system call and no copy of their values.
      if (!corked) {
        corked = true;
        socket.cork();
        process.nextTick(uncork);
      }
      const last = bytes.length - 1;
      for (let i = 0; i < last; i++) socket.write(bytes[i]!);
      socket.write(bytes[last]!, done);
      holdUntilDrained();
    },
    pause,
    resume,
    close() {
      if (socket.destroyed) return;
      socket.end();
      setTimeout(() => socket.destroy(), CLOSE_GRACE_MS).unref();
    },
  };
}
