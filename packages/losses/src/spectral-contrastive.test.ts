import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, test } from 'vitest';
import { expectFiniteWithGrads, expectGradsMatchFiniteDifferences, useBackend } from '@gradcache/testing';
import { spectralContrastive } from './spectral-contrastive.js';

beforeAll(() => useBackend('cpu'));

const first = (s: tf.Scalar): number => s.dataSync()[0] as number;

describe('spectralContrastive', () => {
  test('equals −2/B Σ z1_i·z2_i + 1/(B(B−1)) Σ_{i≠j} (z1_i·z2_j)² (hand-computed)', () => {
    // z1 = [[.5, 0], [0, .5]], z2 = [[.5, .5], [0, .5]] (norms < 1: no projection).
    // Positives: .25 and .25 → −2·.25 = −.5. z1·z2ᵀ = [[.25, 0], [.25, .25]]: off-diagonal squares
    // 0 and .0625 → .0625 / 2 = .03125. Loss −.46875.
    const z1 = tf.tensor2d([
      [0.5, 0],
      [0, 0.5],
    ]);
    const z2 = tf.tensor2d([
      [0.5, 0.5],
      [0, 0.5],
    ]);
    expect(first(spectralContrastive(z1, z2))).toBeCloseTo(-0.46875, 6);
    tf.dispose([z1, z2]);
  });

  test('projects reps longer than √mu onto the sphere: scaling long reps changes nothing', () => {
    const z1 = tf.mul(tf.eye(2), 3) as tf.Tensor2D;
    const z2 = tf.mul(tf.eye(2), 7) as tf.Tensor2D;
    // After projection both are the identity: −2·1 + 0 = −2.
    expect(first(spectralContrastive(z1, z2))).toBeCloseTo(-2, 5);
    tf.dispose([z1, z2]);
  });

  test('is unchanged by permuting pairs; finite-difference gradients; finite for norm-100 reps', () => {
    const z1 = tf.randomNormal([4, 3], 0, 0.3, 'float32', 1);
    const z2 = tf.randomNormal([4, 3], 0, 0.3, 'float32', 2);
    const perm = [1, 3, 0, 2];
    expect(first(spectralContrastive(tf.gather(z1, perm) as tf.Tensor2D, tf.gather(z2, perm) as tf.Tensor2D))).toBeCloseTo(
      first(spectralContrastive(z1 as tf.Tensor2D, z2 as tf.Tensor2D)),
      5,
    );
    expectGradsMatchFiniteDifferences((a, b) => spectralContrastive(a as tf.Tensor2D, b as tf.Tensor2D), [z1, z2], { eps: 1e-3 });
    expectFiniteWithGrads((a, b) => spectralContrastive(tf.mul(a as tf.Tensor2D, 300), tf.mul(b as tf.Tensor2D, 300)), [z1, z2]);
    tf.dispose([z1, z2]);
  });
});
