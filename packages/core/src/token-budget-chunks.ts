import * as tf from '@tensorflow/tfjs-core';
import { check, describe } from './errors.js';
import type { Batch } from './types.js';

/** Options of tokenBudgetChunks. */
export interface TokenBudgetOptions {
  /** Padded tokens per chunk: rows × the chunk's longest row. At least one row per chunk. */
  maxTokens: number;
  /** The record key of the attention mask (1 for tokens, 0 for padding). Default 'attentionMask'. */
  maskKey?: string;
  /** Cut each chunk's sequence tensors to its longest row (right-padded batches only). Default true. */
  trimPadding?: boolean;
}

/**
 * A `chunkInput` for text: chunks by tokens, not rows. Rows are taken in order while the chunk's
 * padded size (rows × its longest row) stays within `maxTokens`, and each chunk's sequence tensors
 * (those whose second dimension is the sequence length) are cut to its longest row — short texts
 * make big chunks, long ones small, and no chunk computes over the batch's worst-case padding
 * (sentence-transformers measured 1.4× throughput from this). Exact: masked attention and masked
 * pooling never read the trimmed padding. GradCache's `chunkSize` is not used with it.
 *
 * ```ts
 * new GradCache({ encoders: [queryEncoder, docEncoder], chunkSize: 1, chunkInput: tokenBudgetChunks({ maxTokens: 4096 }), loss });
 * ```
 */
export function tokenBudgetChunks(options: TokenBudgetOptions): (batch: Batch) => Batch[] {
  const { maxTokens, maskKey = 'attentionMask', trimPadding = true } = options;
  check(
    Number.isInteger(maxTokens) && maxTokens > 0,
    'INVALID_OPTION',
    () => `tokenBudgetChunks: maxTokens must be a positive integer, got ${describe(maxTokens)}.`,
  );
  return (batch) => {
    const record = batch as Readonly<Record<string, tf.Tensor>>;
    const mask = record[maskKey];
    check(
      !(batch instanceof tf.Tensor) && !Array.isArray(batch) && mask instanceof tf.Tensor && mask.rank === 2,
      'INVALID_CHUNKS',
      () =>
        `tokenBudgetChunks: the batch must be a record with a [rows, length] '${maskKey}' (as a tokenizer returns), got ${describe(batch)}.`,
    );
    const [rows, length] = mask.shape as [number, number];
    const values = mask.dataSync();
    const lengths: number[] = [];
    let rightPadded = true;
    for (let r = 0; r < rows; r++) {
      let last = 0;
      let count = 0;
      for (let t = 0; t < length; t++) {
        if ((values[r * length + t] as number) !== 0) {
          last = t + 1;
          count++;
        }
      }
      if (count !== last) rightPadded = false;
      lengths.push(Math.max(1, last));
    }
    const chunks: Batch[] = [];
    for (let begin = 0; begin < rows; ) {
      let size = 1;
      let longest = lengths[begin] as number;
      while (begin + size < rows && (size + 1) * Math.max(longest, lengths[begin + size] as number) <= maxTokens) {
        longest = Math.max(longest, lengths[begin + size] as number);
        size++;
      }
      const width = trimPadding && rightPadded ? longest : length;
      chunks.push(
        Object.fromEntries(
          Object.entries(record).map(([key, t]) => {
            const sliced = tf.slice(t, begin, size);
            if (width === length || t.rank < 2 || t.shape[1] !== length) return [key, sliced];
            const trimmed = tf.slice(sliced, new Array<number>(t.rank).fill(0), [size, width, ...t.shape.slice(2)]);
            sliced.dispose();
            return [key, trimmed];
          }),
        ),
      );
      begin += size;
    }
    return chunks;
  };
}
