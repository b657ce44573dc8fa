import * as tf from '@tensorflow/tfjs-core';
import { check } from './errors.js';
import { checkOptions, checkReps, checkTemperature, checkTileSize, shapeOf } from './checks.js';
import { contrastiveCrossEntropy, tiledContrastiveCrossEntropy } from './contrastive-ce.js';
import { inverseTemperature } from './ops.js';

/** Options of infoNCE. */
export interface InfoNCEOptions {
  /** Softmax temperature τ: a number, or a scalar tensor (e.g. `tf.exp(logTau)`) to learn it. */
  temperature: number | tf.Scalar;
  /** Hard negatives per query: d holds 1 + h rows per query, its positive first. Default 0. */
  hardNegatives?: number;
  /** Compute in tiles of this many rows, never materialising the B×N logits (same value and gradients). */
  tileSize?: number;
}

/**
 * DPR-style InfoNCE with in-batch and hard negatives: each query is scored against every row of d,
 * `s = q·dᵀ/τ`, and the loss is the mean over queries of `logsumexp_j s[i, j] − s[i, i(1+h)]`.
 * Rows `i(1+h) … i(1+h)+h` of d belong to query i, the first being its positive. No normalisation
 * inside: normalise the reps first for cosine similarity. With `tileSize`, the loss and its
 * gradients are computed block by block (memory O((B + N)·d + tileSize²), not O(B·N)).
 *
 * ```ts
 * const loss = infoNCE(q, d, { temperature: 0.05, hardNegatives: 1 }); // q: [B, d], d: [2B, d]
 * ```
 */
export function infoNCE(q: tf.Tensor2D, d: tf.Tensor2D, options: InfoNCEOptions): tf.Scalar {
  checkOptions('infoNCE', options, true);
  const { temperature, hardNegatives = 0, tileSize } = options;
  checkReps('infoNCE', 'q', q);
  checkReps('infoNCE', 'd', d);
  checkTemperature('infoNCE', temperature);
  checkTileSize('infoNCE', tileSize);
  check(
    Number.isInteger(hardNegatives) && hardNegatives >= 0,
    'INVALID_OPTION',
    () => `infoNCE: hardNegatives must be a non-negative integer, got ${String(hardNegatives)}.`,
  );
  check(
    q.shape[1] === d.shape[1],
    'WIDTH_MISMATCH',
    () => `infoNCE: q and d must have the same width, got q ${shapeOf(q)} and d ${shapeOf(d)}.`,
  );
  const group = 1 + hardNegatives;
  check(
    d.shape[0] === q.shape[0] * group,
    'ROW_COUNT',
    () =>
      `infoNCE: d must have B·(1 + hardNegatives) = ${q.shape[0]}·${group} = ${q.shape[0] * group} rows, ` +
      `got ${d.shape[0]}; give each query its positive and ${hardNegatives} hard negatives, in order.`,
  );
  return tf.tidy(() => {
    const scale = inverseTemperature(temperature);
    return tileSize === undefined
      ? contrastiveCrossEntropy(q, d, scale, group)
      : tiledContrastiveCrossEntropy(q, d, scale, group, tileSize);
  });
}
