import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, test } from 'vitest';
import { useBackend } from '@gradcache/testing';
import { guideAbove, indexKeys, sameKey } from './pair-rules.js';

beforeAll(() => useBackend('cpu'));

describe('pair rules', () => {
  test('guideAbove picks the candidates a guide scores above the threshold', () => {
    const g = tf.tensor2d([[1], [2]]);
    const cg = tf.tensor2d([[1], [3], [-1]]);
    const rule = guideAbove(g, cg, tf.tensor1d([2, 2]));
    // scores [[1, 3, −1], [2, 6, −2]] > 2.
    expect(rule.block(rule.tensors, { begin: 0, size: 2 }, { begin: 0, size: 3 }).arraySync()).toEqual([
      [0, 1, 0],
      [0, 1, 0],
    ]);
  });

  test('sameKey of numbers skips blocks without a shared key; of tensors it cannot tell', () => {
    const rule = sameKey(indexKeys(4), [10, 11, 2, 3]);
    expect(rule.mayMatch?.({ begin: 0, size: 2 }, { begin: 0, size: 2 })).toBe(false);
    expect(rule.mayMatch?.({ begin: 2, size: 2 }, { begin: 2, size: 2 })).toBe(true);
    expect(rule.block(rule.tensors, { begin: 2, size: 2 }, { begin: 2, size: 2 }).arraySync()).toEqual([
      [1, 0],
      [0, 1],
    ]);
    expect(sameKey(tf.tensor1d([1, 2], 'int32'), [1, 2]).mayMatch).toBeUndefined();
  });
});
