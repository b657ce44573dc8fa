import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, test } from 'vitest';
import { expectNoLeaks, useBackend } from '@gradcache/testing';
import { batchSize, chunkBatch, chunkRanges } from './chunk-input.js';
import { GradCacheError } from './errors.js';

beforeAll(() => useBackend('cpu'));

describe('chunkRanges', () => {
  test('covers the batch with full chunks and one short last chunk', () => {
    expect(chunkRanges(10, 4)).toEqual([
      { begin: 0, size: 4 },
      { begin: 4, size: 4 },
      { begin: 8, size: 2 },
    ]);
    expect(chunkRanges(3, 8)).toEqual([{ begin: 0, size: 3 }]);
    expect(chunkRanges(1, 1)).toEqual([{ begin: 0, size: 1 }]);
  });
});

describe('batchSize', () => {
  test('reads the shared first dimension of a tensor, an array and a record', () => {
    const a = tf.zeros([5, 2]);
    const b = tf.zeros([5]);
    expect(batchSize(a, 'f', 'x')).toBe(5);
    expect(batchSize([a, b], 'f', 'x')).toBe(5);
    expect(batchSize({ a, b }, 'f', 'x')).toBe(5);
    tf.dispose([a, b]);
  });

  test('refuses an empty array and a disposed tensor', () => {
    expect(() => batchSize([], 'f', 'x')).toThrow(GradCacheError);
    const t = tf.zeros([2, 2]);
    t.dispose();
    expect(() => batchSize(t, 'f', 'x')).toThrow(/a disposed tensor/);
  });
});

describe('chunkBatch', () => {
  test('splits every tensor of a record batch into aligned chunks, in order', () => {
    const ids = tf.tensor2d([
      [1, 1],
      [2, 2],
      [3, 3],
      [4, 4],
      [5, 5],
    ]);
    const mask = tf.tensor1d([1, 0, 1, 0, 1]);
    expectNoLeaks(() => {
      const chunks = chunkBatch({ ids, mask }, 2) as { ids: tf.Tensor; mask: tf.Tensor }[];
      expect(chunks.map((c) => c.ids.arraySync())).toEqual([
        [
          [1, 1],
          [2, 2],
        ],
        [
          [3, 3],
          [4, 4],
        ],
        [[5, 5]],
      ]);
      expect(chunks.map((c) => c.mask.arraySync())).toEqual([[1, 0], [1, 0], [1]]);
      chunks.forEach((c) => tf.dispose([c.ids, c.mask]));
    }, 'chunkBatch');
    tf.dispose([ids, mask]);
  });
});
