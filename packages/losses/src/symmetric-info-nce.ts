import * as tf from '@tensorflow/tfjs-core';
import { check } from './errors.js';
import { checkOptions, checkReps, checkTemperature, checkTileSize, shapeOf } from './checks.js';
import { tiledContrastiveCrossEntropy } from './contrastive-ce.js';
import { inverseTemperature } from './ops.js';

/** CLIP's cap on the logit scale (exp(logitScale) ≤ 100). */
export const MAX_LOGIT_SCALE = 100;

/** Options of symmetricInfoNCE: a temperature, or CLIP's learnable log logit scale. */
export interface SymmetricInfoNCEOptions {
  /** Softmax temperature τ (logits = q·dᵀ/τ): a number or a scalar tensor. */
  temperature?: number | tf.Scalar;
  /**
   * CLIP's learnable scale instead: logits = min(exp(logitScale), 100)·q·dᵀ. Pass a scalar variable
   * (CLIP initialises it to log(1/0.07)); GradCache returns its gradient with the encoders'.
   */
  logitScale?: tf.Scalar;
  /** Compute in tiles of this many rows, never materialising the B×B logits. */
  tileSize?: number;
}

/**
 * CLIP's symmetric InfoNCE: ½ (cross-entropy over rows + cross-entropy over columns) of the B×B
 * logits of q·dᵀ, the positive of row i being column i. No normalisation inside.
 *
 * ```ts
 * const logitScale = tf.variable(tf.scalar(Math.log(1 / 0.07)));
 * const loss = symmetricInfoNCE(imageReps, textReps, { logitScale });
 * ```
 */
export function symmetricInfoNCE(q: tf.Tensor2D, d: tf.Tensor2D, options: SymmetricInfoNCEOptions): tf.Scalar {
  checkOptions('symmetricInfoNCE', options, true);
  const { temperature, logitScale, tileSize } = options;
  checkReps('symmetricInfoNCE', 'q', q);
  checkReps('symmetricInfoNCE', 'd', d);
  check(
    (temperature === undefined) !== (logitScale === undefined),
    'INVALID_OPTION',
    () => 'symmetricInfoNCE: pass exactly one of temperature and logitScale.',
  );
  if (temperature !== undefined) checkTemperature('symmetricInfoNCE', temperature);
  if (logitScale !== undefined) {
    check(
      logitScale instanceof tf.Tensor && logitScale.rank === 0,
      'INVALID_OPTION',
      () => 'symmetricInfoNCE: logitScale must be a scalar tensor.',
    );
  }
  checkTileSize('symmetricInfoNCE', tileSize);
  check(
    tf.util.arraysEqual(q.shape, d.shape),
    q.shape[1] === d.shape[1] ? 'ROW_COUNT' : 'WIDTH_MISMATCH',
    () => `symmetricInfoNCE: q and d must have the same shape (pair i is q[i], d[i]), got q ${shapeOf(q)} and d ${shapeOf(d)}.`,
  );
  return tf.tidy(() => {
    const scale =
      logitScale === undefined
        ? inverseTemperature(temperature as number | tf.Scalar)
        : (tf.minimum(tf.exp(logitScale), MAX_LOGIT_SCALE) as tf.Scalar);
    if (tileSize !== undefined) {
      const rows = tiledContrastiveCrossEntropy(q, d, scale, 1, tileSize);
      return tf.mul(tf.add(rows, tiledContrastiveCrossEntropy(d, q, scale, 1, tileSize)), 0.5);
    }
    // One B×B matrix: log-sum-exp over its rows and over its columns share the diagonal positives.
    const logits = tf.mul(tf.matMul(q, d, false, true), scale);
    const positives = tf.mul(tf.sum(tf.mul(q, d), 1), scale);
    const rows = tf.sub(tf.logSumExp(logits, 1), positives);
    const columns = tf.sub(tf.logSumExp(logits, 0), positives);
    return tf.mul(tf.add(tf.mean(rows), tf.mean(columns)), 0.5);
  });
}
