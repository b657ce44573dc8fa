import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, test } from 'vitest';
import { expectFiniteWithGrads, expectGradsMatchFiniteDifferences, useBackend } from '@gradcache/testing';
import { ntXent } from './nt-xent.js';

beforeAll(() => useBackend('cpu'));

const first = (s: tf.Scalar): number => s.dataSync()[0] as number;

describe('ntXent', () => {
  test('equals log(2 + e) − 1 for two identical orthogonal views at τ = 1', () => {
    // z = [e1, e2, e1, e2]. Anchor 0's candidates (itself excluded): e2, e1, e2 → s = 0, 1, 0;
    // positive (row 2) s = 1 → log(1 + e + 1) − 1; every anchor alike.
    const z = tf.eye(2) as tf.Tensor2D;
    expect(first(ntXent(z, z, { temperature: 1 }))).toBeCloseTo(Math.log(2 + Math.E) - 1, 6);
    z.dispose();
  });

  test('normalises inside: rescaling rows changes nothing', () => {
    const z1 = tf.randomNormal([4, 3], 0, 1, 'float32', 1) as tf.Tensor2D;
    const z2 = tf.randomNormal([4, 3], 0, 1, 'float32', 2) as tf.Tensor2D;
    const scales = tf.tensor2d([[3], [0.5], [10], [0.1]]);
    const a = first(ntXent(z1, z2, { temperature: 0.5 }));
    const b = first(ntXent(tf.mul(z1, scales), tf.mul(z2, tf.reverse(scales)), { temperature: 0.5 }));
    expect(b).toBeCloseTo(a, 5);
    tf.dispose([z1, z2, scales]);
  });

  test('is unchanged by permuting pairs, and by swapping the views', () => {
    const z1 = tf.randomNormal([5, 3], 0, 1, 'float32', 3) as tf.Tensor2D;
    const z2 = tf.randomNormal([5, 3], 0, 1, 'float32', 4) as tf.Tensor2D;
    const perm = [3, 1, 4, 0, 2];
    const a = first(ntXent(z1, z2, { temperature: 0.3 }));
    expect(first(ntXent(tf.gather(z1, perm), tf.gather(z2, perm), { temperature: 0.3 }))).toBeCloseTo(a, 5);
    expect(first(ntXent(z2, z1, { temperature: 0.3 }))).toBeCloseTo(a, 5);
    tf.dispose([z1, z2]);
  });

  test('has finite-difference gradients and stays finite at τ = 0.01, norm 100', () => {
    const z1 = tf.randomNormal([3, 3], 0, 1, 'float32', 5);
    const z2 = tf.randomNormal([3, 3], 0, 1, 'float32', 6);
    expectGradsMatchFiniteDifferences((a, b) => ntXent(a as tf.Tensor2D, b as tf.Tensor2D, { temperature: 0.5 }), [z1, z2]);
    expectFiniteWithGrads((a, b) => ntXent(tf.mul(a as tf.Tensor2D, 100), tf.mul(b as tf.Tensor2D, 100), { temperature: 0.01 }), [z1, z2]);
    tf.dispose([z1, z2]);
  });

  test('refuses views of different shapes', () => {
    const a = tf.zeros([2, 3]) as tf.Tensor2D;
    const b = tf.zeros([3, 3]) as tf.Tensor2D;
    expect(() => ntXent(a, b, { temperature: 1 })).toThrow(/z1 and z2 must have the same shape .* \[2, 3\] and \[3, 3\]/);
    tf.dispose([a, b]);
  });
});
