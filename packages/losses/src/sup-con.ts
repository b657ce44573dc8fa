import * as tf from '@tensorflow/tfjs-core';
import { check } from './errors.js';
import { checkOptions, checkPositive, checkReps, checkTileSize } from './checks.js';
import { maskedLogSumExp } from './masked-log-sum-exp.js';
import { maskedMeanLogit } from './masked-mean-logit.js';
import { indexKeys, type Keys, sameKey } from './pair-rules.js';
import { diagonalMask, l2Normalize } from './ops.js';

/** Options of supCon. */
export interface SupConOptions {
  /** Softmax temperature τ. Default 0.07. */
  temperature?: number;
  /** The loss is scaled by τ / baseTemperature, as the official code. Default 0.07. */
  baseTemperature?: number;
  /** Compute in tiles of this many rows, never materialising the n×n logits or label mask (same value and gradients). */
  tileSize?: number;
}

/**
 * Supervised contrastive loss (Khosla et al. 2020), "all" anchors as the official code: rows of z
 * (all views stacked, normalised inside) with `labels`; for anchor i the positives P(i) are the
 * other rows with its label, the candidates every other row; loss_i = −(τ/τ_base)·mean_{p∈P(i)}
 * log softmax_{a≠i}(s[i, a])[p]; the mean over all anchors (an anchor without positives counts 0).
 * Pass labels through GradCache's `extra`. With `tileSize`, computed block by block (memory
 * O(n·d + tileSize²), not O(n²); same value and gradients).
 *
 * ```ts
 * const gradCache = new GradCache<tf.Tensor1D>({ encoders: [encoder], chunkSize: 64, loss: ([z], labels) => supCon(z!, labels!) });
 * ```
 */
export function supCon(z: tf.Tensor2D, labels: readonly number[] | tf.Tensor1D | undefined, options: SupConOptions = {}): tf.Scalar {
  checkOptions('supCon', options, false);
  const { temperature = 0.07, baseTemperature = 0.07, tileSize } = options;
  checkReps('supCon', 'z', z);
  checkPositive('supCon', 'temperature', temperature);
  checkPositive('supCon', 'baseTemperature', baseTemperature);
  checkTileSize('supCon', tileSize);
  check(
    !(labels instanceof tf.Tensor && labels.isDisposed),
    'LABELS_LENGTH',
    () => 'supCon: labels is a disposed tensor; pass live labels (or an array of numbers) as extra.',
  );
  const n = z.shape[0];
  const rows = labels instanceof tf.Tensor ? (labels.rank === 1 ? labels.shape[0] : undefined) : labels?.length;
  check(
    (labels instanceof tf.Tensor || Array.isArray(labels)) && rows === n,
    'LABELS_LENGTH',
    () =>
      `supCon: labels must hold one label per row of z (${n}), got ` +
      `${labels === undefined ? 'none (pass them as extra)' : labels instanceof tf.Tensor ? `a tensor of shape [${labels.shape}]` : Array.isArray(labels) ? labels.length : String(labels)}.`,
  );
  // Built without reading a labels tensor back (a GPU backend would stall, or fail in Node).
  const positiveMask = (): tf.Tensor2D => {
    if (!(labels instanceof tf.Tensor)) {
      const positives = new Float32Array(n * n);
      for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) if (i !== j && labels?.[i] === labels?.[j]) positives[i * n + j] = 1;
      return tf.tensor2d(positives, [n, n]);
    }
    const same = tf.cast(tf.equal(tf.expandDims(labels, 1), tf.expandDims(labels, 0)), 'float32');
    return tf.mul(same, tf.sub(1, tf.eye(n))) as tf.Tensor2D;
  };
  if (tileSize !== undefined) {
    return tf.tidy(() => {
      // −mean_p log softmax_p = lse_i − mean_{p∈P(i)} s_ip, for anchors with a positive.
      const zn = l2Normalize(z);
      const index = indexKeys(n);
      const mask = { exclude: [sameKey(index, index)] };
      const scale = tf.scalar(1 / temperature);
      const lse = maskedLogSumExp(zn, zn, scale, mask, tileSize);
      const { mean, count } = maskedMeanLogit(zn, zn, scale, sameKey(labels as Keys, labels as Keys), mask, tileSize);
      const active = tf.minimum(count, 1);
      return tf.mul(tf.mean(tf.mul(tf.sub(lse, mean), active)), temperature / baseTemperature) as tf.Scalar;
    });
  }
  return tf.tidy(() => {
    const zn = l2Normalize(z);
    const logits = tf.div(tf.matMul(zn, zn, false, true), temperature);
    const logProb = tf.sub(logits, tf.logSumExp(tf.add(logits, diagonalMask(n, [0])), 1, true));
    const mask = positiveMask();
    const count = tf.maximum(tf.sum(mask, 1), 1);
    const meanLogProb = tf.div(tf.sum(tf.mul(mask, logProb), 1), count);
    return tf.mul(tf.mean(meanLogProb), -temperature / baseTemperature) as tf.Scalar;
  });
}
