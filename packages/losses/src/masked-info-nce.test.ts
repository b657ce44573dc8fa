import * as tf from '@tensorflow/tfjs-core';
import fc from 'fast-check';
import { beforeAll, describe, expect, test } from 'vitest';
import {
  expectClose,
  expectFiniteWithGrads,
  expectGradsMatchFiniteDifferences,
  expectNoLeaks,
  useBackend,
  fcParameters,
} from '@gradcache/testing';
import { infoNCE, type InfoNCEOptions } from './info-nce.js';
import { expectTiledMemoryLinear, lossErrorOf } from './loss.test-helper.js';
import type { Direction } from './masked-info-nce.js';

beforeAll(() => useBackend('cpu'));

const dot = (x: number[], y: number[]) => x.reduce((s, v, k) => s + v * (y[k] as number), 0);
const logSumExp = (xs: number[]) => {
  const max = Math.max(...xs);
  return max + Math.log(xs.reduce((s, x) => s + Math.exp(x - max), 0));
};

/**
 * The definition, one pair at a time in float64: for each query i (positive document p = i·g), the
 * pairs of each direction, less those sharing the query's id and those the guide scores above the
 * positive − margin (the positive itself always stays), then log-sum-exp minus the positive.
 */
function reference(
  q: number[][],
  d: number[][],
  temperature: number,
  group: number,
  directions: Direction[],
  ids?: { queries: number[]; documents: number[] },
  guide?: { queries: number[][]; documents: number[][]; margin: number },
): number {
  let total = 0;
  q.forEach((qi, i) => {
    const p = i * group;
    const dp = d[p] as number[];
    const threshold = guide ? dot(guide.queries[i] as number[], guide.documents[p] as number[]) - guide.margin : Number.POSITIVE_INFINITY;
    const terms: number[] = [];
    const consider = (
      x: number[],
      y: number[],
      anchorId: number | undefined,
      candidateId: number | undefined,
      guideScore: number,
      positive: boolean,
    ) => {
      const sameId = ids !== undefined && anchorId === candidateId;
      if (positive || !(sameId || guideScore > threshold)) terms.push(dot(x, y) / temperature);
    };
    const gq = (j: number) => (guide?.queries[j] ?? []) as number[];
    const gd = (j: number) => (guide?.documents[j] ?? []) as number[];
    d.forEach((dj, j) => consider(qi, dj, ids?.queries[i], ids?.documents[j], dot(gq(i), gd(j)), j === p));
    if (directions.includes('qq'))
      q.forEach((qj, j) => j !== i && consider(qi, qj, ids?.queries[i], ids?.queries[j], dot(gq(i), gq(j)), false));
    if (directions.includes('dq'))
      q.forEach((qj, j) => j !== i && consider(dp, qj, ids?.documents[p], ids?.queries[j], dot(gd(p), gq(j)), false));
    if (directions.includes('dd'))
      d.forEach((dj, j) => j !== p && consider(dp, dj, ids?.documents[p], ids?.documents[j], dot(gd(p), gd(j)), false));
    total += logSumExp(terms) - dot(qi, dp) / temperature;
  });
  return total / q.length;
}

const ALL: Direction[] = ['qd', 'qq', 'dq', 'dd'];

