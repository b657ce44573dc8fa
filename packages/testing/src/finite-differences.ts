import * as tf from '@tensorflow/tfjs-core';
import { expectClose } from './close.js';

/**
 * Central finite differences of a scalar function of some tensors, element by element:
 * (f(x + ε·e_k) − f(x − ε·e_k)) / 2ε. For tiny inputs only (two evaluations per element).
 */
export function finiteDifferences(f: (...xs: tf.Tensor[]) => tf.Scalar, xs: tf.Tensor[], eps: number): tf.Tensor[] {
  const evaluate = (inputs: tf.Tensor[]): number => tf.tidy(() => f(...inputs).dataSync()[0] as number);
  return xs.map((x, which) => {
    const base = x.dataSync().slice() as Float32Array;
    const grad = new Float32Array(base.length);
    for (let k = 0; k < base.length; k++) {
      const shifted = (delta: number): number => {
        const values = base.slice();
        values[k] = (values[k] as number) + delta;
        const moved = tf.tensor(values, x.shape, 'float32');
        const value = evaluate(xs.map((y, i) => (i === which ? moved : y)));
        moved.dispose();
        return value;
      };
      grad[k] = (shifted(eps) - shifted(-eps)) / (2 * eps);
    }
    return tf.tensor(grad, x.shape, 'float32');
  });
}

/**
 * Checks autodiff gradients of `f` against central finite differences, within `tol·max|g|` per
 * input. Float32 rounding in the differences is about 1e-7·|f|/ε, so ε ≈ 1e-2 and tol ≈ 1e-2 suit
 * smooth losses of O(1).
 */
export function expectGradsMatchFiniteDifferences(
  f: (...xs: tf.Tensor[]) => tf.Scalar,
  xs: tf.Tensor[],
  { eps = 1e-2, tol = 1e-2 }: { eps?: number; tol?: number } = {},
): void {
  const analytic = tf.grads(f)(xs);
  const numeric = finiteDifferences(f, xs, eps);
  try {
    analytic.forEach((g, i) => expectClose(g, numeric[i] as tf.Tensor, tol, `gradient of input ${i} vs finite differences`));
  } finally {
    tf.dispose([analytic, numeric]);
  }
}
