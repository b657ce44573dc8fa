import * as tf from '@tensorflow/tfjs-core';
import type { Batch, GradCache, LossFunction } from '@gradcache/core';
import { expectClose, expectGradsClose, expectNoLeaks, fullBatchReference } from '@gradcache/testing';

/**
 * Checks GradCache against the plain large-batch gradient — every encoder on its whole batch in one
 * gradient scope — for deterministic encoders: loss within 1e-5, every variable's gradient within
 * 1e-4·max|g| (expectGradsClose), and nothing leaked.
 */
export function expectCachedEqualsFullBatch<E>(cache: GradCache<E>, inputs: readonly Batch[], loss: LossFunction<E>, extra?: E): void {
  expectNoLeaks(() => {
    const { loss: value, grads } = cache.computeGradients(inputs, extra);
    const ref = fullBatchReference(cache.encoders, inputs, loss, cache.variables, extra);
    try {
      expectClose(value, ref.value, 1e-5, 'loss');
      expectGradsClose(grads, ref.grads, 1e-4);
    } finally {
      tf.dispose([value, grads, ref]);
    }
  }, 'computeGradients');
}
