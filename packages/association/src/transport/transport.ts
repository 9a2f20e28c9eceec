import type { Observable } from 'rxjs';

/**
 * A byte stream to the peer, as the state machine's runner uses it. Adapters exist for
 * `node:net` and `node:tls` sockets and, for tests, an in-memory fake.
 */
export interface Transport {
  /**
   * The bytes received, as they arrive. Completes when the connection closes (Evt17) and
   * errors only if it breaks with an error. Subscribe once.
   */
  readonly chunks: Observable<Uint8Array>;
  /**
   * Queues the bytes of one PDU for sending, in order, at once: one buffer, or its parts in
   * order (`encodePduParts`), which a socket sends with one vectored write and no copy.
   * `onWritten` is called once these bytes (and all before them) have been handed to the
   * operating system, so their buffers may be reused; with an error when they never will be.
   */
  write(bytes: Uint8Array | readonly Uint8Array[], onWritten?: (error?: Error) => void): void;
  /** Stops delivering chunks until as many `resume()` calls as `pause()` calls were made. */
  pause(): void;
  /** Undoes one pause(). */
  resume(): void;
  /** Closes the connection once queued bytes are sent. */
  close(): void;
  /** A description of the peer for logs and errors (address:port). */
  readonly peer: string;
}
