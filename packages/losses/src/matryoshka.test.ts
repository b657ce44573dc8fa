import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, test } from 'vitest';
import { expectGradsMatchFiniteDifferences, useBackend } from '@gradcache/testing';
import { lossErrorOf } from './loss.test-helper.js';
import { infoNCE } from './info-nce.js';
import { matryoshka } from './matryoshka.js';

beforeAll(() => useBackend('cpu'));

const value = (s: tf.Scalar): number => {
  const v = s.dataSync()[0] as number;
  s.dispose();
  return v;
};
const pairLoss = ([q, d]: tf.Tensor2D[]) => infoNCE(q!, d!, { temperature: 0.5 });

describe('matryoshka', () => {
  test('is the weighted sum of the loss on each prefix (hand-computed from the prefixes)', () => {
    const q = tf.randomNormal([4, 6], 0, 1, 'float32', 1) as tf.Tensor2D;
    const d = tf.randomNormal([4, 6], 0, 1, 'float32', 2) as tf.Tensor2D;
    const prefix = (x: tf.Tensor2D, m: number) => tf.slice(x, [0, 0], [4, m]) as tf.Tensor2D;
    const expected = 0.5 * value(pairLoss([prefix(q, 2), prefix(d, 2)])) + 2 * value(pairLoss([q, d]));
    expect(value(matryoshka(pairLoss, { dims: [2, 6], weights: [0.5, 2] })([q, d], undefined))).toBeCloseTo(expected, 5);
    // One prefix of the full width, weight 1: the loss itself.
    expect(value(matryoshka(pairLoss, { dims: [6] })([q, d], undefined))).toBeCloseTo(value(pairLoss([q, d])), 6);
    tf.dispose([q, d]);
  });

  test('has finite-difference gradients; dimensions past the largest prefix get exactly zero', () => {
    const q = tf.randomNormal([3, 5], 0, 0.5, 'float32', 3);
    const d = tf.randomNormal([3, 5], 0, 0.5, 'float32', 4);
    const nested = matryoshka(pairLoss, { dims: [1, 3], normalize: true });
    expectGradsMatchFiniteDifferences((a, b) => nested([a as tf.Tensor2D, b as tf.Tensor2D], undefined), [q, d]);
    const [gq] = tf.grads((a, b) => nested([a as tf.Tensor2D, b as tf.Tensor2D], undefined))([q, d]);
    const tail = tf.slice(gq as tf.Tensor, [0, 3], [3, 2]);
    expect(Array.from(tail.dataSync())).toEqual([0, 0, 0, 0, 0, 0]);
    tf.dispose([q, d, gq as tf.Tensor, tail]);
  });

  test('refuses empty or non-integer dims, mismatched weights, and prefixes wider than the reps', () => {
    const q = tf.zeros([2, 3]) as tf.Tensor2D;
    expect(lossErrorOf(() => matryoshka(pairLoss, { dims: [] }))).toMatch(/^INVALID_OPTION: matryoshka: dims must be a non-empty list/);
    expect(lossErrorOf(() => matryoshka(pairLoss, { dims: [1.5] }))).toMatch(/^INVALID_OPTION/);
    expect(lossErrorOf(() => matryoshka(pairLoss, { dims: [1, 2], weights: [1] }))).toMatch(/one finite number per prefix \(2\)/);
    expect(lossErrorOf(() => matryoshka(pairLoss, { dims: [4] })([q, q], undefined))).toMatch(
      /^WIDTH_MISMATCH: .*4 dimensions does not fit reps 3 wide/,
    );
    q.dispose();
  });
});
