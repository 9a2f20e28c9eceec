/**
 * Values for the matching forms of PS3.4 C.2.2.2: ranges of dates, times and date-times (open
 * ones too), lists of UIDs, sequence keys, and dates from JavaScript Dates, as a C-FIND
 * identifier takes them.
 */
import type { NaturalizedDataset } from '@dimse-rx/dataset';

const two = (n: number) => String(n).padStart(2, '0');

/** A DA value (YYYYMMDD) of a Date, in its local calendar day unless `utc`. */
export function dicomDate(date: Date, utc = false): string {
  return utc
    ? `${date.getUTCFullYear()}${two(date.getUTCMonth() + 1)}${two(date.getUTCDate())}`
    : `${date.getFullYear()}${two(date.getMonth() + 1)}${two(date.getDate())}`;
}

/** A TM value (HHMMSS) of a Date, local time unless `utc`. */
export function dicomTime(date: Date, utc = false): string {
  return utc
    ? `${two(date.getUTCHours())}${two(date.getUTCMinutes())}${two(date.getUTCSeconds())}`
    : `${two(date.getHours())}${two(date.getMinutes())}${two(date.getSeconds())}`;
}

const DA = /^\d{8}$/;
const TM = /^\d{2}(\d{2}(\d{2}(\.\d{1,6})?)?)?$/;
const DT = /^\d{4}(\d{2}(\d{2}(\d{2}(\d{2}(\d{2}(\.\d{1,6})?)?)?)?)?)?([+-]\d{4})?$/;

function range(kind: 'DA' | 'TM' | 'DT', pattern: RegExp, from: string | Date | undefined, to: string | Date | undefined): string {
  const text = (value: string | Date | undefined) =>
    value === undefined
      ? ''
      : typeof value === 'string'
        ? value
        : kind === 'DA'
          ? dicomDate(value)
          : kind === 'TM'
            ? dicomTime(value)
            : `${dicomDate(value)}${dicomTime(value)}`;
  const start = text(from);
  const end = text(to);
  if (start === '' && end === '') throw new RangeError(`a ${kind} range needs a start, an end or both`);
  for (const value of [start, end])
    if (value !== '' && !pattern.test(value)) throw new RangeError(`${JSON.stringify(value)} is not a ${kind} value`);
  if (start !== '' && end !== '' && kind !== 'TM' && start > end)
    throw new RangeError(`the ${kind} range ${start}-${end} ends before it starts`);
  return `${start}-${end}`;
}

/** A date range (PS3.4 C.2.2.2.5): `from-to`, `from-` (on and after), `-to` (on and before). */
export const dateRange = (from?: string | Date, to?: string | Date): string => range('DA', DA, from, to);
/** A time range: `from-to`, `from-`, `-to` (a range that crosses midnight is the peer's to interpret). */
export const timeRange = (from?: string | Date, to?: string | Date): string => range('TM', TM, from, to);
/** A date-time range: `from-to`, `from-`, `-to`. */
export const dateTimeRange = (from?: string | Date, to?: string | Date): string => range('DT', DT, from, to);

/** List of UID matching (PS3.4 C.2.2.2.2): the values of a UI key, any of which matches. */
export function uidList(uids: readonly string[]): string[] {
  if (uids.length === 0) throw new RangeError('a UID list needs at least one UID');
  for (const uid of uids)
    if (!/^[0-9]+(\.[0-9]+)*$/.test(uid) || uid.length > 64) throw new RangeError(`${JSON.stringify(uid)} is not a UID`);
  return [...uids];
}

const isItem = (value: unknown): value is NaturalizedDataset => typeof value === 'object' && value !== null && !Array.isArray(value);

/**
 * Sequence matching (PS3.4 C.2.2.2.6): the value of a sequence key, a single item whose
 * attributes are the item keys (matching keys with values, return keys empty), each matched
 * against every item of the entity's sequence. Takes the item, or an array of exactly one, as
 * dcmjs writes a sequence; a RangeError for any other count or an item that is not a data set.
 */
export function sequenceMatch(items: NaturalizedDataset | readonly NaturalizedDataset[]): NaturalizedDataset[] {
  const list: readonly unknown[] = Array.isArray(items) ? items : [items];
  if (list.length !== 1) throw new RangeError(`a sequence matching key holds exactly one item, not ${list.length}`);
  const item = list[0];
  if (!isItem(item)) throw new RangeError(`a sequence item is a data set (an object by keyword), not ${JSON.stringify(item)}`);
  return [{ ...item }];
}

/**
 * A sequence as a return key: zero length, no item (universal matching, C.2.2.2.3), so that
 * the SCP returns the sequence with the items it has.
 */
export const sequenceReturnKey = (): NaturalizedDataset[] => [];
