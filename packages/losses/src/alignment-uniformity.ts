import * as tf from '@tensorflow/tfjs-core';
import { checkAtLeastTwoRows, checkOptions, checkPositive, checkReps, checkViews } from './checks.js';
import { MASKED } from './ops.js';

/** Options of alignment. */
export interface AlignmentOptions {
  /** Exponent of the distance. Default 2. */
  alpha?: number;
}

/** Options of uniformity. */
export interface UniformityOptions {
  /** Scale of the Gaussian potential. Default 2. */
  t?: number;
}

/**
 * Alignment (Wang & Isola 2020): `mean_i ‖z1_i − z2_i‖₂^α` over positive pairs (α = 2 by default).
 * Reps are used as given: normalise them first, as the paper does.
 *
 * ```ts
 * const loss = tf.add(alignment(z1, z2), tf.mul(tf.add(uniformity(z1), uniformity(z2)), 0.5));
 * ```
 */
export function alignment(z1: tf.Tensor2D, z2: tf.Tensor2D, options: AlignmentOptions = {}): tf.Scalar {
  checkOptions('alignment', options, false);
  const { alpha = 2 } = options;
  checkViews('alignment', z1, z2);
  checkPositive('alignment', 'alpha', alpha);
  return tf.tidy(() => {
    const squared = tf.sum(tf.square(tf.sub(z1, z2)), 1);
    // ‖x‖^α = (‖x‖²)^(α/2); for α = 2 no power at all (and no infinite gradient at 0).
    return tf.mean(alpha === 2 ? squared : tf.pow(squared, alpha / 2));
  });
}

/**
 * Uniformity (Wang & Isola 2020): `log mean_{i<j} exp(−t·‖z_i − z_j‖²)` over all pairs of rows
 * (t = 2 by default), computed as a log-sum-exp. Needs B ≥ 2.
 */
export function uniformity(z: tf.Tensor2D, options: UniformityOptions = {}): tf.Scalar {
  checkOptions('uniformity', options, false);
  const { t = 2 } = options;
  checkReps('uniformity', 'z', z);
  checkAtLeastTwoRows('uniformity', 'z', z);
  checkPositive('uniformity', 't', t);
  return tf.tidy(() => {
    const b = z.shape[0];
    const norms = tf.sum(tf.square(z), 1, true);
    const squaredDistances = tf.sub(tf.add(norms, tf.transpose(norms)), tf.mul(tf.matMul(z, z, false, true), 2));
    const upper = new Float32Array(b * b).map((_, k) => (k % b > Math.floor(k / b) ? 0 : MASKED));
    const pairs = tf.add(tf.mul(squaredDistances, -t), tf.tensor2d(upper, [b, b]));
    return tf.sub(tf.logSumExp(pairs), Math.log((b * (b - 1)) / 2)) as tf.Scalar;
  });
}
