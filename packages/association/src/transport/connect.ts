import { isIP, connect as netConnect, type Socket } from 'node:net';
import { type ConnectionOptions, connect as tlsConnect } from 'node:tls';
import { Observable } from 'rxjs';
import { ConnectionError } from '../errors.js';
import { socketTransport } from './socket.js';
import type { Transport } from './transport.js';

/**
 * Opens a TCP (or TLS) connection on subscribe and emits its transport once connected (for TLS,
 * once the handshake is done). Unsubscribing before that destroys the socket; after, the
 * transport belongs to the caller.
 */
export function connectTransport(host: string, port: number, tls?: boolean | ConnectionOptions): Observable<Transport> {
  return new Observable<Transport>((subscriber) => {
    let connected = false;
    const secure = tls === true ? {} : tls || undefined;
    const socket: Socket = secure
      ? // SNI names a host, never an address (RFC 6066 3; Node warns on an IP, DEP0123).
        tlsConnect({ ...(isIP(host) === 0 ? { servername: host } : {}), ...secure, host, port }, () => onConnect())
      : netConnect({ host, port }, () => onConnect());
    const onConnect = () => {
      connected = true;
      socket.off('error', onError);
      subscriber.next(socketTransport(socket));
      subscriber.complete();
    };
    const onError = (error: NodeJS.ErrnoException) => {
      subscriber.error(new ConnectionError(`Cannot connect to ${host}:${port}: ${error.message}`, error.code, { cause: error }));
    };
    socket.once('error', onError);
    return () => {
      if (!connected) socket.destroy();
    };
  });
}
