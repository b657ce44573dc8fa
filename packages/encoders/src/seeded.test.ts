import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { beforeAll, describe, expect, test } from 'vitest';
import { useBackend } from '@gradcache/testing';
import { convEncoder } from './conv-encoder.js';
import { embeddingBagEncoder } from './embedding-bag-encoder.js';
import { EncoderError } from './errors.js';
import { mlpEncoder } from './mlp-encoder.js';
import { textEncoder } from './text-encoder.js';

beforeAll(() => useBackend('cpu'));

const weightsOf = (model: tfl.LayersModel): number[][] => model.getWeights().map((w) => Array.from(w.dataSync()));

describe('a seed gives bit-identical initial weights, without a seeded scope around the call', () => {
  const builders: [string, (seed: number) => { model: tfl.LayersModel }][] = [
    ['mlpEncoder', (seed) => mlpEncoder({ inputDim: 4, widths: [8, 3], seed })],
    ['convEncoder', (seed) => convEncoder({ inputShape: [8, 8, 1], widths: [4], outputDim: 3, seed })],
    ['textEncoder', (seed) => textEncoder({ vocabSize: 20, maxLength: 6, dim: 8, heads: 2, layers: 1, seed })],
    ['embeddingBagEncoder', (seed) => embeddingBagEncoder({ vocabSize: 20, dim: 8, hidden: [6], seed })],
  ];
  test.each(builders)('%s', (_name, build) => {
    const [a, b, c] = [build(7), build(7), build(8)].map((x) => x.model) as [tfl.LayersModel, tfl.LayersModel, tfl.LayersModel];
    expect(weightsOf(a)).toEqual(weightsOf(b));
    expect(weightsOf(a)).not.toEqual(weightsOf(c));
    [a, b, c].forEach((m) => m.dispose());
  });

  test('a non-integer seed is an EncoderError', () => {
    expect(() => mlpEncoder({ inputDim: 4, widths: [3], seed: 1.5 })).toThrowError(EncoderError);
    expect(() => mlpEncoder({ inputDim: 4, widths: [3], seed: 1.5 })).toThrowError(/seed must be an integer, got 1.5/);
  });
});

describe('embeddingBagEncoder', () => {
  test('a mean over the masked ids: padding changes nothing, the rep is [rows, outputDim]', () => {
    const { model, encoder } = embeddingBagEncoder({ vocabSize: 10, dim: 4, outputDim: 3, normalize: true, seed: 1 });
    const before = tf.memory().numTensors;
    const short = { inputIds: tf.tensor2d([[3, 5]], [1, 2], 'int32'), attentionMask: tf.tensor2d([[1, 1]]) };
    const padded = { inputIds: tf.tensor2d([[3, 5, 0, 9]], [1, 4], 'int32'), attentionMask: tf.tensor2d([[1, 1, 0, 0]]) };
    const a = encoder.encode(short, { training: false });
    const b = encoder.encode(padded, { training: false });
    expect(a.shape).toEqual([1, 3]);
    expect(Array.from(a.dataSync())).toEqual(Array.from(b.dataSync()));
    expect(tf.tidy(() => tf.norm(a).dataSync()[0])).toBeCloseTo(1, 5);
    tf.dispose([short, padded, a, b]);
    expect(tf.memory().numTensors).toBe(before);
    model.dispose();
  });

  test('refuses bad sizes with INVALID_OPTION', () => {
    expect(() => embeddingBagEncoder({ vocabSize: 0 })).toThrowError(/vocabSize must be a positive integer, got 0/);
    expect(() => embeddingBagEncoder({ vocabSize: 5, hidden: [2.5] })).toThrowError(/hidden must be positive integers/);
  });
});
