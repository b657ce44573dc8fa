import * as tf from '@tensorflow/tfjs-core';
import { check, describe } from './errors.js';
import type { Batch, ChunkInput } from './types.js';

/** Rows `begin … begin + size − 1` of a batch. */
export interface ChunkRange {
  readonly begin: number;
  readonly size: number;
}

/** The tensors of a batch, in order (array order, or record key order). */
export function batchTensors(batch: Batch): tf.Tensor[] {
  if (batch instanceof tf.Tensor) return [batch];
  return Array.isArray(batch) ? [...(batch as readonly tf.Tensor[])] : Object.values(batch);
}

/**
 * The batch size of `batch` (its tensors' shared first dimension), checked: at least one tensor,
 * every tensor of rank ≥ 1, all agreeing, and not zero. `fn` and `arg` name the caller and the
 * argument in messages.
 */
export function batchSize(batch: Batch, fn: string, arg: string): number {
  const where = `${fn}: ${arg}`;
  check(
    batch instanceof tf.Tensor || (typeof batch === 'object' && batch !== null),
    'INVALID_INPUT',
    () => `${where} must be a tensor, an array of tensors or a record of tensors, got ${describe(batch)}.`,
  );
  const entries: [string, unknown][] =
    batch instanceof tf.Tensor
      ? [['', batch]]
      : Array.isArray(batch)
        ? batch.map((t, i): [string, unknown] => [`[${i}]`, t])
        : Object.entries(batch).map(([k, t]): [string, unknown] => [`.${k}`, t]);
  check(entries.length > 0, 'INVALID_INPUT', () => `${where} holds no tensors; pass at least one.`);
  let size: number | undefined;
  let first = '';
  for (const [key, t] of entries) {
    check(
      t instanceof tf.Tensor && t.rank >= 1 && !t.isDisposed,
      'INVALID_INPUT',
      () =>
        `${where}${key} must be a live tensor of rank ≥ 1 whose first dimension is the batch, got ` +
        `${t instanceof tf.Tensor ? (t.isDisposed ? 'a disposed tensor' : `a rank-${t.rank} tensor`) : describe(t)}.`,
    );
    const rows = t.shape[0] as number;
    if (size === undefined) {
      size = rows;
      first = key;
    } else {
      const expected = size;
      check(
        rows === expected,
        'BATCH_SIZE_MISMATCH',
        () =>
          `${where}${key} has ${rows} rows but ${arg}${first} has ${expected}; every tensor of one ` +
          'batch must share its first (batch) dimension.',
      );
    }
  }
  check(size !== undefined && size > 0, 'EMPTY_BATCH', () => `${where} has batch size 0; pass at least one row.`);
  return size;
}

/** Consecutive ranges of at most `chunkSize` rows covering `batchSize` rows; the last may be short. */
export function chunkRanges(batchSize: number, chunkSize: number): ChunkRange[] {
  check(
    Number.isInteger(batchSize) && batchSize >= 0,
    'INVALID_INPUT',
    () => `chunkRanges: batchSize must be a non-negative integer, got ${describe(batchSize)}.`,
  );
  checkChunkSize('chunkRanges', chunkSize);
  const ranges: ChunkRange[] = [];
  for (let begin = 0; begin < batchSize; begin += chunkSize) {
    ranges.push({ begin, size: Math.min(chunkSize, batchSize - begin) });
  }
  return ranges;
}

/** A copy of `batch` in its own shape (tensor, array or record); copies share the data (tf.clone). */
export function cloneBatch(batch: Batch): Batch {
  if (batch instanceof tf.Tensor) return tf.clone(batch);
  if (Array.isArray(batch)) return (batch as readonly tf.Tensor[]).map((t) => tf.clone(t));
  return Object.fromEntries(Object.entries(batch).map(([k, t]) => [k, tf.clone(t)]));
}

