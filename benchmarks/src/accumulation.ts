import * as tf from '@tensorflow/tfjs-core';
import type { Encoder, LossFunction } from '@gradcache/core';

/**
 * Plain gradient accumulation, the baseline GradCache replaces: each chunk of `chunkSize` rows is
 * encoded and scored on its own (its loss sees only that chunk's negatives — a different, weaker
 * loss), gradients are summed with weight rows/B, and the optimizer takes one step. Returns the
 * weighted mean of the chunk losses.
 */
export function accumulationStep(
  encoders: readonly Encoder[],
  loss: LossFunction,
  variables: readonly tf.Variable[],
  optimizer: tf.Optimizer,
  inputs: readonly tf.Tensor[],
  chunkSize: number,
): number {
  const rows = (inputs[0] as tf.Tensor).shape[0] as number;
  let sums = variables.map((v): tf.Tensor => tf.zerosLike(v));
  let total = 0;
  for (let begin = 0; begin < rows; begin += chunkSize) {
    const size = Math.min(chunkSize, rows - begin);
    const { value, grads } = tf.tidy(() => {
      const chunks = inputs.map((x) => tf.slice(x, begin, size));
      return tf.variableGrads(
        () =>
          tf.mul(
            loss(
              encoders.map((e, i) => e.encode(chunks[i] as tf.Tensor, { training: true }) as tf.Tensor2D),
              undefined,
            ),
            size / rows,
          ),
        [...variables],
      );
    });
    total += value.dataSync()[0] as number;
    const previous = sums;
    sums = tf.tidy(() => variables.map((v, k) => tf.add(previous[k] as tf.Tensor, grads[v.name] as tf.Tensor)));
    tf.dispose([previous, value, grads]);
  }
  optimizer.applyGradients(variables.map((v, k) => ({ name: v.name, tensor: sums[k] as tf.Tensor })));
  tf.dispose(sums);
  return total;
}
