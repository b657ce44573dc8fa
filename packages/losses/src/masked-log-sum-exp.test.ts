import * as tf from '@tensorflow/tfjs-core';
import fc from 'fast-check';
import { beforeAll, describe, expect, test } from 'vitest';
import { expectClose, expectNoLeaks, useBackend, fcParameters } from '@gradcache/testing';
import { maskedLogSumExp } from './masked-log-sum-exp.js';
import { maskedMeanLogit } from './masked-mean-logit.js';
import { indexKeys, type Keys, type PairMask, sameKey } from './pair-rules.js';

beforeAll(() => useBackend('cpu'));

const values = (t: tf.Tensor): number[] => Array.from(t.dataSync());

describe('maskedLogSumExp and maskedMeanLogit', () => {
  test('leave out excluded pairs and average the positives (hand-computed)', () => {
    tf.tidy(() => {
      // a = [e1, e2], c = [e1, e2, e1 + e2], s = 1: scores a0 → [1, 0, 1], a1 → [0, 1, 1].
      // Excluding "self" (keys 0, 1 against 0, 1, 2) leaves a0 → {c1, c2}: log(1 + e); a1 → {c0, c2}: log(1 + e).
      // Labels a [5, 7], c [5, 5, 7]: a0's positives are c0 (excluded: self) and c1 → mean 0, count 1;
      // a1's is c2 → mean 1, count 1.
      const a = tf.tensor2d([
        [1, 0],
        [0, 1],
      ]);
      const c = tf.tensor2d([
        [1, 0],
        [0, 1],
        [1, 1],
      ]);
      const s = tf.scalar(1);
      const mask = { exclude: [sameKey(indexKeys(2), indexKeys(3))] };
      for (const tileSize of [undefined, 1, 2]) {
        const lse = maskedLogSumExp(a, c, s, mask, tileSize);
        expect(values(lse).map((v) => v.toFixed(5))).toEqual(Array(2).fill(Math.log(1 + Math.E).toFixed(5)));
        const { mean, count } = maskedMeanLogit(a, c, s, sameKey(tf.tensor1d([5, 7]), tf.tensor1d([5, 5, 7])), mask, tileSize);
        expect(values(mean)).toEqual([0, 1]);
        expect(values(count)).toEqual([1, 1]);
      }
    });
  });

  test('tiled = untiled, values and the gradients of a, c and s, for any keys, kept pairs, targets and tile size', () => {
    const arb = fc.record({
      rows: fc.integer({ min: 1, max: 12 }),
      cols: fc.integer({ min: 2, max: 14 }),
      width: fc.integer({ min: 1, max: 5 }),
      tileSize: fc.integer({ min: 1, max: 16 }),
      keyRange: fc.integer({ min: 2, max: 5 }),
      withKeep: fc.boolean(),
      shared: fc.boolean(),
      arrays: fc.boolean(),
      withTarget: fc.boolean(),
      seed: fc.integer({ min: 1, max: 10_000 }),
    });
    fc.assert(
      fc.property(arb, ({ rows, cols, width, tileSize, keyRange, withKeep, shared, arrays, withTarget, seed }) => {
        const n = shared ? rows : cols; // shared: the anchors are the candidates (NT-Xent), and a = c
        const a = tf.randomNormal([rows, width], 0, 1, 'float32', seed) as tf.Tensor2D;
        const c = shared ? a : (tf.randomNormal([n, width], 0, 1, 'float32', seed + 1) as tf.Tensor2D);
        const s = tf.scalar(1.7);
        const keys = (count: number, salt: number) => Array.from({ length: count }, (_, i) => (i * 7 + seed * salt) % keyRange);
        // Keys as numbers (blocks without a match are skipped) or as tensors (every block is computed).
        const asKeys = (k: number[]) => (arrays ? k : tf.tensor1d(k, 'int32'));
        // Candidate 0 always stays (key −1 matches no anchor): every anchor keeps at least one candidate.
        const [ak, ck, al, cl] = [keys(rows, 3), [-1, ...keys(n, 5).slice(1)], keys(rows, 11), keys(n, 13)].map(asKeys) as Keys[];
        const self = sameKey(indexKeys(rows, 1), indexKeys(n));
        const [ids, kept, labels] = [sameKey(ak as Keys, ck as Keys), sameKey(al as Keys, cl as Keys), sameKey(al as Keys, cl as Keys)];
        const mask: PairMask = withKeep ? { exclude: [ids, self], keep: kept } : { exclude: [self] };
        // One target per anchor (a cross-entropy), excluded from the log-sum-exp or not (DCL).
        const target = withTarget ? sameKey(asKeys(indexKeys(rows).map((i) => (i * 3 + seed) % n)) as Keys, indexKeys(n)) : undefined;
        const run = (tileSize?: number) =>
          tf.valueAndGrads((x, y, t) => {
            const lse = maskedLogSumExp(
              x as tf.Tensor2D,
              shared ? (x as tf.Tensor2D) : (y as tf.Tensor2D),
              t as tf.Scalar,
              mask,
              tileSize,
              target,
            );
            const { mean } = maskedMeanLogit(
              x as tf.Tensor2D,
              shared ? (x as tf.Tensor2D) : (y as tf.Tensor2D),
              t as tf.Scalar,
              labels,
              mask,
              tileSize,
            );
            // Weights that differ per row, so each row's gradient is checked.
            return tf.sum(tf.mul(tf.sub(lse, tf.mul(mean, 0.5)), tf.range(1, rows + 1)));
          })([a, c, s]);
        expectNoLeaks(() => {
          const plain = run();
          const tiled = run(tileSize);
          try {
            expectClose(tiled.value, plain.value, 1e-5, 'value');
            // a = c: both gradients are the sum; compare each.
            // A gradient near zero (ds when P ≈ T) is the float32 difference of O(1) terms: measured against 0.1.
            tiled.grads.forEach((g, k) => expectClose(g, plain.grads[k] as tf.Tensor, 1e-4, `gradient ${k}`, 0.1));
          } finally {
            tf.dispose([plain, tiled]);
          }
        }, 'maskedLogSumExp and maskedMeanLogit');
        tf.dispose([a, c, s, ...[self, ids, kept, labels, target].flatMap((r) => r?.tensors ?? [])]);
      }),
      fcParameters(80),
    );
  });

  test('the counts match a dense count of the positives when a row has none', () => {
    const z = tf.randomNormal([5, 3], 0, 1, 'float32', 9) as tf.Tensor2D;
    const labels = tf.tensor1d([0, 1, 1, 2, 2]);
    const self = sameKey(indexKeys(5), indexKeys(5));
    const { count, mean } = maskedMeanLogit(z, z, tf.scalar(1), sameKey(labels, labels), { exclude: [self] }, 2);
    expect(values(count)).toEqual([0, 1, 1, 1, 1]);
    expect(values(mean)[0]).toBe(0);
  });
});
