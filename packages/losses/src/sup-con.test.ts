import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, test } from 'vitest';
import { expectFiniteWithGrads, expectGradsMatchFiniteDifferences, useBackend } from '@gradcache/testing';
import { supCon } from './sup-con.js';
import { LossError } from './errors.js';

beforeAll(() => useBackend('cpu'));

const first = (s: tf.Scalar): number => s.dataSync()[0] as number;

describe('supCon', () => {
  test('averages −log softmax over each anchor’s positives (hand-computed)', () => {
    // z = [e1, e1, e2], labels [0, 0, 1], τ = τ_base = 1. Logits z·zᵀ = [[1,1,0],[1,1,0],[0,0,1]].
    // Anchors 0 and 1: candidates (not self) s = 1, 0; positive s = 1 → log p = 1 − log(e + 1).
    // Anchor 2 has no positive: 0. Loss = −(2(1 − log(1 + e)) + 0)/3.
    const z = tf.tensor2d([
      [1, 0],
      [1, 0],
      [0, 1],
    ]);
    const expected = (-2 * (1 - Math.log(1 + Math.E))) / 3;
    expect(first(supCon(z, [0, 0, 1], { temperature: 1, baseTemperature: 1 }))).toBeCloseTo(expected, 6);
    const labels = tf.tensor1d([0, 0, 1], 'int32');
    expect(first(supCon(z, labels, { temperature: 1, baseTemperature: 1 }))).toBeCloseTo(expected, 6);
    tf.dispose([z, labels]);
  });

  test('is unchanged by permuting rows with their labels, and by rescaling rows', () => {
    const z = tf.randomNormal([6, 3], 0, 1, 'float32', 1) as tf.Tensor2D;
    const labels = [0, 1, 0, 2, 1, 0];
    const perm = [5, 2, 4, 0, 3, 1];
    const a = first(supCon(z, labels, { temperature: 0.5 }));
    expect(
      first(
        supCon(
          tf.gather(z, perm),
          perm.map((i) => labels[i] as number),
          { temperature: 0.5 },
        ),
      ),
    ).toBeCloseTo(a, 5);
    expect(first(supCon(tf.mul(z, 4), labels, { temperature: 0.5 }))).toBeCloseTo(a, 5);
    z.dispose();
  });

  test('has finite-difference gradients and stays finite at τ = 0.01, norm 100', () => {
    const z = tf.randomNormal([4, 3], 0, 1, 'float32', 2);
    expectGradsMatchFiniteDifferences((a) => supCon(a as tf.Tensor2D, [1, 0, 1, 0], { temperature: 0.5 }), [z]);
    expectFiniteWithGrads((a) => supCon(tf.mul(a as tf.Tensor2D, 100), [1, 0, 1, 0], { temperature: 0.01 }), [z]);
    z.dispose();
  });

  test('refuses labels of the wrong length, or none', () => {
    const z = tf.ones([3, 2]) as tf.Tensor2D;
    expect(() => supCon(z, [0, 1])).toThrow(LossError);
    expect(() => supCon(z, [0, 1])).toThrow(/one label per row of z \(3\), got 2/);
    expect(() => supCon(z, undefined)).toThrow(/pass them as extra/);
    const short = tf.tensor1d([0, 1], 'int32');
    expect(() => supCon(z, short)).toThrow(/one label per row of z \(3\), got a tensor of shape \[2\]/);
    tf.dispose([z, short]);
  });
});
