import * as tf from '@tensorflow/tfjs-core';
import { checkAtLeastTwoRows, checkOptions, checkPositive, checkViews } from './checks.js';
import { l2Normalize } from './ops.js';

/** Options of spectralContrastive. */
export interface SpectralContrastiveOptions {
  /** Reps with norm above √mu are projected onto the sphere of radius √mu; the loss is divided by mu. Default 1. */
  mu?: number;
}

/** Rows with norm ≥ √mu scaled back to norm √mu, as the official code. */
function project(z: tf.Tensor2D, mu: number): tf.Tensor2D {
  // 1 where ‖z‖² < mu; tf.step has a (zero) gradient, a comparison op has none.
  const inside = tf.step(tf.sub(mu, tf.sum(tf.square(z), 1, true)));
  return tf.add(tf.mul(inside, z), tf.mul(tf.sub(1, inside), tf.mul(l2Normalize(z), Math.sqrt(mu))));
}

/**
 * Spectral contrastive loss (HaoChen et al. 2021): `−2/B Σ_i z1_i·z2_i + 1/(B(B−1)) Σ_{i≠j} (z1_i·z2_j)²`,
 * divided by mu, after projecting reps onto the ball of radius √mu — as the official code. Needs B ≥ 2.
 *
 * ```ts
 * const loss = spectralContrastive(view1Reps, view2Reps);
 * ```
 */
export function spectralContrastive(z1: tf.Tensor2D, z2: tf.Tensor2D, options: SpectralContrastiveOptions = {}): tf.Scalar {
  checkOptions('spectralContrastive', options, false);
  const { mu = 1 } = options;
  checkViews('spectralContrastive', z1, z2);
  checkAtLeastTwoRows('spectralContrastive', 'z1', z1);
  checkPositive('spectralContrastive', 'mu', mu);
  return tf.tidy(() => {
    const b = z1.shape[0];
    const p1 = project(z1, mu);
    const p2 = project(z2, mu);
    const attract = tf.mul(tf.mean(tf.sum(tf.mul(p1, p2), 1)), -2);
    const squares = tf.square(tf.matMul(p1, p2, false, true));
    const offDiagonal = tf.sub(tf.sum(squares), tf.sum(tf.mul(squares, tf.eye(b))));
    const repel = tf.div(offDiagonal, b * (b - 1));
    return tf.div(tf.add(attract, repel), mu) as tf.Scalar;
  });
}
