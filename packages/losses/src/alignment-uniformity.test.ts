import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, test } from 'vitest';
import { expectFiniteWithGrads, expectGradsMatchFiniteDifferences, useBackend } from '@gradcache/testing';
import { alignment, uniformity } from './alignment-uniformity.js';

beforeAll(() => useBackend('cpu'));

const first = (s: tf.Scalar): number => s.dataSync()[0] as number;

describe('alignment', () => {
  test('is the mean ‖z1 − z2‖^α (hand-computed for α = 2 and α = 1)', () => {
    // Differences [1, −1] and [0, 0]: squared norms 2 and 0 → mean 1; norms √2 and 0 → mean √2/2.
    const z1 = tf.eye(2) as tf.Tensor2D;
    const z2 = tf.tensor2d([
      [0, 1],
      [0, 1],
    ]);
    expect(first(alignment(z1, z2))).toBeCloseTo(1, 6);
    expect(first(alignment(z1, z2, { alpha: 1 }))).toBeCloseTo(Math.SQRT2 / 2, 6);
    tf.dispose([z1, z2]);
  });

  test('has finite-difference gradients and is unchanged by permuting pairs', () => {
    const z1 = tf.randomNormal([3, 2], 0, 1, 'float32', 1);
    const z2 = tf.randomNormal([3, 2], 0, 1, 'float32', 2);
    expectGradsMatchFiniteDifferences((a, b) => alignment(a as tf.Tensor2D, b as tf.Tensor2D), [z1, z2]);
    expect(first(alignment(tf.gather(z1, [2, 0, 1]) as tf.Tensor2D, tf.gather(z2, [2, 0, 1]) as tf.Tensor2D))).toBeCloseTo(
      first(alignment(z1 as tf.Tensor2D, z2 as tf.Tensor2D)),
      5,
    );
    tf.dispose([z1, z2]);
  });
});

describe('uniformity', () => {
  test('is log mean over pairs i<j of exp(−t‖z_i − z_j‖²) (hand-computed)', () => {
    // z = [e1, e2, −e1]: squared distances 2, 4, 2 → log((e⁻⁴ + e⁻⁸ + e⁻⁴)/3) at t = 2.
    const z = tf.tensor2d([
      [1, 0],
      [0, 1],
      [-1, 0],
    ]);
    expect(first(uniformity(z))).toBeCloseTo(Math.log((2 * Math.exp(-4) + Math.exp(-8)) / 3), 5);
    z.dispose();
  });

  test('has finite-difference gradients, is unchanged by permuting rows, stays finite for norm-100 reps', () => {
    const z = tf.randomNormal([4, 2], 0, 0.5, 'float32', 3);
    expectGradsMatchFiniteDifferences((a) => uniformity(a as tf.Tensor2D), [z]);
    expect(first(uniformity(tf.gather(z, [3, 1, 2, 0]) as tf.Tensor2D))).toBeCloseTo(first(uniformity(z as tf.Tensor2D)), 4);
    expectFiniteWithGrads((a) => uniformity(tf.mul(a as tf.Tensor2D, 100)), [z]);
    tf.dispose(z);
  });

  test('needs at least two rows', () => {
    const z = tf.ones([1, 2]) as tf.Tensor2D;
    expect(() => uniformity(z)).toThrow(/at least 2/);
    z.dispose();
  });
});
