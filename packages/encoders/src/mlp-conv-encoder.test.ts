import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, test } from 'vitest';
import { useBackend } from '@gradcache/testing';
import { convEncoder } from './conv-encoder.js';
import { mlpEncoder } from './mlp-encoder.js';

beforeAll(() => useBackend('cpu'));

describe('mlpEncoder', () => {
  test('maps [n, inputDim] to normalised [n, last width] reps', () => {
    const { model, encoder } = mlpEncoder({ inputDim: 6, widths: [8, 4], dropout: 0.2, normalize: true, seed: 1 });
    const x = tf.randomNormal([3, 6], 0, 1, 'float32', 1);
    const rep = encoder.encode(x, { training: false });
    expect(rep.shape).toEqual([3, 4]);
    tf.norm(rep, 'euclidean', 1)
      .dataSync()
      .forEach((n) => expect(n).toBeCloseTo(1, 5));
    tf.dispose([x, rep]);
    model.dispose();
  });
});

describe('convEncoder', () => {
  test.each([
    [[28, 28, 1], 1],
    [[64, 64, 3], 1],
    [[256, 256, 3], 2],
    [[1024, 1024, 3], 4],
  ] as const)('takes %j images, halving them with %i stem convs', (shape, stemConvs) => {
    const { model } = convEncoder({ inputShape: shape, widths: [4, 8], outputDim: 16 });
    // Stem convs come before the first residual block's add; count the convs with 3×3 kernels and stride 2.
    const stem = model.layers.filter((l) => l.getClassName() === 'Conv2D').slice(0, stemConvs + 1);
    expect(stem.slice(0, stemConvs).every((l) => (l.getConfig()['strides'] as number[])[0] === 2)).toBe(true);
    expect((stem[stemConvs]?.getConfig()['strides'] as number[] | undefined)?.[0]).toBe(1);
    expect(model.outputs[0]?.shape).toEqual([null, 16]);
    model.dispose();
  });

  test('encodes a batch of small images to reps', () => {
    const { model, encoder } = convEncoder({ inputShape: [28, 28, 1], widths: [4, 8], outputDim: 6, normalize: true });
    const x = tf.randomNormal([2, 28, 28, 1], 0, 1, 'float32', 2);
    const rep = encoder.encode(x, { training: true });
    expect(rep.shape).toEqual([2, 6]);
    expect(encoder.stateVariables?.length).toBeGreaterThan(0);
    tf.dispose([x, rep]);
    model.dispose();
  });
});
