import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, test } from 'vitest';
import { expectClose, expectFiniteWithGrads, expectGradsMatchFiniteDifferences, useBackend } from '@gradcache/testing';
import { expectTiledMemoryLinear, lossErrorOf } from './loss.test-helper.js';
import { sigmoidLoss } from './sigmoid-loss.js';

beforeAll(() => useBackend('cpu'));

const value = (s: tf.Scalar): number => {
  const v = s.dataSync()[0] as number;
  s.dispose();
  return v;
};
const logSigmoid = (x: number): number => -Math.log(1 + Math.exp(-x));

describe('sigmoidLoss', () => {
  test('is −(1/B) Σ log σ(z·logit) with z = +1 on the diagonal, −1 elsewhere (hand-computed)', () => {
    // q = d = [e1, e2], scale exp(0) = 1, bias 0: logits = I. Diagonal: log σ(1); off: log σ(−0) = −log 2.
    const eye = tf.eye(2) as tf.Tensor2D;
    const expected = -(2 * logSigmoid(1) + 2 * logSigmoid(0)) / 2;
    expect(value(sigmoidLoss(eye, eye, { logitScale: 0, bias: 0 }))).toBeCloseTo(expected, 6);
    // The defaults (t′ = log 10, b = −10): logits 10·I − 10 → diagonal 0, off-diagonal −10.
    const defaults = -(2 * logSigmoid(0) + 2 * logSigmoid(10)) / 2;
    expect(value(sigmoidLoss(eye, eye))).toBeCloseTo(defaults, 6);
    eye.dispose();
  });

  test('has the gradients of central finite differences for q, d, the log-scale and the bias, tiled or not', () => {
    const q = tf.randomNormal([5, 3], 0, 0.5, 'float32', 1);
    const d = tf.randomNormal([5, 3], 0, 0.5, 'float32', 2);
    const [t, b] = [tf.scalar(0.5), tf.scalar(-1)];
    for (const tileSize of [undefined, 2]) {
      expectGradsMatchFiniteDifferences(
        (x, y, s, c) =>
          sigmoidLoss(x as tf.Tensor2D, y as tf.Tensor2D, {
            logitScale: s as tf.Scalar,
            bias: c as tf.Scalar,
            ...(tileSize ? { tileSize } : {}),
          }),
        [q, d, t, b],
      );
    }
    tf.dispose([q, d, t, b]);
  });

  test('tiled = untiled, value and every gradient, for tiles that do and do not divide B', () => {
    const q = tf.randomNormal([7, 4], 0, 1, 'float32', 3) as tf.Tensor2D;
    const d = tf.randomNormal([7, 4], 0, 1, 'float32', 4) as tf.Tensor2D;
    const [t, b] = [tf.scalar(Math.log(10)), tf.scalar(-10)];
    const run = (tileSize?: number) =>
      tf.valueAndGrads((x, y, s, c) =>
        sigmoidLoss(x as tf.Tensor2D, y as tf.Tensor2D, {
          logitScale: s as tf.Scalar,
          bias: c as tf.Scalar,
          ...(tileSize ? { tileSize } : {}),
        }),
      )([q, d, t, b]);
    const plain = run();
    for (const tileSize of [1, 3, 7, 9]) {
      const tiled = run(tileSize);
      expectClose(tiled.value, plain.value, 1e-6, `value, tile ${tileSize}`);
      tiled.grads.forEach((g, k) => expectClose(g, plain.grads[k] as tf.Tensor, 1e-5, `gradient ${k}, tile ${tileSize}`));
      tf.dispose(tiled);
    }
    tf.dispose([plain, q, d, t, b]);
  });

  test('is unchanged by permuting the pairs, and does not depend on which side is q', () => {
    const q = tf.randomNormal([5, 3], 0, 1, 'float32', 5) as tf.Tensor2D;
    const d = tf.randomNormal([5, 3], 0, 1, 'float32', 6) as tf.Tensor2D;
    const perm = tf.tensor1d([3, 0, 4, 1, 2], 'int32');
    const [qp, dp] = [tf.gather(q, perm) as tf.Tensor2D, tf.gather(d, perm) as tf.Tensor2D];
    const a = value(sigmoidLoss(q, d, { logitScale: 1, bias: -2 }));
    expect(value(sigmoidLoss(qp, dp, { logitScale: 1, bias: -2 }))).toBeCloseTo(a, 5);
    expect(value(sigmoidLoss(d, q, { logitScale: 1, bias: -2 }))).toBeCloseTo(a, 5);
    tf.dispose([q, d, perm, qp, dp]);
  });

  test('stays finite with a scale of 100 (τ = 0.01) and reps of norm 100, tiled or not', () => {
    const q = tf.mul(tf.randomNormal([6, 8], 0, 1, 'float32', 7), 100 / Math.sqrt(8));
    const d = tf.mul(tf.randomNormal([6, 8], 0, 1, 'float32', 8), 100 / Math.sqrt(8));
    const options = { logitScale: Math.log(100), bias: -10 };
    expect(expectFiniteWithGrads((a, b) => sigmoidLoss(a as tf.Tensor2D, b as tf.Tensor2D, options), [q, d])).toBeGreaterThan(0);
    expectFiniteWithGrads((a, b) => sigmoidLoss(a as tf.Tensor2D, b as tf.Tensor2D, { ...options, tileSize: 4 }), [q, d]);
    tf.dispose([q, d]);
  });

  test('tiled, its peak memory grows linearly in B; untiled, quadratically', async () => {
    await expectTiledMemoryLinear((q, d, tileSize) => sigmoidLoss(q, d, tileSize === undefined ? {} : { tileSize }));
  });

  test('refuses unpaired rows, mismatched widths and bad options, naming the values', () => {
    const q = tf.zeros([2, 3]) as tf.Tensor2D;
    const d3 = tf.zeros([3, 3]) as tf.Tensor2D;
    const wide = tf.zeros([2, 4]) as tf.Tensor2D;
    expect(lossErrorOf(() => sigmoidLoss(q, d3))).toMatch(
      /^ROW_COUNT: sigmoidLoss: q and d must hold the same number of rows .* \[2, 3\] and \[3, 3\]/,
    );
    expect(lossErrorOf(() => sigmoidLoss(q, wide))).toMatch(/^WIDTH_MISMATCH/);
    expect(lossErrorOf(() => sigmoidLoss(q, q, { bias: Number.NaN }))).toMatch(
      /^INVALID_OPTION: sigmoidLoss: bias must be a finite number/,
    );
    expect(lossErrorOf(() => sigmoidLoss(q, q, { tileSize: 0 }))).toMatch(/^INVALID_OPTION: sigmoidLoss: tileSize/);
    tf.dispose([q, d3, wide]);
  });
});
