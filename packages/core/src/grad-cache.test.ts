import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, test } from 'vitest';
import { expectClose, expectGradsClose, expectNoLeaks, testMlp, useBackend } from '@gradcache/testing';
import { GradCache } from './grad-cache.js';
import { functionEncoder } from './function-encoder.js';
import { chunkSeed, withSeededRandom } from './random-replay.js';
import type { Batch, Encoder } from './types.js';

beforeAll(() => useBackend('cpu'));

/** InfoNCE written out in full, as the tests' own reference loss. */
function infoNce(q: tf.Tensor2D, d: tf.Tensor2D, temperature = 0.5): tf.Scalar {
  const logits = tf.div(tf.matMul(q, d, false, true), temperature);
  const labels = tf.oneHot(tf.range(0, q.shape[0], 1, 'int32'), d.shape[0]);
  return tf.losses.softmaxCrossEntropy(labels, logits) as tf.Scalar;
}

/** The gradient of `loss` with every encoder run on its whole batch in one gradient scope. */
function fullBatchGrads(
  encoders: readonly Encoder[],
  inputs: readonly Batch[],
  loss: (reps: tf.Tensor2D[]) => tf.Scalar,
  variables: tf.Variable[],
): { value: tf.Scalar; grads: tf.NamedTensorMap } {
  return tf.variableGrads(
    () => loss(encoders.map((e, i) => e.encode(inputs[i] as Batch, { training: true }) as tf.Tensor2D)),
    variables,
  );
}

describe('GradCache', () => {
  test('matches the full-batch gradient when the chunk size does not divide the batch', () => {
    const q = testMlp({ widths: [6, 10, 4], seed: 1 });
    const d = testMlp({ widths: [6, 8, 4], seed: 2 });
    const xq = tf.randomNormal([13, 6], 0, 1, 'float32', 3);
    const xd = tf.randomNormal([13, 6], 0, 1, 'float32', 4);
    const cache = new GradCache({ encoders: [q, d], chunkSize: [4, 5], loss: ([a, b]) => infoNce(a!, b!) });
    const { loss, grads } = cache.computeGradients([xq, xd]);
    const ref = fullBatchGrads([q, d], [xq, xd], ([a, b]) => infoNce(a!, b!), cache.variables);
    expectClose(loss, ref.value, 1e-6, 'loss');
    expectGradsClose(grads, ref.grads, 1e-4);
    tf.dispose([loss, grads, ref, xq, xd]);
    q.dispose();
    d.dispose();
  });
});
