import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, test } from 'vitest';
import { expectFiniteWithGrads, expectGradsMatchFiniteDifferences, expectNoLeaks, useBackend } from '@gradcache/testing';
import { distillation } from './distillation.js';
import { LossError } from './errors.js';

beforeAll(() => useBackend('cpu'));

const value = (s: tf.Scalar): number => {
  const v = s.dataSync()[0] as number;
  s.dispose();
  return v;
};

describe('distillation', () => {
  test('is the KL divergence from the teacher softmax to the student softmax (hand-computed)', () => {
    // One query, two candidates: student logits [1, 0] (q·d at τ = 1), teacher scores [0, 0] → p_t = [½, ½].
    // KL = Σ ½ (log ½ − log p_s) with p_s = softmax([1, 0]) = [e/(e+1), 1/(e+1)].
    const q = tf.tensor2d([[1, 0]]);
    const d = tf.tensor2d([
      [1, 0],
      [0, 1],
    ]);
    const teacher = tf.tensor2d([[0, 0]]);
    const ps = [Math.E / (Math.E + 1), 1 / (Math.E + 1)];
    const expected = 0.5 * (Math.log(0.5) - Math.log(ps[0]!)) + 0.5 * (Math.log(0.5) - Math.log(ps[1]!));
    expect(value(distillation(q, d, teacher, { temperature: 1 }))).toBeCloseTo(expected, 6);
    tf.dispose([q, d, teacher]);
  });

  test('is zero when the student scores like the teacher, and blind to a constant added to a teacher row', () => {
    const q = tf.randomNormal([3, 4], 0, 1, 'float32', 1) as tf.Tensor2D;
    const d = tf.randomNormal([5, 4], 0, 1, 'float32', 2) as tf.Tensor2D;
    const scores = tf.div(tf.matMul(q, d, false, true), 0.2) as tf.Tensor2D;
    expect(value(distillation(q, d, scores, { temperature: 0.2 }))).toBeCloseTo(0, 5);
    const teacher = tf.randomNormal([3, 5], 0, 2, 'float32', 3) as tf.Tensor2D;
    const shifted = tf.add(teacher, tf.tensor2d([[5], [-3], [100]])) as tf.Tensor2D;
    const a = value(distillation(q, d, teacher, { temperature: 0.5, teacherTemperature: 2 }));
    expect(value(distillation(q, d, shifted, { temperature: 0.5, teacherTemperature: 2 }))).toBeCloseTo(a, 5);
    expect(a).toBeGreaterThan(0);
    tf.dispose([q, d, scores, teacher, shifted]);
  });

  test('has finite-difference gradients for q, d and a learnable temperature; the teacher gets none', () => {
    const q = tf.randomNormal([3, 4], 0, 0.5, 'float32', 4);
    const d = tf.randomNormal([6, 4], 0, 0.5, 'float32', 5);
    const teacher = tf.randomNormal([3, 6], 0, 1, 'float32', 6) as tf.Tensor2D;
    const tau = tf.scalar(0.8);
    expectGradsMatchFiniteDifferences(
      (a, b, t) => distillation(a as tf.Tensor2D, b as tf.Tensor2D, teacher, { temperature: t as tf.Scalar }),
      [q, d, tau],
    );
    tf.dispose([q, d, teacher, tau]);
  });

  test('stays finite at τ = 0.01 with reps of norm 100 and teacher scores of ±1000', () => {
    const q = tf.mul(tf.randomNormal([4, 8], 0, 1, 'float32', 7), 100 / Math.sqrt(8));
    const d = tf.mul(tf.randomNormal([4, 8], 0, 1, 'float32', 8), 100 / Math.sqrt(8));
    const teacher = tf.mul(tf.randomNormal([4, 4], 0, 1, 'float32', 9), 1000) as tf.Tensor2D;
    expectFiniteWithGrads((a, b) => distillation(a as tf.Tensor2D, b as tf.Tensor2D, teacher, { temperature: 0.01 }), [q, d]);
    tf.dispose([q, d, teacher]);
  });

  test('refuses teacher scores of the wrong shape, naming the shape it needs', () => {
    const q = tf.zeros([2, 3]) as tf.Tensor2D;
    const d = tf.zeros([4, 3]) as tf.Tensor2D;
    const wrong = tf.zeros([2, 3]) as tf.Tensor2D;
    let message = '';
    expectNoLeaks(() => {
      try {
        distillation(q, d, wrong, { temperature: 1 });
      } catch (e) {
        expect(e).toBeInstanceOf(LossError);
        message = `${(e as LossError).code}: ${(e as Error).message}`;
      }
    });
    expect(message).toMatch(/^SHAPE_MISMATCH: distillation: teacherScores must be a \[2, 4\] tensor .* got \[2, 3\]/);
    tf.dispose([q, d, wrong]);
  });
});
