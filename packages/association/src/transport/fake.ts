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
  /** Undoes one pause(). */
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

/**
 * Two transports joined back to back, in memory, for a requestor and an acceptor in one
 * process (tests under virtual time, in-process peers). Bytes are delivered on a later
 * microtask, in order. Each direction buffers up to `capacity` bytes the reader has not taken
 * (while it is paused): past that, a writer's `onWritten` waits, as a socket's drain does.
 */
export function linkedTransports(capacity = 256 * 1024): [Transport, Transport] {
  const a = new LinkEnd('link-a', capacity);
  const b = new LinkEnd('link-b', capacity);
  a.other = b;
  b.other = a;
  return [a, b];
}

class LinkEnd implements Transport {
  other!: LinkEnd;
  readonly #incoming = new Subject<Uint8Array>();
  readonly chunks: Observable<Uint8Array> = this.#incoming.asObservable();
  /** Bytes for this end not yet delivered, with the writers' callbacks. */
  readonly #queue: { bytes: Uint8Array; onWritten: ((error?: Error) => void) | undefined }[] = [];
  #queued = 0;
  #paused = 0;
  #closed = false;
  #scheduled = false;

  constructor(
    readonly peer: string,
    readonly capacity: number,
  ) {}

  write(bytes: Uint8Array | readonly Uint8Array[], onWritten?: (error?: Error) => void): void {
    if (this.#closed || this.other.#closed) {
      onWritten?.(new Error('link closed'));
      return;
    }
    this.other.#enqueue(bytes instanceof Uint8Array ? bytes : Buffer.concat(bytes), onWritten);
  }
  pause(): void {
    this.#paused++;
  }
  /** Undoes one pause(); delivers what waited. */
  resume(): void {
    if (this.#paused > 0 && --this.#paused === 0) this.#schedule();
  }
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    queueMicrotask(() => {
      this.#incoming.complete();
      this.other.#incoming.complete();
      for (const end of [this, this.other]) for (const { onWritten } of end.#queue.splice(0)) onWritten?.(new Error('link closed'));
    });
  }

  #enqueue(bytes: Uint8Array, onWritten: ((error?: Error) => void) | undefined): void {
    // Room in the buffer: written as far as the writer can tell; past it, once delivered.
    const room = this.#queued + bytes.length <= this.capacity;
    this.#queue.push({ bytes, onWritten: room ? undefined : onWritten });
    this.#queued += bytes.length;
    if (room) onWritten?.();
    this.#schedule();
  }

  #schedule(): void {
    if (this.#scheduled) return;
    this.#scheduled = true;
    queueMicrotask(() => {
      this.#scheduled = false;
      while (this.#paused === 0 && this.#queue.length > 0 && !this.#closed) {
        const { bytes, onWritten } = this.#queue.shift()!;
        this.#queued -= bytes.length;
        this.#incoming.next(bytes);
        onWritten?.();
      }
    });
  }
}
