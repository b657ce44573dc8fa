import * as tf from '@tensorflow/tfjs-core';
import { checkOptions, checkPositive, checkViews } from './checks.js';
import { diagonalMask, l2Normalize } from './ops.js';

/** Options of ntXent and dcl. */
export interface NTXentOptions {
  /** Softmax temperature τ. */
  temperature: number;
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
 * anchors of `logsumexp_{j≠i} s[i, j] − s[i, pos(i)]`.
 *
 * ```ts
 * const loss = ntXent(view1Reps, view2Reps, { temperature: 0.5 });
 * ```
 */
export function ntXent(z1: tf.Tensor2D, z2: tf.Tensor2D, options: NTXentOptions): tf.Scalar {
  checkOptions('ntXent', options, true);
  checkViews('ntXent', z1, z2);
  checkPositive('ntXent', 'temperature', options.temperature);
  return tf.tidy(() => {
    const { logits, positives } = twoViewLogits(z1, z2, options.temperature);
    const masked = tf.add(logits, diagonalMask(logits.shape[0], [0]));
    return tf.mean(tf.sub(tf.logSumExp(masked, 1), positives));
  });
}
