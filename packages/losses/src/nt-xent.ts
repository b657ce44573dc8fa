import * as tf from '@tensorflow/tfjs-core';
import { checkOptions, checkPositive, checkTileSize, checkViews } from './checks.js';
import { maskedLogSumExp } from './masked-log-sum-exp.js';
import { indexKeys, type PairRule, sameKey } from './pair-rules.js';
import { diagonalMask, l2Normalize } from './ops.js';

/** Options of ntXent. */
export interface NTXentOptions {
  /** Softmax temperature τ. */
  temperature: number;
  /** Compute in tiles of this many rows, never materialising the 2B×2B logits (same value and gradients). */
  tileSize?: number;
}

/**
 * The tiled form shared by ntXent, dcl and dclw: z = [ẑ1; ẑ2], each anchor's masked log-sum-exp
 * over z (itself left out, and its positive too when `decoupled`) minus its (weighted) positive
 * logit, averaged over the 2B anchors. Memory O(B·k + tile²).
 */
export function tiledTwoView(
  z1: tf.Tensor2D,
  z2: tf.Tensor2D,
  temperature: number,
  tileSize: number,
  decoupled: boolean,
  weights?: tf.Tensor1D,
): tf.Scalar {
  const b = z1.shape[0];
  const z = l2Normalize(tf.concat([z1, z2], 0));
  const index = indexKeys(2 * b);
  const exclude: PairRule[] = [sameKey(index, index)];
  const positive = sameKey([...indexKeys(b, b), ...indexKeys(b)], index); // the other view of each row
  if (decoupled) exclude.push(positive);
  const scale = tf.scalar(1 / temperature);
  if (weights === undefined) return tf.mean(maskedLogSumExp(z, z, scale, { exclude }, tileSize, positive));
  // DCLW: the weighted positive (its weight has a gradient) stays outside the kernel.
  const swapped = tf.concat([tf.slice(z, b, b), tf.slice(z, 0, b)], 0);
  const positives = tf.div(tf.sum(tf.mul(z, swapped), 1), temperature);
  return tf.mean(tf.sub(maskedLogSumExp(z, z, scale, { exclude }, tileSize), tf.mul(positives, weights)));
}

/**
 * The anchor-by-candidate cosine logits of two views: z = [ẑ1; ẑ2] (rows L2-normalised),
 * `s = z·zᵀ/τ` ([2B, 2B]), and each anchor's positive logit (the other view of its row).
 */
export function twoViewLogits(z1: tf.Tensor2D, z2: tf.Tensor2D, temperature: number): { logits: tf.Tensor2D; positives: tf.Tensor1D } {
  const b = z1.shape[0];
  const z = l2Normalize(tf.concat([z1, z2], 0));
  const swapped = tf.concat([tf.slice(z, b, b), tf.slice(z, 0, b)], 0);
  return {
    logits: tf.div(tf.matMul(z, z, false, true), temperature),
    positives: tf.div(tf.sum(tf.mul(z, swapped), 1), temperature),
  };
}

/**
 * SimCLR's NT-Xent: z = [z1; z2], cosine similarity (normalised inside), each of the 2B anchors'
 * positive is its other view and its candidates every other row (itself excluded); the mean over
 * anchors of `logsumexp_{j≠i} s[i, j] − s[i, pos(i)]`. With `tileSize`, computed block by block
 * (memory O(B·d + tileSize²), not O(B²); same value and gradients).
 *
 * ```ts
 * const loss = ntXent(view1Reps, view2Reps, { temperature: 0.5 });
 * ```
 */
export function ntXent(z1: tf.Tensor2D, z2: tf.Tensor2D, options: NTXentOptions): tf.Scalar {
  checkOptions('ntXent', options, true);
  checkViews('ntXent', z1, z2);
  checkPositive('ntXent', 'temperature', options.temperature);
  checkTileSize('ntXent', options.tileSize);
  return tf.tidy(() => {
    if (options.tileSize !== undefined) return tiledTwoView(z1, z2, options.temperature, options.tileSize, false);
    const { logits, positives } = twoViewLogits(z1, z2, options.temperature);
    const masked = tf.add(logits, diagonalMask(logits.shape[0], [0]));
    return tf.mean(tf.sub(tf.logSumExp(masked, 1), positives));
  });
}
