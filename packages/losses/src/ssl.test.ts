import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, test } from 'vitest';
import { expectClose, expectFiniteWithGrads, expectGradsMatchFiniteDifferences, expectNoLeaks, useBackend } from '@gradcache/testing';
import { lossErrorOf } from './loss.test-helper.js';
import { nnclr } from './nnclr.js';
import { RepMemory } from './rep-memory.js';
import { byol, simSiam } from './sim-siam.js';
import { sinkhorn, swav } from './swav.js';
import { infoNCE } from './info-nce.js';
import { l2Normalize } from './ops.js';

beforeAll(() => useBackend('cpu'));

const first = (s: tf.Tensor): number => s.dataSync()[0] as number;
const rand = (shape: [number, number], seed: number) => tf.randomNormal(shape, 0, 1, 'float32', seed) as tf.Tensor2D;

describe('simSiam and byol', () => {
  test('hand-computed: cosines of e1 against e1 and e2', () => {
    tf.tidy(() => {
      // p1 = [e1, e1], z2 = [e1, e2] → cos 1, 0: mean ½; p2 = z1 = e1 rows → cos 1. simSiam = −½(½ + 1) = −0.75.
      const e = tf.eye(2) as tf.Tensor2D;
      const ones = tf.tensor2d([
        [1, 0],
        [1, 0],
      ]);
      expect(first(simSiam(ones, ones, ones, e))).toBeCloseTo(-0.75, 6);
      // byol = (2 − 2·½) + (2 − 2·1) = 1.
      expect(first(byol(ones, ones, ones, e))).toBeCloseTo(1, 6);
    });
  });

  test('the targets get no gradient; the predictions get the finite-difference gradient with targets held', () => {
    const [p1, z1, p2, z2] = [rand([4, 3], 1), rand([4, 3], 2), rand([4, 3], 3), rand([4, 3], 4)];
    for (const loss of [simSiam, byol]) {
      expectNoLeaks(() => {
        const grads = tf.grads((a, b, c, d) => loss(a as tf.Tensor2D, b as tf.Tensor2D, c as tf.Tensor2D, d as tf.Tensor2D))([
          p1,
          z1,
          p2,
          z2,
        ]);
        expect(tf.tidy(() => first(tf.add(tf.sum(tf.abs(grads[1] as tf.Tensor)), tf.sum(tf.abs(grads[3] as tf.Tensor)))))).toBe(0);
        tf.dispose(grads);
      });
      expectGradsMatchFiniteDifferences((a, c) => loss(a as tf.Tensor2D, z1, c as tf.Tensor2D, z2), [p1, p2]);
      expectFiniteWithGrads((a, c) => loss(tf.mul(a as tf.Tensor2D, 100), z1, tf.mul(c as tf.Tensor2D, 100), z2), [p1, p2]);
    }
    tf.dispose([p1, z1, p2, z2]);
  });

  test('refuse views of different shapes', () => {
    const [a, b] = [tf.zeros([2, 3]) as tf.Tensor2D, tf.zeros([3, 3]) as tf.Tensor2D];
    expect(lossErrorOf(() => simSiam(a, a, a, b))).toMatch(/^SHAPE_MISMATCH: simSiam: z1 and z2 must have the same shape/);
    tf.dispose([a, b]);
  });
});

