import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, expect, test } from 'vitest';
import { useBackend } from '@gradcache/testing';
import { setLearningRate } from './set-learning-rate.js';

beforeAll(() => useBackend('cpu'));

test.each([
  ['sgd', () => tf.train.sgd(1)],
  ['momentum', () => tf.train.momentum(1, 0)],
  ['adam', () => tf.train.adam(1)],
  ['rmsprop', () => tf.train.rmsprop(1)],
])('%s: the next update moves by the new rate, not the one it was built with', (_, make) => {
  const moved = (rate: number | undefined): number => {
    const optimizer = make();
    const v = tf.variable(tf.scalar(0));
    if (rate !== undefined) setLearningRate(optimizer, rate);
    const gradient = tf.scalar(1);
    optimizer.applyGradients([{ name: v.name, tensor: gradient }]);
    const step = Math.abs(v.dataSync()[0] as number);
    tf.dispose([v, gradient]);
    optimizer.dispose();
    return step;
  };
  expect(moved(1e-3) / moved(undefined)).toBeCloseTo(1e-3, 6);
});
