/**
 * dcmjs, loaded on first use: storing and receiving files never decodes a data set, so a process
 * that only moves bytes does not pay for dcmjs's start-up time and memory (about 0.1 s and 16 MB).
 *
 * Two adjustments are installed once, when it loads, and act only while this package's codec
 * runs (`quietly`, `withItemCharacterSets`): changing dcmjs's log level or prototypes around each
 * call instead would cost more than the decoding of a small identifier, and would make V8 drop
 * the optimized code of dcmjs's reader at every call.
 */
import { createRequire } from 'node:module';
import type * as Dcmjs from 'dcmjs';

let loaded: typeof Dcmjs | undefined;
/** Calls of `quietly` running: dcmjs's log methods do nothing meanwhile. */
let quiet = 0;
/** Calls of `withItemCharacterSets` running. */
let itemCharacterSets = 0;

type LogMethod = (...message: unknown[]) => void;
interface Logger {
  methodFactory: (name: string, level: number, loggerName: string | symbol) => LogMethod;
  rebuild(): void;
  getLoggers(): Record<string, Logger>;
}

/** Wraps a loglevel method factory so that the methods it makes are silent while `quiet`. */
function silenceable(factory: Logger['methodFactory']): Logger['methodFactory'] {
  return (name, level, loggerName) => {
    const method = factory(name, level, loggerName);
    return (...message) => {
      if (quiet === 0) method(...message);
    };
  };
}

export function dcmjs(): typeof Dcmjs {
  if (loaded) return loaded;
  const library = createRequire(import.meta.url)('dcmjs') as typeof Dcmjs;
  // dcmjs logs through loglevel: its root logger (which later loggers copy the factory of) and the
  // loggers it made as it loaded. Levels the user sets stay theirs.
  const log = library.log as unknown as Logger;
  for (const logger of [log, ...Object.values(log.getLoggers())]) logger.methodFactory = silenceable(logger.methodFactory);
  log.rebuild();
  // dcmjs reads each sequence item from a fresh stream (`more`) that decodes text as latin1,
  // forgetting the Specific Character Set read before: UTF-8 names in items come out garbled.
  // Items inherit the character set of the data set that holds them unless they declare their
  // own (PS3.3 C.12.1.1.2; dcmjs applies an item's own to the item's stream), so while the codec
  // reads, `more` hands the decoder on.
  const prototype = library.data.ReadBufferStream.prototype;
  const more = prototype.more;
  prototype.more = function (this: InstanceType<typeof library.data.ReadBufferStream>, length: number) {
    const item = more.call(this, length);
    if (itemCharacterSets > 0) item.setDecoder(this.decoder);
    return item;
  };
  loaded = library;
  return library;
}

/** Runs `work` with dcmjs's log silent: the codec reports problems as typed errors instead. */
export function quietly<T>(work: () => T): T {
  dcmjs();
  quiet++;
  try {
    return work();
  } finally {
    quiet--;
  }
}

/** Runs `work` (a read by dcmjs) with sequence items inheriting the character set of the data set that holds them. */
export function withItemCharacterSets<T>(work: () => T): T {
  dcmjs();
  itemCharacterSets++;
  try {
    return work();
  } finally {
    itemCharacterSets--;
  }
}
