/**
 * Query keys as DCMTK's findscu, getscu and movescu take them (`-k KEY[=VALUE]`), shared by
 * find, get and move: a keyword or a tag (`PatientID`, `0010,0020`, `(0010,0020)`, `00100020`),
 * a value or none (a return key, PS3.4 C.2.2.1.2), and paths into sequences
 * (`ScheduledProcedureStepSequence[0].Modality=CT`, the item number optional) for the worklist's
 * sequence matching (PS3.4 C.2.2.2.6). Keywords and tags are resolved through dcmjs's dictionary.
 */
import { createRequire } from 'node:module';
import type { NaturalizedDataset } from '@dimse-rx/dimse';
import { UsageError } from '../args.js';

interface DictionaryEntry {
  readonly tag: string;
  readonly vr: string;
  readonly name: string;
}

interface Dictionary {
  /** By punctuated tag, `(GGGG,EEEE)`. */
  readonly dictionary: Readonly<Record<string, DictionaryEntry | undefined>>;
  /** By keyword. */
  readonly nameMap: Readonly<Record<string, DictionaryEntry | undefined>>;
}

let loaded: Dictionary | undefined;

/** dcmjs's dictionary, loaded on first use (as @dimse-rx/dataset loads dcmjs: echo and store never need it). */
function dictionary(): Dictionary {
  loaded ??= (createRequire(import.meta.url)('dcmjs') as { data: { DicomMetaDictionary: Dictionary } }).data.DicomMetaDictionary;
  return loaded;
}

/** One step of a key's path: an attribute, and for a sequence the item it goes into. */
export interface KeyStep {
  readonly keyword: string;
  readonly vr: string;
  /** The item of a sequence the next step is in (0 unless `[n]` says). */
  readonly item: number;
}

/** A key as given, resolved: its path and the label of its column. */
export interface KeyPath {
  /** Keywords and item numbers: `PatientName`, `ScheduledProcedureStepSequence[0].Modality`. */
  readonly label: string;
  readonly steps: readonly KeyStep[];
  /** The VR of the last attribute. */
  readonly vr: string;
}

/** What the `-k` options give. */
export interface QueryKeys {
  /** The identifier's keys, naturalized as dcmjs writes them: matching keys with values, return keys empty. */
  readonly keys: NaturalizedDataset;
  /** The Query/Retrieve Level given as a key (`-k QueryRetrieveLevel=STUDY`, as findscu takes it), upper case. */
  readonly level: string | undefined;
  /** Each key once, in the order given (QueryRetrieveLevel aside): the columns of the output. */
  readonly paths: readonly KeyPath[];
}

const TAG = /^\(?([0-9A-Fa-f]{4}),?([0-9A-Fa-f]{4})\)?$/;
/** VRs whose values are numbers in a naturalized data set (PS3.5 6.2, binary encodings); dcmjs's `xs` is US or SS. */
const NUMBER_VRS = new Set(['US', 'UL', 'SS', 'SL', 'FL', 'FD', 'SV', 'UV', 'xs']);
/** VRs whose values are bytes, only return keys; dcmjs's `ox` is OB or OW, `lt` US, SS or OW (LUT data). */
const BYTES_VRS = new Set(['OB', 'OD', 'OF', 'OL', 'OV', 'OW', 'UN', 'ox', 'lt']);