describe('nnclr', () => {
  test('with the batch itself as support, each rep is its own nearest neighbour: symmetric InfoNCE of ẑ1, ẑ2', () => {
    const [z1, z2] = [rand([5, 4], 5), rand([5, 4], 6)];
    const support = tf.concat([z1, z2]) as tf.Tensor2D;
    const [a, b] = [l2Normalize(z1), l2Normalize(z2)];
    const expected = (first(infoNCE(a, b, { temperature: 0.2 })) + first(infoNCE(b, a, { temperature: 0.2 }))) / 2;
    expect(first(nnclr(z1, z2, support, { temperature: 0.2 }))).toBeCloseTo(expected, 5);
    tf.dispose([z1, z2, support, a, b]);
  });

  test('the support gets no gradient, the views their finite-difference one, and it leaks nothing', () => {
    const [z1, z2, support] = [rand([4, 3], 7), rand([4, 3], 8), rand([9, 3], 9)];
    expectNoLeaks(() => {
      const g = tf.grad((s) => nnclr(z1, z2, s as tf.Tensor2D))(support);
      expect(tf.tidy(() => first(tf.sum(tf.abs(g))))).toBe(0);
      g.dispose();
    });
    expectGradsMatchFiniteDifferences((a, b) => nnclr(a as tf.Tensor2D, b as tf.Tensor2D, support), [z1, z2]);
    const wide = tf.zeros([3, 5]) as tf.Tensor2D;
    expect(lossErrorOf(() => nnclr(z1, z2, wide))).toBe(
      'WIDTH_MISMATCH: nnclr: support rows must be as wide as z1, got support [3, 5] and z1 [4, 3].',
    );
    tf.dispose([z1, z2, support, wide]);
  });
});

describe('swav', () => {
  test('sinkhorn gives each prototype n/K of the samples and each sample mass 1 (three samples prefer prototype 0; it gets two)', () => {
    const scores = tf.tensor2d([
      [0.9, 0.1, 0.0],
      [0.8, 0.2, 0.1],
      [0.7, 0.3, 0.2],
      [0.1, 0.9, 0.0],
      [0.0, 0.1, 0.95],
      [0.2, 0.2, 0.3],
    ]);
    const q = sinkhorn(scores, 0.2, 100);
    const [rows, cols] = [tf.sum(q, 1), tf.sum(q, 0)];
    expectClose(rows, tf.ones([6]), 1e-4, 'rows');
    expectClose(cols, tf.fill([3], 2), 1e-3, 'columns');
    tf.dispose([scores, q, rows, cols]);
  });

  test('sinkhorn refuses an iteration count it could not finish and an epsilon that is not positive', () => {
    const scores = tf.ones([4, 2]) as tf.Tensor2D;
    for (const [epsilon, iterations, message] of [
      [0.05, 1e9, /sinkhorn: iterations must be an integer in \[0, 10000\], got 1000000000/],
      [0.05, 2.5, /iterations must be an integer/],
      [0, 3, /sinkhorn: epsilon must be a positive number, got 0/],
      [Number.NaN, 3, /epsilon must be a positive number, got NaN/],
    ] as const) {
      expect(() => sinkhorn(scores, epsilon, iterations)).toThrowError(message);
    }
    scores.dispose();
  });

  test('the gradient is the swapped prediction with the codes held fixed (finite differences), and the codes couple the batch', () => {
    const [z1, z2, c] = [rand([6, 3], 10), rand([6, 3], 11), rand([4, 3], 12)];
    const options = { temperature: 0.5, epsilon: 0.5 };
    // Codes computed once, as constants: the loss's gradient must be the gradient of this.
    const codes = (z: tf.Tensor2D) => sinkhorn(tf.matMul(l2Normalize(z), l2Normalize(c), false, true), 0.5, 3);
    const [q1, q2] = [codes(z1), codes(z2)];
    const fixed = (a: tf.Tensor2D, b: tf.Tensor2D, p: tf.Tensor2D) => {
      const s = (z: tf.Tensor2D) => tf.div(tf.matMul(l2Normalize(z), l2Normalize(p), false, true), 0.5);
      const ce = (q: tf.Tensor2D, x: tf.Tensor2D) => tf.mean(tf.sum(tf.mul(q, tf.logSoftmax(s(x))), 1));
      return tf.mul(tf.add(ce(q2, a), ce(q1, b)), -0.5) as tf.Scalar;
    };
    const ours = tf.valueAndGrads((a, b, p) => swav(a as tf.Tensor2D, b as tf.Tensor2D, p as tf.Tensor2D, options))([z1, z2, c]);
    const reference = tf.valueAndGrads((a, b, p) => fixed(a as tf.Tensor2D, b as tf.Tensor2D, p as tf.Tensor2D))([z1, z2, c]);
    expectClose(ours.value, reference.value, 1e-6, 'value');
    ours.grads.forEach((g, k) => expectClose(g, reference.grads[k] as tf.Tensor, 1e-5, `gradient ${k}`));
    expectGradsMatchFiniteDifferences((a, b, p) => fixed(a as tf.Tensor2D, b as tf.Tensor2D, p as tf.Tensor2D), [z1, z2, c]);
    // Half the batch alone gets other codes, so the mean of two half-batch losses is not the loss.
    const half = (k: number) => first(swav(tf.slice(z1, 3 * k, 3), tf.slice(z2, 3 * k, 3), c, options));
    expect(Math.abs((half(0) + half(1)) / 2 - first(ours.value))).toBeGreaterThan(1e-3);
    tf.dispose([z1, z2, c, q1, q2, ours, reference]);
  });

  test('a queue joins the codes but not the loss, and gets no gradient; stable at τ = 0.01 with norm-100 reps', () => {
    const [z1, z2, c, queue] = [rand([4, 3], 13), rand([4, 3], 14), rand([5, 3], 15), rand([8, 3], 16)];
    expectNoLeaks(() => {
      const [withQueue, without] = tf.tidy(() => [first(swav(z1, z2, c, { queue })), first(swav(z1, z2, c))]);
      expect(withQueue).not.toBeCloseTo(without, 4);
      const g = tf.grad((x) => swav(z1, z2, c, { queue: x as tf.Tensor2D }))(queue);
      expect(tf.tidy(() => first(tf.sum(tf.abs(g))))).toBe(0);
      g.dispose();
    });
    expectFiniteWithGrads((a, b) => swav(tf.mul(a as tf.Tensor2D, 100), tf.mul(b as tf.Tensor2D, 100), c, { temperature: 0.01 }), [z1, z2]);
    const bad = tf.zeros([5, 2]) as tf.Tensor2D;
    expect(lossErrorOf(() => swav(z1, z2, bad))).toBe(
      'WIDTH_MISMATCH: swav: prototypes must be as wide as the reps, got prototypes [5, 2] and z1 [4, 3].',
    );
    tf.dispose([z1, z2, c, queue, bad]);
  });
});

