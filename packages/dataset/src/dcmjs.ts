/**
 * dcmjs, loaded on first use: storing and receiving files never decodes a data set, so a process
 * that only moves bytes does not pay for dcmjs's start-up time and memory (about 0.1 s and 16 MB).
 */
import { createRequire } from 'node:module';
import type * as Dcmjs from 'dcmjs';

let loaded: typeof Dcmjs | undefined;

export function dcmjs(): typeof Dcmjs {
  loaded ??= createRequire(import.meta.url)('dcmjs') as typeof Dcmjs;
  return loaded;
}
