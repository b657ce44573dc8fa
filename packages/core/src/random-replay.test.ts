import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, test } from 'vitest';
import { useBackend } from '@gradcache/testing';
import { chunkSeed, withSeededRandom } from './random-replay.js';

beforeAll(() => useBackend('cpu'));

describe('withSeededRandom', () => {
  test('makes unseeded tfjs random ops reproducible and restores Math.random', () => {
    const original = Math.random;
    const x = tf.ones([64]);
    const a = withSeededRandom('s', () => tf.dropout(x, 0.5));
    const b = withSeededRandom('s', () => tf.dropout(x, 0.5));
    const c = withSeededRandom('t', () => tf.dropout(x, 0.5));
    expect(Array.from(b.dataSync())).toEqual(Array.from(a.dataSync()));
    expect(Array.from(c.dataSync())).not.toEqual(Array.from(a.dataSync()));
    expect(Math.random).toBe(original);
    tf.dispose([x, a, b, c]);
  });

  test('restores Math.random when the function throws', () => {
    const original = Math.random;
    expect(() =>
      withSeededRandom('s', () => {
        throw new Error('boom');
      }),
    ).toThrow('boom');
    expect(Math.random).toBe(original);
  });
});

describe('chunkSeed', () => {
  test('differs for every seed, step, encoder and chunk', () => {
    const seeds = new Set([
      chunkSeed(1, 0, 0, 0),
      chunkSeed(2, 0, 0, 0),
      chunkSeed(1, 1, 0, 0),
      chunkSeed(1, 0, 1, 0),
      chunkSeed(1, 0, 0, 1),
    ]);
    expect(seeds.size).toBe(5);
  });
});
