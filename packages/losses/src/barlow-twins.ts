import * as tf from '@tensorflow/tfjs-core';
import { checkAtLeastTwoRows, checkOptions, checkPositive, checkViews } from './checks.js';

/** Options of barlowTwins. */
export interface BarlowTwinsOptions {
  /** Weight of the off-diagonal (redundancy) term. Default 0.0051, as the paper. */
  lambda?: number;
}

/** Per-dimension standardisation over the batch: biased variance, eps 1e-5 inside the sqrt. */
function standardize(z: tf.Tensor2D): tf.Tensor2D {
  const { mean, variance } = tf.moments(z, 0);
  return tf.div(tf.sub(z, mean), tf.sqrt(tf.add(variance, 1e-5)));
}

/**
 * Barlow Twins (Zbontar et al. 2021): standardise each dimension over the batch, C = ẑ1ᵀẑ2 / B
 * (the d×d cross-correlation), loss = Σ_i (1 − C_ii)² + λ Σ_{i≠j} C_ij². Needs B ≥ 2.
 *
 * ```ts
 * const loss = barlowTwins(view1Reps, view2Reps); // λ = 0.0051
 * ```
 */
export function barlowTwins(z1: tf.Tensor2D, z2: tf.Tensor2D, options: BarlowTwinsOptions = {}): tf.Scalar {
  checkOptions('barlowTwins', options, false);
  const { lambda = 0.0051 } = options;
  checkViews('barlowTwins', z1, z2);
  checkAtLeastTwoRows('barlowTwins', 'z1', z1);
  checkPositive('barlowTwins', 'lambda', lambda);
  return tf.tidy(() => {
    const c = tf.div(tf.matMul(standardize(z1), standardize(z2), true, false), z1.shape[0]);
    const diagonal = tf.mul(c, tf.eye(c.shape[0]));
    const onDiagonal = tf.sum(tf.square(tf.sub(tf.sum(diagonal, 1), 1)));
    const offDiagonal = tf.sum(tf.square(tf.sub(c, diagonal)));
    return tf.add(onDiagonal, tf.mul(offDiagonal, lambda));
  });
}
