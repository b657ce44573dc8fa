import * as tf from '@tensorflow/tfjs-core';

/** Added to a logit to leave it out of a log-sum-exp: exp(−1e30 − max) is exactly 0 in float32. */
export const MASKED = -1e30;

/** Rows scaled to unit L2 norm, as torch's F.normalize (eps 1e-12); no NaN gradient at zero rows. */
export function l2Normalize(x: tf.Tensor2D): tf.Tensor2D {
  return tf.mul(x, tf.rsqrt(tf.maximum(tf.sum(tf.square(x), 1, true), 1e-24)));
}

/** The identity with no gradient: for tensors a loss reads but must not train (a MoCo queue). */
export const stopGradient = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => ({
  value: tf.clone(args[0] as tf.Tensor),
  gradFunc: (dy: tf.Tensor) => tf.zerosLike(dy),
})) as <T extends tf.Tensor>(x: T) => T;

/** 1 / temperature as a scalar tensor, so that a learnable temperature gets its gradient. */
export function inverseTemperature(temperature: number | tf.Scalar): tf.Scalar {
  return temperature instanceof tf.Tensor ? tf.div(1, temperature) : tf.scalar(1 / temperature);
}

/** An additive [n, n] mask: MASKED on the diagonal (k = 0) or the k-th diagonal (wrapping), 0 elsewhere. */
export function diagonalMask(n: number, offsets: readonly number[]): tf.Tensor2D {
  const values = new Float32Array(n * n);
  for (let i = 0; i < n; i++) for (const k of offsets) values[i * n + ((i + k) % n)] = MASKED;
  return tf.tensor2d(values, [n, n]);
}