describe('infoNCE directions, false-negative ids and a guide', () => {
  test('equal the pair-by-pair definition, untiled and tiled, for any directions, ids, guide and hard negatives', () => {
    const arb = fc.record({
      batch: fc.integer({ min: 1, max: 7 }),
      width: fc.integer({ min: 1, max: 4 }),
      hardNegatives: fc.integer({ min: 0, max: 2 }),
      directions: fc.subarray(['qq', 'dq', 'dd'] as Direction[]),
      idRange: fc.option(fc.integer({ min: 1, max: 4 })),
      guideMargin: fc.option(fc.double({ min: -0.5, max: 0.5, noNaN: true })),
      tileSize: fc.integer({ min: 1, max: 9 }),
      seed: fc.integer({ min: 1, max: 10_000 }),
    });
    fc.assert(
      fc.property(arb, ({ batch, width, hardNegatives, directions, idRange, guideMargin, tileSize, seed }) => {
        const g = 1 + hardNegatives;
        const q = tf.randomNormal([batch, width], 0, 1, 'float32', seed) as tf.Tensor2D;
        const d = tf.randomNormal([batch * g, width], 0, 1, 'float32', seed + 1) as tf.Tensor2D;
        const gq = tf.randomNormal([batch, 3], 0, 1, 'float32', seed + 2) as tf.Tensor2D;
        const gd = tf.randomNormal([batch * g, 3], 0, 1, 'float32', seed + 3) as tf.Tensor2D;
        const ids =
          idRange === null
            ? undefined
            : {
                queries: Array.from({ length: batch }, (_, i) => (i * 3 + seed) % idRange),
                documents: Array.from({ length: batch * g }, (_, j) => (j * 5 + seed) % idRange),
              };
        const guide = guideMargin === null ? undefined : { queries: gq, documents: gd, margin: guideMargin };
        const dirs: Direction[] = ['qd', ...directions];
        const options: InfoNCEOptions = {
          temperature: 0.5,
          hardNegatives,
          directions: dirs,
          ...(ids ? { ids } : {}),
          ...(guide ? { guide } : {}),
        };
        const expected = reference(
          q.arraySync(),
          d.arraySync(),
          0.5,
          g,
          dirs,
          ids,
          guide && { queries: gq.arraySync(), documents: gd.arraySync(), margin: guide.margin },
        );
        expectNoLeaks(() => {
          const plain = tf.valueAndGrads((a, b) => infoNCE(a as tf.Tensor2D, b as tf.Tensor2D, options))([q, d]);
          const tiled = tf.valueAndGrads((a, b) => infoNCE(a as tf.Tensor2D, b as tf.Tensor2D, { ...options, tileSize }))([q, d]);
          try {
            expect(plain.value.dataSync()[0]).toBeCloseTo(expected, 4);
            // The loss is a difference of O(1) terms (a log-sum-exp and the positive's logit): its rounding is
            // relative to them, not to a result near zero (seen: 3e-8 vs 0 for one query with every candidate masked).
            expectClose(tiled.value, plain.value, 1e-5, 'tiled value', 1);
            // A gradient near zero is a float32 difference of terms of size |x|/(τB) ≈ 0.1 or more: measured against that.
            tiled.grads.forEach((x, k) => expectClose(x, plain.grads[k] as tf.Tensor, 1e-4, `tiled gradient ${k}`, 0.1));
          } finally {
            tf.dispose([plain, tiled]);
          }
        });
        tf.dispose([q, d, gq, gd]);
      }),
      fcParameters(80),
    );
  });

  test('masking a false negative by id = leaving it out of the batch', () => {
    // Documents 0 and 2 are one passage (id 7): for query 0 the copy at row 2 is a false negative.
    const q = tf.randomNormal([3, 4], 0, 1, 'float32', 1) as tf.Tensor2D;
    const d = tf.randomNormal([3, 4], 0, 1, 'float32', 2) as tf.Tensor2D;
    const ids = { queries: [7, 8, 9], documents: [7, 8, 7] };
    const masked = infoNCE(q, d, { temperature: 0.3, ids }).dataSync()[0] as number;
    const qa = q.arraySync();
    const da = d.arraySync();
    const row = (i: number, candidates: number[]) =>
      logSumExp(candidates.map((j) => dot(qa[i] as number[], da[j] as number[]) / 0.3)) - dot(qa[i] as number[], da[i] as number[]) / 0.3;
    // Query 0 sees documents 0 and 1; query 2's positive (row 2) shares its own id 9? No: id 7 ≠ 9, so it sees all three.
    expect(masked).toBeCloseTo((row(0, [0, 1]) + row(1, [0, 1, 2]) + row(2, [0, 1, 2])) / 3, 5);
    tf.dispose([q, d]);
  });

  test("with distinct ids, one direction and no guide it is plain infoNCE; GTE's four directions change it", () => {
    const q = tf.randomNormal([5, 3], 0, 1, 'float32', 3) as tf.Tensor2D;
    const d = tf.randomNormal([5, 3], 0, 1, 'float32', 4) as tf.Tensor2D;
    const plain = infoNCE(q, d, { temperature: 0.2 });
    expectClose(infoNCE(q, d, { temperature: 0.2, ids: { queries: [0, 1, 2, 3, 4], documents: [0, 1, 2, 3, 4] } }), plain, 1e-6);
    const gte = infoNCE(q, d, { temperature: 0.2, directions: ALL }).dataSync()[0] as number;
    expect(gte).toBeGreaterThan(plain.dataSync()[0] as number); // more terms in every denominator
    expect(gte).toBeCloseTo(reference(q.arraySync(), d.arraySync(), 0.2, 1, ALL), 4);
    tf.dispose([q, d, plain]);
  });

  test('has finite-difference gradients (q, d and a learnable temperature) and stays finite at τ = 0.01, norm 100', () => {
    const q = tf.randomNormal([3, 3], 0, 1, 'float32', 5);
    const d = tf.randomNormal([6, 3], 0, 1, 'float32', 6);
    const t = tf.scalar(0.7);
    const ids = { queries: [1, 2, 1], documents: [1, 3, 2, 1, 1, 4] };
    for (const tileSize of [undefined, 2]) {
      const options = { hardNegatives: 1, directions: ALL, ids, ...(tileSize ? { tileSize } : {}) };
      expectGradsMatchFiniteDifferences(
        (a, b, s) => infoNCE(a as tf.Tensor2D, b as tf.Tensor2D, { ...options, temperature: s as tf.Scalar }),
        [q, d, t],
      );
      expectFiniteWithGrads(
        (a, b) => infoNCE(tf.mul(a as tf.Tensor2D, 100), tf.mul(b as tf.Tensor2D, 100), { ...options, temperature: 0.01 }),
        [q, d],
      );
    }
    tf.dispose([q, d, t]);
  });

  test('tiled, needs memory linear in B (untiled: quadratic)', async () => {
    await expectTiledMemoryLinear(
      (q, d, tileSize) => {
        const ids = Array.from({ length: q.shape[0] }, (_, i) => i % 50);
        return infoNCE(q, d, {
          temperature: 0.1,
          directions: ALL,
          ids: { queries: ids, documents: ids },
          ...(tileSize ? { tileSize } : {}),
        });
      },
      { batch: 128, tileSize: 64 },
    );
  });

  test('refuses bad directions, ids and guides, naming what it got', () => {
    const q = tf.zeros([2, 3]) as tf.Tensor2D;
    const d = tf.zeros([2, 3]) as tf.Tensor2D;
    expect(lossErrorOf(() => infoNCE(q, d, { temperature: 1, directions: ['qq'] }))).toBe(
      `INVALID_OPTION: infoNCE: directions must list 'qd' and any of 'qq', 'dq', 'dd', got ["qq"].`,
    );
    expect(lossErrorOf(() => infoNCE(q, d, { temperature: 1, ids: { queries: [1, 2], documents: [1] } }))).toBe(
      'LABELS_LENGTH: infoNCE: ids must be { queries, documents } with one id per row of q (2) and of d (2), got 2 and 1.',
    );
    const g = tf.zeros([3, 2]) as tf.Tensor2D;
    expect(lossErrorOf(() => infoNCE(q, d, { temperature: 1, guide: { queries: g, documents: g } }))).toBe(
      'INVALID_OPTION: infoNCE: guide must be { queries: [2, g], documents: [2, g] } reps of a guide model, got [3, 2] and [3, 2].',
    );
    tf.dispose([q, d, g]);
  });
});
