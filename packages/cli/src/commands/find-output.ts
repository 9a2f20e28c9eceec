/**
 * How `find` prints its matches as they arrive: a table on a terminal, JSON lines (`--json`),
 * CSV (`--csv`), or tab-separated lines when the output goes to a file or a pipe.
 */
import type { NaturalizedDataset } from '@dimse-rx/dimse';
import { jsonIdentifier, type KeyPath, valueAt, valueText } from './query-keys.js';

/** The forms of find's output. */
export type FindFormat = 'table' | 'json' | 'csv' | 'tsv';

/** Prints rows: `row` for each match, `end` once the query is over (the header of an empty result). */
export interface RowPrinter {
  row(identifier: NaturalizedDataset): void;
  end(): void;
}

/** Widths of the table's columns by VR: what a typical value takes (PS3.5 6.2 gives the longest). */
const WIDTHS: Readonly<Record<string, number>> = {
  AE: 16,
  AS: 4,
  CS: 10,
  DA: 8,
  DS: 10,
  DT: 21,
  IS: 6,
  LO: 24,
  PN: 24,
  SH: 16,
  SQ: 10,
  TM: 13,
  UI: 40,
  US: 5,
  UL: 10,
};

/** RFC 4180: a field with a comma, a quote or a line break is quoted, its quotes doubled. */
const csvField = (text: string) => (/[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text);
/** Tabs and line breaks inside a value would split it: they become spaces. */
const tsvField = (text: string) => text.replace(/[\t\r\n]/g, ' ');

/** Cut to `width` with an ellipsis, padded to it. */
const cell = (text: string, width: number) => (text.length > width ? `${text.slice(0, width - 1)}…` : text.padEnd(width));

export function rowPrinter(format: FindFormat, paths: readonly KeyPath[], line: (text: string) => void): RowPrinter {
  const texts = (identifier: NaturalizedDataset) => paths.map((path) => valueText(valueAt(identifier, path)));
  const labels = paths.map((p) => p.label);
  let headed = false;
  const header = (text: string) => {
    if (!headed) line(text);
    headed = true;
  };
  switch (format) {
    case 'json':
      return { row: (identifier) => line(JSON.stringify(jsonIdentifier(identifier))), end: () => {} };
    case 'csv':
      return {
        row: (identifier) => {
          header(labels.map(csvField).join(','));
          line(texts(identifier).map(csvField).join(','));
        },
        end: () => header(labels.map(csvField).join(',')),
      };
    case 'tsv':
      return {
        row: (identifier) => {
          header(labels.join('\t'));
          line(texts(identifier).map(tsvField).join('\t'));
        },
        end: () => header(labels.join('\t')),
      };
    case 'table': {
      // Rows are printed as they come, so the widths are set before the first: by VR, the
      // header's at least; the last column is not cut.
      const widths = paths.map((p) => Math.max(p.label.length, WIDTHS[p.vr] ?? 16));
      const format = (cells: readonly string[]) =>
        cells
          .map((text, i) => (i === cells.length - 1 ? tsvField(text) : cell(tsvField(text), widths[i]!)))
          .join('  ')
          .trimEnd();
      return {
        row: (identifier) => {
          header(format(labels));
          line(format(texts(identifier)));
        },
        end: () => header(format(labels)),
      };
    }
  }
}
