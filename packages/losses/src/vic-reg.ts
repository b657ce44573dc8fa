import * as tf from '@tensorflow/tfjs-core';
import { check } from './errors.js';
import { checkAtLeastTwoRows, checkOptions, checkViews } from './checks.js';

/** Options of vicReg: the three coefficients of the official code. */
export interface VICRegOptions {
  /** Weight of the invariance (MSE) term. Default 25. */
  simCoeff?: number;
  /** Weight of the variance (std hinge) term. Default 25. */
  stdCoeff?: number;
  /** Weight of the covariance term. Default 1. */
  covCoeff?: number;
}

/** One branch's variance and covariance terms, as the official code. */
function branchTerms(z: tf.Tensor2D): { std: tf.Scalar; cov: tf.Scalar } {
  const [b, d] = z.shape;
  const centered = tf.sub(z, tf.mean(z, 0));
  const unbiasedVariance = tf.div(tf.sum(tf.square(centered), 0), b - 1);
  const std = tf.mean(tf.relu(tf.sub(1, tf.sqrt(tf.add(unbiasedVariance, 1e-4)))));
  const covariance = tf.div(tf.matMul(centered, centered, true, false), b - 1);
  const offDiagonal = tf.sub(covariance, tf.mul(covariance, tf.eye(d)));
  return { std: std as tf.Scalar, cov: tf.div(tf.sum(tf.square(offDiagonal)), d) as tf.Scalar };
}

/**
 * VICReg (Bardes et al. 2022), as the official code: invariance = MSE(z1, z2); variance = mean
 * hinge `relu(1 − sqrt(var + 1e-4))` with the unbiased variance, averaged over the two branches
 * (½ each); covariance = sum of squared off-diagonal covariances / d, summed over the branches.
 * Needs B ≥ 2.
 *
 * ```ts
 * const loss = vicReg(view1Reps, view2Reps); // 25, 25, 1
 * ```
 */
export function vicReg(z1: tf.Tensor2D, z2: tf.Tensor2D, options: VICRegOptions = {}): tf.Scalar {
  checkOptions('vicReg', options, false);
  const { simCoeff = 25, stdCoeff = 25, covCoeff = 1 } = options;
  checkViews('vicReg', z1, z2);
  checkAtLeastTwoRows('vicReg', 'z1', z1);
  for (const [name, value] of Object.entries({ simCoeff, stdCoeff, covCoeff })) {
    check(Number.isFinite(value) && value >= 0, 'INVALID_OPTION', () => `vicReg: ${name} must be a finite number ≥ 0, got ${value}.`);
  }
  return tf.tidy(() => {
    const invariance = tf.mean(tf.square(tf.sub(z1, z2)));
    const a = branchTerms(z1);
    const b = branchTerms(z2);
    return tf.addN([
      tf.mul(invariance, simCoeff),
      tf.mul(tf.mul(tf.add(a.std, b.std), 0.5), stdCoeff),
      tf.mul(tf.add(a.cov, b.cov), covCoeff),
    ]) as tf.Scalar;
  });
}
