import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, test } from 'vitest';
import { expectFiniteWithGrads, expectGradsMatchFiniteDifferences, useBackend } from '@gradcache/testing';
import { barlowTwins } from './barlow-twins.js';

beforeAll(() => useBackend('cpu'));

const first = (s: tf.Scalar): number => s.dataSync()[0] as number;

describe('barlowTwins', () => {
  test('matches a hand-computed cross-correlation', () => {
    // z1 = z2 = [[1, −1], [−1, 1]]: each dimension has mean 0 and biased variance 1, so
    // ẑ = z / √(1 + 1e-5) and C = ẑᵀẑ / 2 = [[1, −1], [−1, 1]] / (1 + 1e-5).
    // Loss = 2·(1 − 1/(1 + 1e-5))² + λ·2·(1/(1 + 1e-5))².
    const z = tf.tensor2d([
      [1, -1],
      [-1, 1],
    ]);
    const c = 1 / (1 + 1e-5);
    expect(first(barlowTwins(z, z))).toBeCloseTo(2 * (1 - c) ** 2 + 0.0051 * 2 * c ** 2, 6);
    expect(first(barlowTwins(z, z, { lambda: 1 }))).toBeCloseTo(2 * (1 - c) ** 2 + 2 * c ** 2, 5);
    z.dispose();
  });

  test('is unchanged by permuting pairs and by a per-dimension affine change of either view', () => {
    const z1 = tf.randomNormal([6, 3], 0, 1, 'float32', 1) as tf.Tensor2D;
    const z2 = tf.randomNormal([6, 3], 0, 1, 'float32', 2) as tf.Tensor2D;
    const a = first(barlowTwins(z1, z2));
    expect(first(barlowTwins(tf.gather(z1, [5, 4, 3, 2, 1, 0]), tf.gather(z2, [5, 4, 3, 2, 1, 0])))).toBeCloseTo(a, 5);
    expect(first(barlowTwins(tf.add(tf.mul(z1, [2, 3, 0.5]), [1, -4, 7]), z2))).toBeCloseTo(a, 3);
    tf.dispose([z1, z2]);
  });

  test('has finite-difference gradients and stays finite for reps of norm 100', () => {
    const z1 = tf.randomNormal([4, 3], 0, 1, 'float32', 3);
    const z2 = tf.randomNormal([4, 3], 0, 1, 'float32', 4);
    expectGradsMatchFiniteDifferences((a, b) => barlowTwins(a as tf.Tensor2D, b as tf.Tensor2D), [z1, z2], { eps: 1e-2, tol: 2e-2 });
    expectFiniteWithGrads((a, b) => barlowTwins(tf.mul(a as tf.Tensor2D, 100), tf.mul(b as tf.Tensor2D, 100)), [z1, z2]);
    tf.dispose([z1, z2]);
  });

  test('needs at least two rows', () => {
    const z = tf.ones([1, 3]) as tf.Tensor2D;
    expect(() => barlowTwins(z, z)).toThrow(/z1 has 1 row; this loss needs at least 2/);
    z.dispose();
  });
});
