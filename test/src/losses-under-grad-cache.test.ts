import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, test } from 'vitest';
import { GradCache } from '@gradcache/core';
import { B, cases, labels } from './loss-cases.js';
import { testMlp, useBackend } from '@gradcache/testing';
import { expectCachedEqualsFullBatch } from './expect-full-batch.js';

beforeAll(() => useBackend('cpu'));

describe('every loss under GradCache', () => {
  const logitScale = tf.variable(tf.scalar(Math.log(1 / 0.3)), true, 'test/logit_scale');
  const queue = tf.randomNormal([7, 4], 0, 1, 'float32', 99) as tf.Tensor2D;
  const prototypes = tf.variable(tf.randomNormal([5, 4], 0, 1, 'float32', 98), true, 'test/prototypes');
  test.each(cases(logitScale, queue, prototypes))('%s: the cached gradient equals the full-batch gradient', (_name, loss, docsPerQuery) => {
    const q = testMlp({ widths: [5, 8, 4], activation: 'gelu', seed: 1 });
    const d = testMlp({ widths: [5, 6, 4], activation: 'tanh', seed: 2 });
    const xq = tf.randomNormal([B, 5], 0, 1, 'float32', 3);
    const xd = tf.randomNormal([B * docsPerQuery, 5], 0, 1, 'float32', 4);
    expectCachedEqualsFullBatch(new GradCache({ encoders: [q, d], chunkSize: [3, 4], loss }), [xq, xd], loss, labels);
    tf.dispose([xq, xd]);
    q.dispose();
    d.dispose();
  });
});
