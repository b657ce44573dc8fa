import seedrandom from 'seedrandom';
import { check, checkInteger } from './errors.js';

/** The order of `size` items in one epoch: a Fisher–Yates shuffle seeded by (seed, epoch). */
export function epochOrder(size: number, seed: number, epoch: number): Int32Array {
  checkInteger('epochOrder', 'size', size, 0);
  const random = seedrandom.alea(`order:${seed}:${epoch}`);
  const order = Int32Array.from({ length: size }, (_, i) => i);
  for (let i = size - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    const t = order[i] as number;
    order[i] = order[j] as number;
    order[j] = t;
  }
  return order;
}

/** Options of epochBatches. */
export interface BatchOptions {
  /** Rows per batch. */
  batchSize: number;
  /** Shuffle seed. Default 0. */
  seed?: number;
  /** Which epoch: each has its own order. Default 0. */
  epoch?: number;
  /** Drop the last, smaller batch (contrastive losses change with the batch size). Default true. */
  dropLast?: boolean;
  /** Shuffle; false keeps the items in order (for evaluation). Default true. */
  shuffle?: boolean;
}

/** How many batches an epoch of `size` items has. */
export function batchCount(size: number, batchSize: number, dropLast = true): number {
  checkInteger('batchCount', 'size', size, 0);
  checkInteger('batchCount', 'batchSize', batchSize, 1);
  return dropLast ? Math.floor(size / batchSize) : Math.ceil(size / batchSize);
}

/**
 * The item indices of each batch of one epoch, in order: a function of (size, options) only, so a
 * run resumed at batch k of epoch e sees exactly the batches it would have seen.
 *
 * ```ts
 * for (const indices of epochBatches(pairs.length, { batchSize: 512, seed: 1, epoch })) console.log(indices.length);
 * ```
 */
export function epochBatches(size: number, options: BatchOptions): number[][] {
  const { batchSize, seed = 0, epoch = 0, dropLast = true, shuffle = true } = options;
  checkInteger('epochBatches', 'size', size, 0);
  checkInteger('epochBatches', 'batchSize', batchSize, 1);
  checkInteger('epochBatches', 'epoch', epoch, 0);
  check(
    !dropLast || size >= batchSize,
    'INVALID_OPTION',
    () =>
      `epochBatches: batchSize (${batchSize}) is larger than the data set (${size} items), so dropLast leaves no batch; lower batchSize.`,
  );
  const order = shuffle ? epochOrder(size, seed, epoch) : Int32Array.from({ length: size }, (_, i) => i);
  return Array.from({ length: batchCount(size, batchSize, dropLast) }, (_, b) =>
    Array.from(order.subarray(b * batchSize, Math.min(size, (b + 1) * batchSize))),
  );
}
