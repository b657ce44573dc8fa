import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, test } from 'vitest';
import { expectFiniteWithGrads, expectGradsMatchFiniteDifferences, useBackend } from '@gradcache/testing';
import { symmetricInfoNCE } from './symmetric-info-nce.js';
import { LossError } from './errors.js';

beforeAll(() => useBackend('cpu'));

describe('symmetricInfoNCE', () => {
  test('averages the row and column cross-entropies (hand-computed)', () => {
    // q = [e1, e2], d = [e1, e1]: s = [[1, 1], [0, 0]].
    // rows: (log 2e − 1) and (log 2 − 0) → mean log 2;
    // columns: col 0 = [1, 0] → log(e + 1) − 1; col 1 = [1, 0] → log(e + 1) − 0; mean log(1 + e) − ½.
    const q = tf.eye(2) as tf.Tensor2D;
    const d = tf.tensor2d([
      [1, 0],
      [1, 0],
    ]);
    const loss = symmetricInfoNCE(q, d, { temperature: 1 });
    expect(loss.dataSync()[0]).toBeCloseTo(0.5 * (Math.log(2) + Math.log(1 + Math.E) - 0.5), 6);
    tf.dispose([q, d, loss]);
  });

  test('scales logits by min(exp(logitScale), 100), CLIP style, and learns the scale', () => {
    const q = tf.randomNormal([4, 3], 0, 0.5, 'float32', 1) as tf.Tensor2D;
    const d = tf.randomNormal([4, 3], 0, 0.5, 'float32', 2) as tf.Tensor2D;
    const a = symmetricInfoNCE(q, d, { logitScale: tf.scalar(Math.log(5)) });
    const b = symmetricInfoNCE(q, d, { temperature: 0.2 });
    expect(a.dataSync()[0]).toBeCloseTo(b.dataSync()[0] as number, 5);
    // Past the cap the scale is 100 whatever logitScale says.
    const capped = symmetricInfoNCE(q, d, { logitScale: tf.scalar(10) });
    const hundred = symmetricInfoNCE(q, d, { temperature: 0.01 });
    expect(capped.dataSync()[0]).toBeCloseTo(hundred.dataSync()[0] as number, 3);
    expectGradsMatchFiniteDifferences(
      (x, y, s) => symmetricInfoNCE(x as tf.Tensor2D, y as tf.Tensor2D, { logitScale: s as tf.Scalar }),
      [q, d, tf.scalar(1)],
    );
    tf.dispose([q, d, a, b, capped, hundred]);
  });

  test('is unchanged by permuting the pairs and stays finite at τ = 0.01, norm 100', () => {
    const q = tf.mul(tf.randomNormal([5, 4], 0, 1, 'float32', 3), 50) as tf.Tensor2D;
    const d = tf.mul(tf.randomNormal([5, 4], 0, 1, 'float32', 4), 50) as tf.Tensor2D;
    const perm = [4, 2, 0, 1, 3];
    const [qp, dp] = [tf.gather(q, perm) as tf.Tensor2D, tf.gather(d, perm) as tf.Tensor2D];
    const a = symmetricInfoNCE(q, d, { temperature: 0.5 });
    const b = symmetricInfoNCE(qp, dp, { temperature: 0.5 });
    expect(b.dataSync()[0]).toBeCloseTo(a.dataSync()[0] as number, 4);
    expectFiniteWithGrads((x, y) => symmetricInfoNCE(x as tf.Tensor2D, y as tf.Tensor2D, { temperature: 0.01 }), [q, d]);
    tf.dispose([q, d, qp, dp, a, b]);
  });

  test('refuses both or neither of temperature and logitScale, and unequal shapes', () => {
    const q = tf.zeros([2, 3]) as tf.Tensor2D;
    const d = tf.zeros([3, 3]) as tf.Tensor2D;
    expect(() => symmetricInfoNCE(q, q, {})).toThrow(LossError);
    expect(() => symmetricInfoNCE(q, q, { temperature: 1, logitScale: tf.scalar(1) })).toThrow(/exactly one/);
    expect(() => symmetricInfoNCE(q, d, { temperature: 1 })).toThrow(/q \[2, 3\] and d \[3, 3\]/);
    tf.dispose([q, d]);
  });
});
