import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, test } from 'vitest';
import { useBackend } from '@gradcache/testing';
import { applyInOrder } from './apply-in-order.js';
import { GradCacheError } from './errors.js';

beforeAll(() => useBackend('cpu'));

const values = (t: tf.Tensor): number[] => Array.from(t.dataSync());

describe('applyInOrder', () => {
  test('clips to the global norm, refuses NaN applying nothing, and needs a gradient per variable', () => {
    const a = tf.variable(tf.zeros([2]), true, 'clip_a');
    const b = tf.variable(tf.zeros([1]), true, 'clip_b');
    const sgd = tf.train.sgd(1);
    const grads = { clip_a: tf.tensor1d([3, 0]), clip_b: tf.tensor1d([4]) };
    applyInOrder(sgd, [a, b], grads, { gradNorm: 5, clipNorm: 1 });
    expect(values(a)).toEqual([-0.6, 0].map(Math.fround));
    expect(values(b)).toEqual([Math.fround(-0.8)]);
    const error = (() => {
      try {
        applyInOrder(sgd, [a, b], grads, { nonFinite: ['clip_a'] });
      } catch (e) {
        return e;
      }
    })() as GradCacheError;
    expect(error).toBeInstanceOf(GradCacheError);
    expect(error.code).toBe('GRADS_NOT_FINITE');
    expect(values(b)).toEqual([Math.fround(-0.8)]);
    expect(() => applyInOrder(sgd, [a, b], { clip_a: grads.clip_a })).toThrowError(/no gradient for clip_b/);
    expect(() => applyInOrder(sgd, [a, b], grads, { gradNorm: 5, clipNorm: 0 })).toThrowError(/clipNorm must be a positive number, got 0/);
    tf.dispose([a, b, grads]);
    sgd.dispose();
  });

  test('all or nothing: an optimizer that throws half-way leaves every variable as it was', () => {
    const a = tf.variable(tf.ones([2]), true, 'half_a');
    const b = tf.variable(tf.ones([2]), true, 'half_b');
    const sgd = tf.train.sgd(1);
    const halfway = {
      applyGradients: (list: { name: string; tensor: tf.Tensor }[]) => {
        a.assign(tf.sub(a, (list[0] as { tensor: tf.Tensor }).tensor));
        throw new Error('optimizer failed half-way');
      },
    } as unknown as tf.Optimizer;
    const grads = { half_a: tf.ones([2]), half_b: tf.ones([2]) };
    expect(() => applyInOrder(halfway, [a, b], grads)).toThrowError(/half-way/);
    expect(values(a)).toEqual([1, 1]);
    tf.dispose([a, b, grads]);
    sgd.dispose();
  });
});
