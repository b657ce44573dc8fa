import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, test } from 'vitest';
import { expectFiniteWithGrads, expectGradsMatchFiniteDifferences, useBackend } from '@gradcache/testing';
import { infoNCE } from './info-nce.js';
import { symmetricInfoNCE } from './symmetric-info-nce.js';
import { lossErrorOf } from './loss.test-helper.js';

beforeAll(() => useBackend('cpu'));

const value = (s: tf.Scalar): number => {
  const v = s.dataSync()[0] as number;
  s.dispose();
  return v;
};

describe('infoNCE', () => {
  test('equals log(1 + e) − 1 for two orthogonal pairs at τ = 1', () => {
    // s = q·dᵀ = I; each row: logsumexp(1, 0) − 1 = log(e + 1) − 1.
    const eye = tf.eye(2) as tf.Tensor2D;
    expect(value(infoNCE(eye, eye, { temperature: 1 }))).toBeCloseTo(Math.log(1 + Math.E) - 1, 6);
    eye.dispose();
  });

  test('scores each query against all rows of d, its positive first in its group (hard negatives)', () => {
    // q = I; d = [e1 (pos 0), e2 (hard neg 0), e2 (pos 1), e1 (hard neg 1)].
    // Row 0: s = [1, 0, 0, 1], positive s[0,0] = 1; row 1: s = [0, 1, 1, 0], positive s[1,2] = 1.
    // Both: log(2e + 2) − 1.
    const q = tf.eye(2) as tf.Tensor2D;
    const d = tf.tensor2d([
      [1, 0],
      [0, 1],
      [0, 1],
      [1, 0],
    ]);
    expect(value(infoNCE(q, d, { temperature: 1, hardNegatives: 1 }))).toBeCloseTo(Math.log(2 * Math.E + 2) - 1, 6);
    tf.dispose([q, d]);
  });

  test('divides by the temperature: τ = 0.5 doubles the logits', () => {
    // s = 2I: log(e² + 1) − 2.
    const eye = tf.eye(2) as tf.Tensor2D;
    expect(value(infoNCE(eye, eye, { temperature: 0.5 }))).toBeCloseTo(Math.log(Math.exp(2) + 1) - 2, 5);
    eye.dispose();
  });

  test('has the gradients of central finite differences, for q, d and a learnable temperature', () => {
    const q = tf.randomNormal([3, 4], 0, 0.5, 'float32', 1);
    const d = tf.randomNormal([6, 4], 0, 0.5, 'float32', 2);
    const tau = tf.scalar(0.7);
    expectGradsMatchFiniteDifferences(
      (a, b, t) => infoNCE(a as tf.Tensor2D, b as tf.Tensor2D, { temperature: t as tf.Scalar, hardNegatives: 1 }),
      [q, d, tau],
    );
    tf.dispose([q, d, tau]);
  });

  test('is unchanged by permuting the (query, document group) pairs', () => {
    const q = tf.randomNormal([4, 3], 0, 1, 'float32', 3);
    const d = tf.randomNormal([8, 3], 0, 1, 'float32', 4);
    const perm = [2, 0, 3, 1];
    const qp = tf.gather(q, perm);
    const dp = tf.gather(
      d,
      perm.flatMap((i) => [2 * i, 2 * i + 1]),
    );
    const a = value(infoNCE(q as tf.Tensor2D, d as tf.Tensor2D, { temperature: 0.3, hardNegatives: 1 }));
    const b = value(infoNCE(qp as tf.Tensor2D, dp as tf.Tensor2D, { temperature: 0.3, hardNegatives: 1 }));
    expect(b).toBeCloseTo(a, 5);
    tf.dispose([q, d, qp, dp]);
  });

  test('with no hard negatives is one direction of symmetricInfoNCE', () => {
    const q = tf.randomNormal([5, 3], 0, 1, 'float32', 5) as tf.Tensor2D;
    const d = tf.randomNormal([5, 3], 0, 1, 'float32', 6) as tf.Tensor2D;
    const rows = value(infoNCE(q, d, { temperature: 0.2 }));
    const columns = value(infoNCE(d, q, { temperature: 0.2 }));
    expect(value(symmetricInfoNCE(q, d, { temperature: 0.2 }))).toBeCloseTo((rows + columns) / 2, 5);
    tf.dispose([q, d]);
  });

  test('stays finite at τ = 0.01 with unnormalised reps of norm 100, tiled or not', () => {
    const q = tf.mul(tf.randomNormal([6, 8], 0, 1, 'float32', 7), 100 / Math.sqrt(8));
    const d = tf.mul(tf.randomNormal([6, 8], 0, 1, 'float32', 8), 100 / Math.sqrt(8));
    expect(expectFiniteWithGrads((a, b) => infoNCE(a as tf.Tensor2D, b as tf.Tensor2D, { temperature: 0.01 }), [q, d])).toBeGreaterThan(0);
    expectFiniteWithGrads((a, b) => infoNCE(a as tf.Tensor2D, b as tf.Tensor2D, { temperature: 0.01, tileSize: 4 }), [q, d]);
    tf.dispose([q, d]);
  });

  test('refuses mismatched widths, a wrong row count and bad options, naming the shapes', () => {
    const q = tf.zeros([2, 3]) as tf.Tensor2D;
    const wide = tf.zeros([2, 4]) as tf.Tensor2D;
    const d3 = tf.zeros([3, 3]) as tf.Tensor2D;
    expect(lossErrorOf(() => infoNCE(q, wide, { temperature: 1 }))).toMatch(/^WIDTH_MISMATCH: .*q \[2, 3\] and d \[2, 4\]/);
    expect(lossErrorOf(() => infoNCE(q, d3, { temperature: 1, hardNegatives: 1 }))).toMatch(/^ROW_COUNT: .*2·2 = 4 rows, got 3/);
    expect(lossErrorOf(() => infoNCE(q, q, { temperature: 0 }))).toMatch(/^INVALID_OPTION: .*temperature/);
    expect(lossErrorOf(() => infoNCE(q, q, { temperature: 1, tileSize: 0 }))).toMatch(/^INVALID_OPTION: .*tileSize/);
    expect(lossErrorOf(() => infoNCE(q, q, { temperature: 1, hardNegatives: -1 }))).toMatch(/^INVALID_OPTION: .*hardNegatives/);
    tf.dispose([q, wide, d3]);
  });
});
