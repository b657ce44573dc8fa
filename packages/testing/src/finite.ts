import * as tf from '@tensorflow/tfjs-core';
import { expectNoLeaks } from './leaks.js';

/**
 * Evaluates `f` and its gradients with respect to `xs`, checks that all are finite and that nothing
 * leaked, and returns the value.
 */
export function expectFiniteWithGrads(f: (...xs: tf.Tensor[]) => tf.Scalar, xs: tf.Tensor[]): number {
  let value = NaN;
  expectNoLeaks(() => {
    const { value: v, grads } = tf.valueAndGrads(f)(xs);
    try {
      value = v.dataSync()[0] as number;
      if (!Number.isFinite(value)) throw new Error(`the value is ${value}`);
      grads.forEach((g, i) => {
        if (!g.dataSync().every(Number.isFinite)) throw new Error(`the gradient of input ${i} is not finite`);
      });
    } finally {
      tf.dispose([v, grads]);
    }
  }, 'the loss and its gradients');
  return value;
}