/** The dictionary entry of a keyword or tag; a usage error for one the dictionary does not know. */
function resolve(name: string, spec: string): DictionaryEntry {
  const { dictionary: byTag, nameMap } = dictionary();
  const tag = TAG.exec(name);
  if (tag) {
    const entry = byTag[`(${tag[1]!.toUpperCase()},${tag[2]!.toUpperCase()})`];
    // The keyword must lead back to the tag (dcmjs gives all groups of a repeating group one keyword).
    if (entry && Object.hasOwn(nameMap, entry.name) && nameMap[entry.name]?.tag === entry.tag) return entry;
    throw new UsageError(`-k ${spec}: (${tag[1]},${tag[2]}) is not an attribute of the DICOM dictionary`);
  }
  if (/^[A-Za-z][A-Za-z0-9]*$/.test(name) && Object.hasOwn(nameMap, name)) return nameMap[name]!;
  const lower = name.toLowerCase();
  const near = /^[A-Za-z][A-Za-z0-9]*$/.test(name) ? Object.keys(nameMap).find((k) => k.toLowerCase() === lower) : undefined;
  throw new UsageError(`-k ${spec}: unknown keyword ${JSON.stringify(name)}${near ? ` (did you mean ${near}?)` : ''}`);
}

/** The path of a key: each step resolved, sequences before the last step. */
function parsePath(path: string, spec: string): KeyPath {
  if (path === '') throw new UsageError(`-k ${spec}: no attribute before =`);
  const steps: KeyStep[] = [];
  const parts = path.split('.');
  for (const [i, part] of parts.entries()) {
    const m = /^([^[\]]+)(?:\[(\d+)\])?$/.exec(part);
    if (!m) throw new UsageError(`-k ${spec}: ${JSON.stringify(part)} is not KEYWORD, (GGGG,EEEE) or SEQUENCE[n]`);
    const entry = resolve(m[1]!, spec);
    const last = i === parts.length - 1;
    if (m[2] !== undefined && entry.vr !== 'SQ') throw new UsageError(`-k ${spec}: ${entry.name} is not a sequence, it has no items`);
    if (!last && entry.vr !== 'SQ') throw new UsageError(`-k ${spec}: ${entry.name} is not a sequence, nothing goes inside it`);
    const item = m[2] === undefined ? 0 : Number(m[2]);
    if (item > 255) throw new UsageError(`-k ${spec}: item ${item} is more than a query needs`);
    steps.push({ keyword: entry.name, vr: entry.vr, item });
  }
  const label = steps.map((s, i) => (i < steps.length - 1 ? `${s.keyword}[${s.item}]` : s.keyword)).join('.');
  return { label, steps, vr: steps.at(-1)!.vr };
}

/** The value of the last step: empty for a return key, a number for binary numbers, several split at `\`. */
function parseValue(step: KeyStep, value: string | undefined, spec: string): unknown {
  if (step.vr === 'SQ') {
    if (value !== undefined && value !== '')
      throw new UsageError(`-k ${spec}: ${step.keyword} is a sequence: give the keys of its item (${step.keyword}[0].KEYWORD=VALUE)`);
    return [];
  }
  if (value === undefined || value === '') return NUMBER_VRS.has(step.vr) || BYTES_VRS.has(step.vr) ? [] : '';
  if (BYTES_VRS.has(step.vr)) throw new UsageError(`-k ${spec}: ${step.keyword} (${step.vr}) holds bytes: it can only be a return key`);
  const values = value.split('\\');
  if (NUMBER_VRS.has(step.vr)) {
    const numbers = values.map(Number);
    if (values.some((v) => v.trim() === '') || numbers.some((n) => !Number.isFinite(n)))
      throw new UsageError(`-k ${spec}: ${step.keyword} (${step.vr}) takes numbers`);
    return numbers.length === 1 ? numbers[0] : numbers;
  }
  return values.length === 1 ? values[0] : values;
}

type Items = Record<string, unknown>[];

/** Puts a value at its path, creating the items on the way; a return key does not empty a sequence given items already. */
function place(keys: Record<string, unknown>, steps: readonly KeyStep[], value: unknown): void {
  let at = keys;
  for (const step of steps.slice(0, -1)) {
    const current = at[step.keyword];
    const items: Items = Array.isArray(current) ? (current as Items) : [];
    while (items.length <= step.item) items.push({});
    at[step.keyword] = items;
    at = items[step.item]!;
  }
  const last = steps.at(-1)!;
  const existing = at[last.keyword];
  if (last.vr === 'SQ' && Array.isArray(existing) && existing.length > 0) return;
  at[last.keyword] = value;
}

