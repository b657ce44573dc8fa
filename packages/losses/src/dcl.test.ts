import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, test } from 'vitest';
import { expectFiniteWithGrads, expectGradsMatchFiniteDifferences, useBackend } from '@gradcache/testing';
import { dcl, dclw } from './dcl.js';

beforeAll(() => useBackend('cpu'));

const first = (s: tf.Scalar): number => s.dataSync()[0] as number;

describe('dcl', () => {
  test('removes the positive from the denominator: log 2 − 1 for identical orthogonal views at τ = 1', () => {
    // Anchor 0 of z = [e1, e2, e1, e2]: negatives (not itself, not its positive) e2, e2 → s = 0, 0;
    // −1 + log(1 + 1).
    const z = tf.eye(2) as tf.Tensor2D;
    expect(first(dcl(z, z, { temperature: 1 }))).toBeCloseTo(Math.log(2) - 1, 6);
    z.dispose();
  });

  test('matches a hand-computed general case', () => {
    // z1 = [e1, e2], z2 = [e1, (e1+e2)/√2]; τ = 1; c = 1/√2.
    // z = [e1, e2, e1, u]. Anchor 0 (e1): pos e1 (1); negatives e2 (0), u (c) → −1 + log(1 + e^c).
    // Anchor 1 (e2): pos u (c); negatives e1, e1 (0, 0) → −c + log 2.
    // Anchor 2 (e1): pos e1 (1); negatives e2 (0), u (c) → −1 + log(1 + e^c).
    // Anchor 3 (u): pos e2 (c); negatives e1, e1 (c, c) → −c + log(2e^c) = log 2.
    const c = Math.SQRT1_2;
    const expected = (2 * (-1 + Math.log(1 + Math.exp(c))) + (-c + Math.log(2)) + Math.log(2)) / 4;
    const z1 = tf.eye(2) as tf.Tensor2D;
    const z2 = tf.tensor2d([
      [1, 0],
      [c, c],
    ]);
    expect(first(dcl(z1, z2, { temperature: 1 }))).toBeCloseTo(expected, 6);
    tf.dispose([z1, z2]);
  });

  test('is unchanged by rescaling rows and by permuting pairs', () => {
    const z1 = tf.randomNormal([4, 3], 0, 1, 'float32', 1) as tf.Tensor2D;
    const z2 = tf.randomNormal([4, 3], 0, 1, 'float32', 2) as tf.Tensor2D;
    const a = first(dcl(z1, z2, { temperature: 0.5 }));
    expect(first(dcl(tf.mul(z1, 7), tf.mul(z2, 0.2), { temperature: 0.5 }))).toBeCloseTo(a, 5);
    expect(first(dcl(tf.gather(z1, [2, 3, 0, 1]), tf.gather(z2, [2, 3, 0, 1]), { temperature: 0.5 }))).toBeCloseTo(a, 5);
    tf.dispose([z1, z2]);
  });

  test('has finite-difference gradients and stays finite at τ = 0.01, norm 100', () => {
    const z1 = tf.randomNormal([3, 3], 0, 1, 'float32', 3);
    const z2 = tf.randomNormal([3, 3], 0, 1, 'float32', 4);
    expectGradsMatchFiniteDifferences((a, b) => dcl(a as tf.Tensor2D, b as tf.Tensor2D, { temperature: 0.5 }), [z1, z2]);
    expectFiniteWithGrads((a, b) => dcl(tf.mul(a as tf.Tensor2D, 100), tf.mul(b as tf.Tensor2D, 100), { temperature: 0.01 }), [z1, z2]);
    tf.dispose([z1, z2]);
  });
});

describe('dclw', () => {
  test('equals dcl when every pair is equally aligned (all weights 1)', () => {
    const z = tf.eye(3) as tf.Tensor2D;
    expect(first(dclw(z, z, { temperature: 0.5 }))).toBeCloseTo(first(dcl(z, z, { temperature: 0.5 })), 6);
    z.dispose();
  });

  test('weights each positive by 2 − B·softmax(cos/σ) (hand-computed)', () => {
    // z1 = [e1, e2], z2 = [e1, e1]: pair cosines [1, 0]; σ = 0.5: softmax([2, 0]) = [e²/(e²+1), 1/(e²+1)];
    // w = 2 − 2·softmax. τ = 1, z = [e1, e2, e1, e1].
    // Anchor 0 (e1): pos s = 1, negatives e2, e1 → −w0 + log(1 + e).
    // Anchor 1 (e2): pos e1 (0), negatives e1, e1 (0, 0) → −0 + log 2.
    // Anchor 2 (e1): pos e1 (1), negatives e2, e1 → −w0 + log(1 + e).
    // Anchor 3 (e1): pos e2 (0), negatives e1, e1 (1, 1) → log(2e).
    const s0 = Math.exp(2) / (Math.exp(2) + 1);
    const w0 = 2 - 2 * s0;
    const expected = (2 * (-w0 + Math.log(1 + Math.E)) + Math.log(2) + Math.log(2 * Math.E)) / 4;
    const z1 = tf.eye(2) as tf.Tensor2D;
    const z2 = tf.tensor2d([
      [1, 0],
      [1, 0],
    ]);
    expect(first(dclw(z1, z2, { temperature: 1, sigma: 0.5 }))).toBeCloseTo(expected, 5);
    tf.dispose([z1, z2]);
  });

  test('has finite-difference gradients (through the weights too)', () => {
    const z1 = tf.randomNormal([3, 3], 0, 1, 'float32', 5);
    const z2 = tf.randomNormal([3, 3], 0, 1, 'float32', 6);
    expectGradsMatchFiniteDifferences((a, b) => dclw(a as tf.Tensor2D, b as tf.Tensor2D, { temperature: 0.5 }), [z1, z2]);
    expectFiniteWithGrads((a, b) => dclw(tf.mul(a as tf.Tensor2D, 100), tf.mul(b as tf.Tensor2D, 100), { temperature: 0.01 }), [z1, z2]);
    tf.dispose([z1, z2]);
  });
});
