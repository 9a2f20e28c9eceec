import { type Association, type Listening, type ServeOptions, serve } from '@dimse-rx/association';
import { map, type Observable } from 'rxjs';
import { dimse, type RequestHandler } from '../channel.js';
import { CommandField } from '../command/fields.js';
import { type StorageHandler, storageRequestHandler } from './store-scp.js';

export interface ScpOptions extends ServeOptions {
  /** Answers C-STORE requests; without it C-STORE gets 0x0122 (SOP class not supported). */
  readonly store?: StorageHandler;
  /** Handlers of other requests, by command field (C-ECHO is answered without one). */
  readonly handlers?: Readonly<Record<number, RequestHandler>>;
  readonly onListening?: (listening: Listening) => void;
}

/**
 * A DIMSE service class provider: `serve()` with a DIMSE channel on every association, C-ECHO
 * answered on those that accepted Verification, C-STORE given to `store`. Emits each association.
 */
export function scp(options: ScpOptions): Observable<Association> {
  return serve(options).pipe(
    map((association) => {
      const channel = dimse(association);
      if (options.store) channel.handle(CommandField.CStoreRq, storageRequestHandler(options.store));
      for (const [field, handler] of Object.entries(options.handlers ?? {})) channel.handle(Number(field), handler);
      return association;
    }),
  );
}