/**
 * The keys of `-k` options, in order; a later key of the same path overrides an earlier one
 * (findscu's "add or override"). `QueryRetrieveLevel=LEVEL` gives the level instead of a key.
 * Throws UsageError for an unknown keyword or tag, a value for a sequence or for bytes, a path
 * through something that is not a sequence.
 */
export function parseQueryKeys(specs: readonly string[]): QueryKeys {
  const keys: Record<string, unknown> = {};
  const paths = new Map<string, KeyPath>();
  let level: string | undefined;
  for (const spec of specs) {
    const equals = spec.indexOf('=');
    const [pathText, value] = equals < 0 ? [spec, undefined] : [spec.slice(0, equals), spec.slice(equals + 1)];
    const path = parsePath(pathText.trim(), spec);
    if (path.steps.length === 1 && path.label === 'QueryRetrieveLevel') {
      if (!value) throw new UsageError(`-k ${spec}: QueryRetrieveLevel needs a level (PATIENT, STUDY, SERIES or IMAGE)`);
      level = value.trim().toUpperCase();
      continue;
    }
    place(keys, path.steps, parseValue(path.steps.at(-1)!, value, spec));
    if (!paths.has(path.label)) paths.set(path.label, path);
  }
  return { keys: keys as NaturalizedDataset, level, paths: [...paths.values()] };
}

/** The value a path leads to in an identifier (a match), if any. */
export function valueAt(identifier: NaturalizedDataset, path: KeyPath): unknown {
  let at: unknown = identifier;
  for (const [i, step] of path.steps.entries()) {
    if (typeof at !== 'object' || at === null) return undefined;
    at = (at as Record<string, unknown>)[step.keyword];
    if (i < path.steps.length - 1) at = Array.isArray(at) ? at[step.item] : undefined;
  }
  return at;
}

const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value) && !ArrayBuffer.isView(value) && !(value instanceof ArrayBuffer);

/** A person name as DICOM writes it: dcmjs decodes PN as `{ Alphabetic, Ideographic, Phonetic }`. */
function personName(name: Record<string, unknown>): string {
  const groups = [name.Alphabetic, name.Ideographic, name.Phonetic].map((g) => (g === undefined ? '' : String(g)));
  while (groups.length > 1 && groups.at(-1) === '') groups.pop();
  return groups.join('=');
}

/** A value as text: values joined by `\` as DICOM writes them, person names as `FAMILY^GIVEN`, sequences as their item count. */
export function valueText(value: unknown): string {
  if (value === undefined || value === null) return '';
  if (value instanceof ArrayBuffer || ArrayBuffer.isView(value)) return `(${value.byteLength} bytes)`;
  if (Array.isArray(value)) {
    if (value.length > 0 && value.every((v) => isRecord(v) && !('Alphabetic' in v || 'Ideographic' in v || 'Phonetic' in v)))
      return `(${value.length} item${value.length === 1 ? '' : 's'})`;
    return value.map(valueText).join('\\');
  }
  if (isRecord(value)) return personName(value);
  return String(value);
}

/** An identifier for JSON: the naturalized data set without dcmjs's `_vrMap`, bytes as base64. */
export function jsonIdentifier(identifier: unknown): unknown {
  if (identifier instanceof ArrayBuffer) return Buffer.from(identifier).toString('base64');
  if (ArrayBuffer.isView(identifier))
    return Buffer.from(identifier.buffer, identifier.byteOffset, identifier.byteLength).toString('base64');
  if (Array.isArray(identifier)) return identifier.map(jsonIdentifier);
  if (isRecord(identifier)) {
    const plain: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(identifier)) if (key !== '_vrMap' && key !== '_meta') plain[key] = jsonIdentifier(value);
    return plain;
  }
  return identifier;
}
