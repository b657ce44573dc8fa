import { createReadStream } from 'node:fs';
import { type FileHandle, open } from 'node:fs/promises';
import { parse as parseCsv } from 'csv-parse';
import { parse as parseCsvSync } from 'csv-parse/sync';
import { check, DataError } from './errors.js';
import { badRow, formatOf, type PairsFormat, pairFromRecord, type TrainingPair } from './pairs.js';

/** Options of openPairs. */
export interface OpenPairsOptions {
  /** Default: from the extension (`.jsonl`, `.csv`, `.tsv`). */
  format?: PairsFormat;
  /** A bad row is an error naming the file and line (default), or is skipped and counted in `skipped`. */
  badRows?: 'error' | 'skip';
  /** The longest row accepted, in bytes: a longer one is a bad row (a 1 GB line is refused, not read). Default 1 MiB. */
  maxRowBytes?: number;
}

/** A bad row that was skipped. */
export interface SkippedRow {
  line: number;
  reason: string;
}

/**
 * A pairs file on disk, indexed but not loaded: only each row's byte range is in memory (16 bytes a
 * row), so a file larger than memory trains; rows are read when asked for, in any order.
 */
export interface PairsFile {
  readonly path: string;
  readonly format: PairsFormat;
  /** The rows (pairs) it holds. */
  readonly size: number;
  /** Hard negatives per row: the same for every row (the first row's count). */
  readonly negatives: number;
  /** Rows skipped with `badRows: 'skip'`. */
  readonly skipped: readonly SkippedRow[];
  /** The pairs at these row indexes, in that order. */
  read(indices: readonly number[]): Promise<TrainingPair[]>;
  /** Every pair, in file order (for evaluation sets that fit in memory). */
  readAll(): Promise<TrainingPair[]>;
  /** Closes the file. */
  close(): Promise<void>;
}

/** Growable byte ranges, one per row. */
class Ranges {
  starts = new Float64Array(1024);
  ends = new Float64Array(1024);
  lines = new Uint32Array(1024);
  size = 0;
  push(start: number, end: number, line: number): void {
    if (this.size === this.starts.length) {
      const grow = <T extends Float64Array | Uint32Array>(a: T): T => {
        const b = new (a.constructor as new (n: number) => T)(a.length * 2);
        b.set(a);
        return b;
      };
      [this.starts, this.ends, this.lines] = [grow(this.starts), grow(this.ends), grow(this.lines)];
    }
    this.starts[this.size] = start;
    this.ends[this.size] = end;
    this.lines[this.size] = line;
    this.size++;
  }
}

/**
 * Opens a file of training pairs — JSONL (`{"anchor"|"query": …, "positive": …, "negative": … or
 * "negatives": […]}` per line) or CSV/TSV with a header (sentence-transformers' column names:
 * anchor, positive, negative or negative_1, negative_2, …; also query/question/sentence1 and
 * document/passage/sentence2) — streaming it once to index and check every row. A bad row (invalid
 * JSON, a missing column, an empty text, another number of negatives than the first row, a row
 * longer than `maxRowBytes`) is a DataError INVALID_DATA naming `path:line` and the problem, or,
 * with `badRows: 'skip'`, skipped and counted. Never a silent drop.
 *
 * ```ts
 * const pairs = await openPairs('train.jsonl');
 * const [first] = await pairs.read([0]); // { query, positive, negatives }
 * ```
 */
export async function openPairs(path: string, options: OpenPairsOptions = {}): Promise<PairsFile> {
  const format = options.format ?? formatOf(path);
  check(
    format === 'jsonl' || format === 'csv' || format === 'tsv',
    'INVALID_OPTION',
    () => `openPairs: cannot tell the format of ${path} from its extension; name it .jsonl, .csv or .tsv, or pass format.`,
  );
  const { badRows = 'error', maxRowBytes = 2 ** 20 } = options;
  check(
    badRows === 'error' || badRows === 'skip',
    'INVALID_OPTION',
    () => `openPairs: badRows must be 'error' or 'skip', got ${String(badRows)}.`,
  );
  check(
    Number.isInteger(maxRowBytes) && maxRowBytes > 0,
    'INVALID_OPTION',
    () => `openPairs: maxRowBytes must be a positive integer, got ${String(maxRowBytes)}.`,
  );
  const ranges = new Ranges();
  const skipped: SkippedRow[] = [];
  let negatives: number | undefined;
  /** Checks one row; returns false if it was skipped. */
  const accept = (parse: () => TrainingPair, line: number): boolean => {
    try {
      const pair = parse();
      negatives ??= pair.negatives.length;
      if (pair.negatives.length !== negatives) {
        throw badRow(
          `${path}:${line}`,
          `${pair.negatives.length} negatives, but the first row has ${negatives}; give every row the same number`,
        );
      }
      return true;
    } catch (error) {
      if (!(error instanceof DataError) || badRows === 'error') throw error;
      skipped.push({ line, reason: error.message });
      return false;
    }
  };
  let columns: string[] | undefined;
  try {
    if (format === 'jsonl') await indexJsonl(path, maxRowBytes, ranges, accept);
    else columns = await indexTable(path, format === 'tsv' ? '\t' : ',', maxRowBytes, ranges, accept);
  } catch (error) {
    if (error instanceof DataError) throw error;
    throw new DataError('INVALID_FILE', `openPairs: cannot read ${path}: ${(error as Error).message}`);
  }
  check(
    ranges.size > 0,
    'INVALID_DATA',
    () => `openPairs: ${path} holds no pairs${skipped.length > 0 ? ` (all ${skipped.length} rows were bad)` : ''}.`,
  );
  const handle: FileHandle = await open(path, 'r');
  const parseRow = (text: string, line: number): TrainingPair => {
    const where = `${path}:${line}`;
    if (format === 'jsonl') return pairFromRecord(JSON.parse(text), where);
    const [values] = parseCsvSync(text, {
      delimiter: format === 'tsv' ? '\t' : ',',
      relax_quotes: false,
      skip_empty_lines: true,
    }) as string[][];
    return pairFromRecord(Object.fromEntries((columns as string[]).map((c, k) => [c, values?.[k]])), where);
  };
  const file: PairsFile = {
    path,
    format,
    size: ranges.size,
    negatives: negatives ?? 0,
    skipped,
    async read(indices) {
      const out: TrainingPair[] = [];
      for (const i of indices) {
        check(
          Number.isInteger(i) && i >= 0 && i < ranges.size,
          'INVALID_OPTION',
          () => `PairsFile.read: row ${i} is outside the file's ${ranges.size} rows.`,
        );
        const [start, end] = [ranges.starts[i] as number, ranges.ends[i] as number];
        const bytes = Buffer.alloc(end - start);
        await handle.read(bytes, 0, bytes.length, start);
        out.push(parseRow(bytes.toString('utf8'), ranges.lines[i] as number));
      }
      return out;
    },
    readAll() {
      return file.read(Array.from({ length: ranges.size }, (_, i) => i));
    },
    close: () => handle.close(),
  };
  return file;
}

