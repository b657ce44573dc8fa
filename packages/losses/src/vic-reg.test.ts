import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, test } from 'vitest';
import { expectFiniteWithGrads, expectGradsMatchFiniteDifferences, useBackend } from '@gradcache/testing';
import { vicReg } from './vic-reg.js';

beforeAll(() => useBackend('cpu'));

const first = (s: tf.Scalar): number => s.dataSync()[0] as number;

describe('vicReg', () => {
  test('covariance term: off-diagonal squares / d per branch, summed', () => {
    // z1 = z2 = [[0, 0], [2, 2]]: MSE 0; centred [[−1, −1], [1, 1]], unbiased variance 2 per dimension,
    // std √2.0001 > 1 so no hinge; covariance [[2, 2], [2, 2]]: off-diagonal squares 8, / d = 4 per
    // branch, 8 for both.
    const z = tf.tensor2d([
      [0, 0],
      [2, 2],
    ]);
    expect(first(vicReg(z, z))).toBeCloseTo(8, 5);
    z.dispose();
  });

  test('variance term: hinge on the unbiased std with eps 1e-4, ½ per branch', () => {
    // z = [[0, 0], [0.5, 0]]: dim 0 variance (0.25² · 2)/1 = 0.125, dim 1 variance 0;
    // hinge mean ((1 − √0.1251) + (1 − √0.0001)) / 2, the same in both branches → ×½×2; covariance 0.
    const z = tf.tensor2d([
      [0, 0],
      [0.5, 0],
    ]);
    const hinge = (1 - Math.sqrt(0.1251) + (1 - 0.01)) / 2;
    expect(first(vicReg(z, z))).toBeCloseTo(25 * hinge, 4);
    z.dispose();
  });

  test('invariance term: the MSE over all entries, weighted by simCoeff', () => {
    // With the other terms off: 4 entries, two off by 2 → MSE (4 + 4)/4 = 2.
    const z1 = tf.tensor2d([
      [0, 0],
      [2, 2],
    ]);
    const z2 = tf.tensor2d([
      [2, 0],
      [4, 2],
    ]);
    expect(first(vicReg(z1, z2, { stdCoeff: 0, covCoeff: 0 }))).toBeCloseTo(25 * 2, 5);
    tf.dispose([z1, z2]);
  });

  test('is unchanged by permuting pairs; finite-difference gradients; finite for norm-100 reps', () => {
    const z1 = tf.randomNormal([5, 3], 0, 0.3, 'float32', 1);
    const z2 = tf.randomNormal([5, 3], 0, 0.3, 'float32', 2);
    const perm = [4, 0, 3, 1, 2];
    expect(first(vicReg(tf.gather(z1, perm) as tf.Tensor2D, tf.gather(z2, perm) as tf.Tensor2D))).toBeCloseTo(
      first(vicReg(z1 as tf.Tensor2D, z2 as tf.Tensor2D)),
      4,
    );
    expectGradsMatchFiniteDifferences((a, b) => vicReg(a as tf.Tensor2D, b as tf.Tensor2D), [z1, z2], { eps: 5e-3, tol: 2e-2 });
    expectFiniteWithGrads((a, b) => vicReg(tf.mul(a as tf.Tensor2D, 300), tf.mul(b as tf.Tensor2D, 300)), [z1, z2]);
    tf.dispose([z1, z2]);
  });

  test('needs at least two rows and non-negative coefficients', () => {
    const z = tf.ones([1, 3]) as tf.Tensor2D;
    expect(() => vicReg(z, z)).toThrow(/at least 2/);
    const y = tf.ones([2, 3]) as tf.Tensor2D;
    expect(() => vicReg(y, y, { covCoeff: -1 })).toThrow(/covCoeff must be a finite number ≥ 0, got -1/);
    tf.dispose([z, y]);
  });
});
