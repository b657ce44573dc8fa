import * as tf from '@tensorflow/tfjs-core';
import { functionEncoder, type Encoder } from '@gradcache/core';

/** An MLP tower (tanh hidden layers, L2-normalised output) from plain variables. */
export function mlpTower(name: string, widths: readonly number[], seed: number): Encoder & { variables: tf.Variable[] } {
  const variables = tf.tidy(() =>
    widths.slice(1).flatMap((out, k) => {
      const fanIn = widths[k] as number;
      return [
        tf.variable(tf.randomNormal([fanIn, out], 0, Math.sqrt(1 / fanIn), 'float32', seed * 97 + k + 1), true, `${name}/w${k}`),
        tf.variable(tf.zeros([out]), true, `${name}/b${k}`),
      ];
    }),
  );
  const encoder = functionEncoder({
    name,
    variables,
    encode: (input) => {
      let x = input as tf.Tensor2D;
      for (let k = 0; k < variables.length; k += 2) {
        x = tf.add(tf.matMul(x, variables[k] as tf.Variable), variables[k + 1] as tf.Variable) as tf.Tensor2D;
        if (k + 2 < variables.length) x = tf.tanh(x);
      }
      return tf.div(x, tf.norm(x, 'euclidean', 1, true)) as tf.Tensor2D;
    },
  });
  return { ...encoder, variables };
}