/** Indexes a JSONL file line by line (bytes, so multi-byte text is no problem), checking each row. */
async function indexJsonl(
  path: string,
  maxRowBytes: number,
  ranges: Ranges,
  accept: (parse: () => TrainingPair, line: number) => boolean,
): Promise<void> {
  let line = 0;
  let start = 0; // byte offset of the current line
  let offset = 0; // byte offset of the chunk
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  const finish = (end: number): void => {
    line++;
    const bytes = Buffer.concat(pending, pendingBytes);
    pending = [];
    pendingBytes = 0;
    const text = bytes.toString('utf8').replace(/\r$/, '');
    if (text.trim() !== '') {
      const where = `${path}:${line}`;
      const parse = (): TrainingPair => {
        let record: unknown;
        try {
          record = JSON.parse(text);
        } catch (error) {
          throw badRow(where, `not JSON (${(error as Error).message})`);
        }
        return pairFromRecord(record, where);
      };
      if (accept(parse, line)) ranges.push(start, end, line);
    }
    start = end + 1;
  };
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 }) as AsyncIterable<Buffer>) {
    let from = 0;
    for (let nl = chunk.indexOf(10); nl !== -1; nl = chunk.indexOf(10, from)) {
      pending.push(chunk.subarray(from, nl));
      pendingBytes += nl - from;
      if (pendingBytes > maxRowBytes) throw badRow(`${path}:${line + 1}`, `the row is longer than maxRowBytes (${maxRowBytes} bytes)`);
      finish(offset + nl);
      from = nl + 1;
    }
    if (from < chunk.length) {
      pendingBytes += chunk.length - from;
      // A row longer than the limit is refused as soon as it is seen, not read to its end.
      if (pendingBytes > maxRowBytes) throw badRow(`${path}:${line + 1}`, `the row is longer than maxRowBytes (${maxRowBytes} bytes)`);
      pending.push(chunk.subarray(from));
    }
    offset += chunk.length;
  }
  if (pendingBytes > 0) finish(offset);
}

/** Indexes a CSV/TSV file with csv-parse (quoted fields may span lines), checking each row; returns the header. */
async function indexTable(
  path: string,
  delimiter: string,
  maxRowBytes: number,
  ranges: Ranges,
  accept: (parse: () => TrainingPair, line: number) => boolean,
): Promise<string[]> {
  const parser = createReadStream(path, { highWaterMark: 1 << 20 }).pipe(
    parseCsv({ delimiter, info: true, skip_empty_lines: true, relax_column_count: true, max_record_size: maxRowBytes }),
  ) as AsyncIterable<{ record: string[]; info: { bytes: number; lines: number } }>;
  let columns: string[] | undefined;
  let previousEnd = 0;
  let previousLines = 0;
  try {
    for await (const { record, info } of parser) {
      const [start, end, line] = [previousEnd, info.bytes, previousLines + 1];
      previousEnd = info.bytes;
      previousLines = info.lines;
      if (columns === undefined) {
        columns = record.map((c) => c.trim());
        continue;
      }
      const where = `${path}:${line}`;
      const header = columns;
      const parse = (): TrainingPair => {
        if (record.length !== header.length)
          throw badRow(where, `${record.length} fields, but the header has ${header.length} (${header.join(', ')})`);
        return pairFromRecord(Object.fromEntries(header.map((c, k) => [c, record[k]])), where);
      };
      if (accept(parse, line)) ranges.push(start, end, line);
    }
  } catch (error) {
    if (error instanceof DataError) throw error;
    const e = error as Error & { lines?: number; code?: string };
    throw badRow(
      `${path}:${e.lines ?? previousLines + 1}`,
      e.code === 'CSV_MAX_RECORD_SIZE' ? `the row is longer than maxRowBytes (${maxRowBytes} bytes)` : e.message,
    );
  }
  check(columns !== undefined, 'INVALID_DATA', () => `openPairs: ${path} is empty; a CSV/TSV file needs a header row.`);
  return columns;
}