/** Rows `range` of every tensor of `batch`, in the batch's own shape (tensor, array or record). */
export function sliceBatch(batch: Batch, range: ChunkRange): Batch {
  const rows = batchSize(batch, 'sliceBatch', 'batch');
  check(
    typeof range === 'object' &&
      range !== null &&
      Number.isInteger(range.begin) &&
      Number.isInteger(range.size) &&
      range.begin >= 0 &&
      range.size > 0 &&
      range.begin + range.size <= rows,
    'INVALID_INPUT',
    () => `sliceBatch: range must be { begin, size } of whole numbers inside the batch's ${rows} rows, got ${describe(range)}.`,
  );
  const take = (t: tf.Tensor): tf.Tensor => tf.slice(t, range.begin, range.size);
  if (batch instanceof tf.Tensor) return take(batch);
  if (Array.isArray(batch)) return (batch as readonly tf.Tensor[]).map(take);
  return Object.fromEntries(Object.entries(batch).map(([k, t]) => [k, take(t)]));
}

/**
 * Cuts a batch into chunks of at most `chunkSize` rows along the first dimension; what GradCache
 * does when no `chunkInput` is given. The caller owns the returned tensors.
 *
 * ```ts
 * const chunks = chunkBatch({ ids, mask }, 32); // [{ ids: ids[0:32], mask: mask[0:32] }, …]
 * ```
 */
export function chunkBatch(batch: Batch, chunkSize: number): Batch[] {
  checkChunkSize('chunkBatch', chunkSize);
  return chunkRanges(batchSize(batch, 'chunkBatch', 'batch'), chunkSize).map((r) => sliceBatch(batch, r));
}

function checkChunkSize(fn: string, chunkSize: number): void {
  check(
    Number.isInteger(chunkSize) && chunkSize > 0,
    'INVALID_CHUNK_SIZE',
    () => `${fn}: chunkSize must be a positive integer, got ${describe(chunkSize)}.`,
  );
}

/** One encoder's batch cut into chunks. */
export interface ChunkPlan {
  /** Rows of each chunk. */
  readonly sizes: readonly number[];
  /** Chunk j: a new slice for the default chunking (the caller's tidy frees it), a stored one for a custom `chunkInput`. */
  take(j: number): Batch;
  /** Frees the chunks a custom `chunkInput` made (never the batch's own tensors); a no-op for the default. */
  dispose(): void;
}

/**
 * Plans the chunks of encoder i's batch of `rows` rows: lazy slices by default, or the chunks a
 * custom `chunkInput` returns, checked to cover exactly the batch's rows (on failure they are freed).
 */
export function planChunks(batch: Batch, rows: number, chunkSize: number, i: number, chunkInput: ChunkInput | undefined): ChunkPlan {
  if (chunkInput === undefined) {
    const ranges = chunkRanges(rows, chunkSize);
    return { sizes: ranges.map((r) => r.size), take: (j) => sliceBatch(batch, ranges[j] as ChunkRange), dispose: () => {} };
  }
  const chunks = chunkInput(batch, chunkSize);
  const own = new Set(batchTensors(batch));
  const dispose = (): void => {
    if (!Array.isArray(chunks)) return;
    const tensors = chunks.flatMap((c: unknown) =>
      c instanceof tf.Tensor ? [c] : typeof c === 'object' && c !== null ? Object.values(c) : [],
    );
    tf.dispose(tensors.filter((t): t is tf.Tensor => t instanceof tf.Tensor && !own.has(t)));
  };
  try {
    check(
      Array.isArray(chunks) && chunks.length > 0,
      'INVALID_CHUNKS',
      () => `GradCache: chunkInput for encoder ${i} must return a non-empty array of batches, got ${describe(chunks)}.`,
    );
    const sizes = chunks.map((c, j) => batchSize(c, 'GradCache', `chunkInput(inputs[${i}])[${j}]`));
    const covered = sizes.reduce((a, b) => a + b, 0);
    check(
      covered === rows,
      'INVALID_CHUNKS',
      () =>
        `GradCache: chunkInput for encoder ${i} returned chunks of ${sizes.join(' + ')} = ${covered} rows for a batch ` +
        `of ${rows}; the chunks must cover every row exactly once, in order.`,
    );
    return { sizes, take: (j) => chunks[j] as Batch, dispose };
  } catch (error) {
    dispose();
    throw error;
  }
}
