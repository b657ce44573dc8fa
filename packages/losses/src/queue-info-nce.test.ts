import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, test } from 'vitest';
import { expectFiniteWithGrads, expectGradsMatchFiniteDifferences, useBackend } from '@gradcache/testing';
import { queueInfoNCE } from './queue-info-nce.js';

beforeAll(() => useBackend('cpu'));

describe('queueInfoNCE', () => {
  test('scores the positive key against the queue (hand-computed)', () => {
    // q = k = [e1], queue = [e2, −e1], τ = 1: logits [1, 0, −1] → log(e + 1 + e⁻¹) − 1.
    const q = tf.tensor2d([[1, 0]]);
    const queue = tf.tensor2d([
      [0, 1],
      [-1, 0],
    ]);
    const loss = queueInfoNCE(q, q, queue, { temperature: 1 });
    expect(loss.dataSync()[0]).toBeCloseTo(Math.log(Math.E + 1 + 1 / Math.E) - 1, 6);
    tf.dispose([q, queue, loss]);
  });

  test('gives the queue no gradient, even when it is a trainable variable', () => {
    const q = tf.randomNormal([3, 4], 0, 1, 'float32', 1) as tf.Tensor2D;
    const k = tf.randomNormal([3, 4], 0, 1, 'float32', 2) as tf.Tensor2D;
    const queue = tf.variable(tf.randomNormal([5, 4], 0, 1, 'float32', 3), true);
    const { grads } = tf.variableGrads(() => queueInfoNCE(q, k, queue as tf.Tensor as tf.Tensor2D, { temperature: 0.2 }), [queue]);
    expect(Array.from((grads[queue.name] as tf.Tensor).dataSync()).every((g) => g === 0)).toBe(true);
    tf.dispose([q, k, queue, grads]);
  });

  test('has finite-difference gradients for q and k, and stays finite at τ = 0.01, norm 100', () => {
    const q = tf.randomNormal([2, 3], 0, 0.5, 'float32', 4);
    const k = tf.randomNormal([2, 3], 0, 0.5, 'float32', 5);
    const queue = tf.randomNormal([4, 3], 0, 0.5, 'float32', 6) as tf.Tensor2D;
    expectGradsMatchFiniteDifferences((a, b) => queueInfoNCE(a as tf.Tensor2D, b as tf.Tensor2D, queue, { temperature: 0.5 }), [q, k]);
    expectFiniteWithGrads(
      (a, b) => queueInfoNCE(tf.mul(a as tf.Tensor2D, 100), tf.mul(b as tf.Tensor2D, 100), tf.mul(queue, 100), { temperature: 0.01 }),
      [q, k],
    );
    tf.dispose([q, k, queue]);
  });

  test('refuses a queue of another width', () => {
    const q = tf.zeros([2, 3]) as tf.Tensor2D;
    const queue = tf.zeros([4, 2]) as tf.Tensor2D;
    expect(() => queueInfoNCE(q, q, queue, { temperature: 1 })).toThrow(/queue \[4, 2\] and q \[2, 3\]/);
    tf.dispose([q, queue]);
  });
});
