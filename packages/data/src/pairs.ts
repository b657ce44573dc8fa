import { DataError } from './errors.js';

/** One training example of a pairs file: a query (anchor), the text that matches it, and optional hard negatives. */
export interface TrainingPair {
  query: string;
  positive: string;
  /** Texts that look like the positive but do not match the query; the same number for every pair of a file. */
  negatives: string[];
}

/** The formats of a pairs file: one JSON object per line, or a table with a header row. */
export type PairsFormat = 'jsonl' | 'csv' | 'tsv';

/** Column names accepted for each field (sentence-transformers', DPR's and common ones), in order of preference. */
export const PAIR_COLUMNS = {
  query: ['anchor', 'query', 'question', 'sentence1', 'text1'],
  positive: ['positive', 'document', 'passage', 'answer', 'sentence2', 'text2'],
  negative: ['negative', 'negatives', 'hard_negative', 'hard_negatives'],
} as const;

/** The format a file's extension says (`.jsonl`/`.ndjson`, `.csv`, `.tsv`), or undefined. */
export function formatOf(path: string): PairsFormat | undefined {
  const lower = path.toLowerCase();
  if (lower.endsWith('.jsonl') || lower.endsWith('.ndjson')) return 'jsonl';
  if (lower.endsWith('.csv')) return 'csv';
  if (lower.endsWith('.tsv')) return 'tsv';
  return undefined;
}

/** A bad row: an error naming the file, the line and the problem. */
export function badRow(where: string, why: string): DataError {
  return new DataError('INVALID_DATA', `${where}: ${why}`);
}

/**
 * The pair a record holds (a parsed JSONL object, or a table row by column name): the query from
 * the first column of `PAIR_COLUMNS.query` present, the positive likewise, and the negatives — a
 * `negative` string, a `negatives` list, or numbered columns `negative_1`, `negative_2`, …. Every
 * text must be a non-empty string; otherwise a DataError INVALID_DATA naming `where` (file:line) and
 * the column, with the accepted names.
 */
export function pairFromRecord(record: unknown, where: string): TrainingPair {
  if (typeof record !== 'object' || record === null || Array.isArray(record)) {
    throw badRow(
      where,
      `a row must be an object of columns (${PAIR_COLUMNS.query[0]}, ${PAIR_COLUMNS.positive[0]}, …), got ${Array.isArray(record) ? 'an array' : String(record)}`,
    );
  }
  const r = record as Record<string, unknown>;
  const text = (field: 'query' | 'positive'): string => {
    const name = PAIR_COLUMNS[field].find((n) => n in r);
    if (name === undefined)
      throw badRow(
        where,
        `no ${field} column: name it one of ${PAIR_COLUMNS[field].join(', ')} (the row has ${Object.keys(r).join(', ') || 'none'})`,
      );
    const value = r[name];
    if (typeof value !== 'string' || value.trim() === '')
      throw badRow(where, `'${name}' must be a non-empty string, got ${JSON.stringify(value)?.slice(0, 60)}`);
    return value;
  };
  const query = text('query');
  const positive = text('positive');
  const negatives: string[] = [];
  for (const name of PAIR_COLUMNS.negative) {
    const value = r[name];
    if (value === undefined || value === null || value === '') continue;
    const list = Array.isArray(value) ? value : [value];
    for (const [k, v] of list.entries()) {
      if (typeof v !== 'string' || v.trim() === '')
        throw badRow(
          where,
          `'${name}'${Array.isArray(value) ? `[${k}]` : ''} must be a non-empty string, got ${JSON.stringify(v)?.slice(0, 60)}`,
        );
      negatives.push(v);
    }
  }
  for (const name of Object.keys(r)
    .filter((n) => /^negative_\d+$/.test(n))
    .sort((a, b) => Number(a.slice(9)) - Number(b.slice(9)))) {
    const v = r[name];
    if (typeof v !== 'string' || v.trim() === '')
      throw badRow(where, `'${name}' must be a non-empty string, got ${JSON.stringify(v)?.slice(0, 60)}`);
    negatives.push(v);
  }
  return { query, positive, negatives };
}
