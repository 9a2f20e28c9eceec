/** The options that make a query, shared by find, get and move: the information model, the level, the keys. */
import { type Query, QueryKeyError, type QueryModelName, queryIdentifier, retrieveIdentifier } from '@dimse-rx/dimse';
import { type OptionSpec, type Parsed, stringOption, UsageError } from '../args.js';
import { type KeyPath, parseQueryKeys } from './query-keys.js';

const MODEL_OPTIONS: readonly OptionSpec[] = [
  { name: 'patient-root', aliases: ['-P'], description: 'Patient Root information model' },
  { name: 'study-root', aliases: ['-S'], description: 'Study Root information model (the default)' },
];

const WORKLIST_OPTION: OptionSpec = { name: 'worklist', aliases: ['-W'], description: 'Modality Worklist information model' };

const KEY_OPTIONS: readonly OptionSpec[] = [
  {
    name: 'key',
    aliases: ['-k'],
    value: 'KEY[=VALUE]',
    description: 'a key by keyword or tag, with no value a return key (see above); may repeat',
  },
  { name: 'level', value: 'LEVEL', description: "PATIENT, STUDY, SERIES or IMAGE (default the model's top: PATIENT or STUDY)" },
];

/** The options of find's query (the worklist too). */
export const FIND_QUERY_OPTIONS: readonly OptionSpec[] = [...MODEL_OPTIONS, WORKLIST_OPTION, ...KEY_OPTIONS];
/** The options of get's and move's query. */
export const RETRIEVE_QUERY_OPTIONS: readonly OptionSpec[] = [...MODEL_OPTIONS, ...KEY_OPTIONS];

/** A query from the options, checked before anything is sent; `paths` are the keys in the order given. */
export interface QueryFromOptions {
  readonly query: Query;
  readonly paths: readonly KeyPath[];
}

function modelOption(options: Parsed['options']): QueryModelName {
  const chosen = (
    [
      ['patient-root', 'PatientRoot'],
      ['study-root', 'StudyRoot'],
      ['worklist', 'ModalityWorklist'],
    ] as const
  ).filter(([name]) => options[name] === true);
  if (chosen.length > 1) throw new UsageError(`choose one information model, not ${chosen.map(([name]) => `--${name}`).join(' and ')}`);
  return chosen[0]?.[1] ?? 'StudyRoot';
}

/**
 * The query the options describe: model (-P, -S, -W), level (--level, or -k QueryRetrieveLevel=),
 * keys (-k, or `defaults` when none is given). The identifier is checked as the library will
 * check it (the hierarchical rules; for a retrieval the unique key of the level too): a query
 * it would refuse is a usage error here, before any association.
 */
export function queryOption(
  parsed: Parsed,
  use: 'find' | 'retrieve',
  defaults: (model: QueryModelName, level: string | undefined) => readonly string[] = () => [],
): QueryFromOptions {
  const model = modelOption(parsed.options);
  const given = parsed.lists.key ?? [];
  const fromKeys = parseQueryKeys(given);
  const levelOption = stringOption(parsed.options, 'level')?.trim().toUpperCase();
  if (levelOption !== undefined && fromKeys.level !== undefined && levelOption !== fromKeys.level)
    throw new UsageError(`--level ${levelOption} and -k QueryRetrieveLevel=${fromKeys.level} disagree`);
  const level = levelOption ?? fromKeys.level;
  if (model === 'ModalityWorklist' && level !== undefined) throw new UsageError('the worklist has no levels (no --level with -W)');
  const { keys, paths } = fromKeys.paths.length === 0 ? parseQueryKeys(defaults(model, level)) : fromKeys;
  const query: Query = { model, ...(level === undefined ? {} : { level }), keys };
  try {
    if (use === 'find') queryIdentifier(query);
    else retrieveIdentifier(query);
  } catch (error) {
    if (error instanceof QueryKeyError) throw new UsageError(error.message);
    throw error;
  }
  return { query, paths };
}
