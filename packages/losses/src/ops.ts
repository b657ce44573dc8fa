import * as tf from '@tensorflow/tfjs-core';

/** Added to a logit to leave it out of a log-sum-exp: exp(−1e30 − max) is exactly 0 in float32. */
export const MASKED = -1e30;

/**
 * Rows scaled to unit L2 norm, as torch's F.normalize (eps 1e-12); no NaN gradient at zero rows.
 * Its gradient is written out, `dx = r·(dy − y·Σ(dy⊙y))` with r = 1/‖x‖ (`dx = r·dy` for rows
 * below eps): autodiff of the plain ops kept ~13 [rows, d] tensors alive, this keeps y and r.
 */
export const l2Normalize = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
  const [x, save] = args as [tf.Tensor2D, tf.GradSaveFunc];
  const [y, r, scaled] = tf.tidy(() => {
    const squares = tf.sum(tf.square(x), 1, true);
    const inverse = tf.rsqrt(tf.maximum(squares, 1e-24));
    return [tf.mul(x, inverse), inverse, tf.cast(tf.greater(squares, 1e-24), 'float32')];
  });
  save([y, r, scaled]);
  tf.dispose([r, scaled]);
  return {
    value: y,
    gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
      const [ys, rs, on] = saved as [tf.Tensor2D, tf.Tensor2D, tf.Tensor2D];
      // Step by step, freeing as it goes: at most two [rows, d] temporaries.
      const along = tf.tidy(() => tf.mul(tf.sum(tf.mul(dy, ys), 1, true), on));
      const radial = tf.mul(ys, along);
      const tangent = tf.sub(dy, radial);
      tf.dispose([along, radial]);
      const dx = tf.mul(tangent, rs);
      tangent.dispose();
      return dx;
    },
  };
}) as (x: tf.Tensor2D) => tf.Tensor2D;

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
