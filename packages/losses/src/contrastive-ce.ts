import * as tf from '@tensorflow/tfjs-core';
import { maskedLogSumExp } from './masked-log-sum-exp.js';
import { indexKeys, sameKey } from './pair-rules.js';

/**
 * The definition InfoNCE, CLIP and their tiled variants share:
 *
 *   mean_i [ logsumexp_j (s·q_i·d_j) − s·q_i·d_{g·i} ],  q: [B, k], d: [g·B, k], s a scalar,
 *
 * a cross-entropy of each query against every row of d whose target is the first row of its group
 * of g rows (g = 1 + hard negatives). Written once untiled (plain ops, autodiff) and once tiled.
 */
export function contrastiveCrossEntropy(q: tf.Tensor2D, d: tf.Tensor2D, scale: tf.Scalar, group: number): tf.Scalar {
  return tf.tidy(() => {
    const logits = tf.mul(tf.matMul(q, d, false, true), scale);
    const positives = tf.mul(tf.sum(tf.mul(q, groupHeads(d, group)), 1), scale);
    return tf.mean(tf.sub(tf.logSumExp(logits, 1), positives));
  });
}

/** Row g·i of d for every i: [g·B, k] → [B, k], by reshape and slice (no gather, whose gradient wasm lacks). */
export function groupHeads(d: tf.Tensor2D, group: number): tf.Tensor2D {
  if (group === 1) return d;
  const [rows, width] = d.shape;
  const grouped = tf.reshape(d, [rows / group, group, width]);
  return tf.reshape(tf.slice(grouped, [0, 0, 0], [rows / group, 1, width]), [rows / group, width]);
}

/**
 * contrastiveCrossEntropy computed tile by tile: each query's cross-entropy against its positive
 * from the masked log-sum-exp kernel (streaming over tile×tile blocks, custom gradient; no pair
 * masked). Never holds more than a few tile×tile blocks: memory O((B + N)·k + tileSize²) instead of
 * O(B·N). Gradients flow to q, d and the scale.
 */
export function tiledContrastiveCrossEntropy(q: tf.Tensor2D, d: tf.Tensor2D, scale: tf.Scalar, group: number, tileSize: number): tf.Scalar {
  return tf.tidy(() => {
    const positive = sameKey(indexKeys(q.shape[0], 0, group), indexKeys(d.shape[0]));
    return tf.mean(maskedLogSumExp(q, d, scale, { exclude: [] }, tileSize, positive));
  });
}
