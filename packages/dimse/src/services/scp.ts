import { type Association, type Listening, type ServeInternals, type ServeOptions, serve } from '@dimse-rx/association';
import { map, type Observable } from 'rxjs';
import { dimse, type HandleOptions, type RequestHandler, type SopClassSelector } from '../channel.js';
import { CommandField } from '../command/fields.js';
import { type StorageHandler, storageRequestHandler } from './store-scp.js';

/** A service an SCP performs: a request type for some SOP classes, and its handler. */
export interface Service {
  readonly command: number;
  /** The SOP classes it serves: one, a list, or any ('*'). */
  readonly sopClasses: SopClassSelector;
  readonly handler: RequestHandler;
  readonly options?: HandleOptions;
}

/** What `scp()` serves, besides what `serve()` takes. */
export interface ScpOptions extends ServeOptions {
  /** Answers C-STORE requests of every SOP class accepted; without it C-STORE gets 0x0122 (SOP class not supported). */
  readonly store?: StorageHandler;
  /** Other services (C-ECHO of Verification is answered without one; one given here takes its place). */
  readonly services?: readonly Service[];
  /** Told the host and port once the server listens. */
  readonly onListening?: (listening: Listening) => void;
}

/**
 * A DIMSE service class provider: `serve()` with a DIMSE channel created with every association
 * (before anything it receives is read), C-ECHO answered on those that accepted Verification,
 * C-STORE given to `store`, the other services registered. Emits each association.
 */
export function scp(options: ScpOptions, internals: ServeInternals = {}): Observable<Association> {
  return serve(options, internals).pipe(
    map((association) => {
      const channel = dimse(association);
      if (options.store) channel.handle(CommandField.CStoreRq, '*', storageRequestHandler(options.store));
      for (const service of options.services ?? []) channel.handle(service.command, service.sopClasses, service.handler, service.options);
      return association;
    }),
  );
}
