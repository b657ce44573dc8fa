import * as tf from '@tensorflow/tfjs-core';

/** What the references need of an encoder (structurally an @gradcache/core Encoder). */
interface EncoderLike {
  encode(input: never, context: { training: boolean }): unknown;
}

/**
 * InfoNCE written out in full, as the tests' own reference: softmax cross-entropy of `q·dᵀ/τ`
 * against the diagonal (row i's positive is row i of d).
 */
export function infoNceReference(q: tf.Tensor2D, d: tf.Tensor2D, temperature: tf.Scalar | number = 1): tf.Scalar {
  return tf.tidy(() => {
    const logits = tf.div(tf.matMul(q, d, false, true), temperature);
    const labels = tf.oneHot(tf.range(0, q.shape[0], 1, 'int32'), d.shape[0]);
    return tf.losses.softmaxCrossEntropy(labels, logits) as tf.Scalar;
  });
}

/**
 * The plain large-batch gradient GradCache must match for deterministic encoders: every encoder
 * on its whole batch inside one gradient scope, written independently of the engine. The caller
 * owns the result.
 */
export function fullBatchReference<B, E = undefined>(
  encoders: readonly EncoderLike[],
  inputs: readonly B[],
  loss: (reps: tf.Tensor2D[], extra: E | undefined) => tf.Scalar,
  variables: readonly tf.Variable[],
  extra?: E,
): { value: tf.Scalar; grads: tf.NamedTensorMap } {
  return tf.variableGrads(
    () =>
      loss(
        encoders.map((e, i) => (e.encode as (input: B, context: { training: boolean }) => tf.Tensor2D)(inputs[i] as B, { training: true })),
        extra,
      ),
    [...variables],
  );
}
