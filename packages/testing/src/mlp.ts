import * as tf from '@tensorflow/tfjs-core';

/** Activations the test MLPs draw from. */
export type Activation = 'tanh' | 'relu' | 'gelu' | 'linear';

/** A small MLP for tests, built from plain variables. */
export interface TestMlpSpec {
  /** Layer widths, input first: [8, 16, 4] is 8 → 16 → 4. */
  widths: readonly number[];
  activation?: Activation;
  /** L2-normalise the output rows. */
  normalize?: boolean;
  /** Dropout rate after each hidden layer (random, replayed by GradCache). */
  dropout?: number;
  /** Seed of the initial weights. */
  seed?: number;
}

function activate(x: tf.Tensor2D, activation: Activation): tf.Tensor2D {
  switch (activation) {
    case 'tanh':
      return tf.tanh(x);
    case 'relu':
      return tf.relu(x);
    case 'gelu':
      return tf.mul(tf.mul(x, 0.5), tf.add(1, tf.erf(tf.div(x, Math.SQRT2))));
    case 'linear':
      return x;
  }
}

/** A GradCache Encoder (structurally; this package does not depend on core). */
export interface TestEncoder {
  readonly name: string;
  readonly trainableVariables: readonly tf.Variable[];
  encode(input: tf.Tensor | readonly tf.Tensor[] | Readonly<Record<string, tf.Tensor>>, context: { training: boolean }): tf.Tensor2D;
  /** Frees the variables. */
  dispose(): void;
}

/** An Encoder over [n, widths[0]] tensors, and a `dispose` for its variables. */
export function testMlp(spec: TestMlpSpec): TestEncoder {
  const { widths, activation = 'tanh', normalize = false, dropout = 0, seed = 1 } = spec;
  const variables = tf.tidy(() =>
    widths.slice(1).flatMap((out, k) => {
      const fanIn = widths[k] as number;
      return [
        tf.variable(tf.randomNormal([fanIn, out], 0, 1 / Math.sqrt(fanIn), 'float32', seed * 101 + k + 1)),
        tf.variable(tf.randomNormal([out], 0, 0.1, 'float32', seed * 211 + k + 1)),
      ];
    }),
  );
  return {
    name: `mlp[${widths.join('-')}]`,
    trainableVariables: variables,
    dispose: () => tf.dispose(variables),
    encode: (input, { training }) => {
      let x = input as tf.Tensor2D;
      for (let k = 0; k < variables.length; k += 2) {
        x = tf.add(tf.matMul(x, variables[k] as tf.Variable), variables[k + 1] as tf.Variable) as tf.Tensor2D;
        if (k + 2 < variables.length) {
          x = activate(x, activation);
          if (training && dropout > 0) x = tf.dropout(x, dropout) as tf.Tensor2D;
        }
      }
      return normalize ? (tf.div(x, tf.norm(x, 'euclidean', 1, true)) as tf.Tensor2D) : x;
    },
  };
}
