import { decodePdu, encodePdu, type Pdu } from '@dimse-rx/pdu';
import { type Observable, Subject } from 'rxjs';
import type { Transport } from './transport.js';

/**
 * An in-memory transport for tests: the test pushes the peer's bytes or PDUs, and reads the
 * PDUs written, without sockets.
 */
export class FakeTransport implements Transport {
  readonly peer = 'fake';
  readonly #incoming = new Subject<Uint8Array>();
  readonly chunks: Observable<Uint8Array> = this.#incoming.asObservable();
  /** Every chunk written, in order. */
  readonly written: Uint8Array[] = [];
  closed = false;
  paused = 0;

  write(bytes: Uint8Array | readonly Uint8Array[], onWritten?: (error?: Error) => void): void {
    this.written.push(bytes instanceof Uint8Array ? bytes : Buffer.concat(bytes));
    onWritten?.();
  }
  pause(): void {
    this.paused++;
  }
  resume(): void {
    this.paused--;
  }
  close(): void {
    this.closed = true;
  }

  /** The PDUs written so far. */
  get writtenPdus(): Pdu[] {
    return this.written.map((bytes) => decodePdu(bytes));
  }
  /** The peer sends a PDU. */
  receive(pdu: Pdu): void {
    this.#incoming.next(encodePdu(pdu));
  }
  /** The peer sends raw bytes. */
  receiveBytes(bytes: Uint8Array): void {
    this.#incoming.next(bytes);
  }
  /** The peer closes the connection. */
  peerClose(): void {
    this.#incoming.complete();
  }
}