describe('RepMemory', () => {
  test('keeps the newest rows first, drops the oldest past its size, with labels; frees everything', () => {
    expectNoLeaks(() => {
      const memory = new RepMemory({ size: 3, width: 2 });
      expect(memory.reps.shape).toEqual([0, 2]);
      const a = tf.tensor2d([
        [1, 1],
        [2, 2],
      ]);
      memory.push(a, [10, 20]);
      a.dispose(); // the memory keeps its own copy
      const b = tf.tensor2d([[3, 3]]);
      memory.push(b, [30]);
      memory.push(b, [31]);
      b.dispose();
      expect(memory.reps.arraySync()).toEqual([
        [3, 3],
        [3, 3],
        [1, 1],
      ]);
      expect(memory.labels).toEqual([31, 30, 10]);
      memory.dispose();
    });
  });

  test('pushed from inside a loss under a gradient, it is detached: the next loss gives it no gradient path', () => {
    const memory = new RepMemory({ size: 4, width: 2 });
    const x = tf.variable(tf.tensor2d([[1, 2]]));
    const g = tf.variableGrads(() => {
      const value = tf.sum(tf.mul(x, 3)) as tf.Scalar;
      memory.push(x);
      return value;
    });
    expect(g.value.dataSync()[0]).toBe(9);
    expect(memory.reps.arraySync()).toEqual([[1, 2]]);
    tf.dispose([g.value, ...Object.values(g.grads)]);
    expect(lossErrorOf(() => memory.push(tf.zeros([1, 3]) as tf.Tensor2D))).toBe(
      'WIDTH_MISMATCH: RepMemory.push: reps must be 2 wide, got [1, 3].',
    );
    memory.dispose();
    x.dispose();
  });
});
