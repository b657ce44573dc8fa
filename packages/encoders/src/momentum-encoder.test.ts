import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, test } from 'vitest';
import { GradCache } from '@gradcache/core';
import { expectNoLeaks, useBackend } from '@gradcache/testing';
import { EncoderError } from './errors.js';
import { mlpEncoder } from './mlp-encoder.js';
import { momentumEncoder } from './momentum-encoder.js';

beforeAll(() => useBackend('cpu'));

const tower = (seed: number) => mlpEncoder({ inputDim: 3, widths: [4, 2], seed }).encoder;
const values = (vs: readonly tf.Variable[]) => vs.map((v) => Array.from(v.dataSync()));

describe('momentumEncoder', () => {
  test('starts as a copy, moves by target ← m·target + (1 − m)·online, and is frozen', () => {
    const online = tower(1);
    const copy = tower(2);
    const target = momentumEncoder(online, copy, { momentum: 0.75 });
    expect(values(copy.trainableVariables)).toEqual(values(online.trainableVariables));
    expect(copy.trainableVariables.every((v) => !v.trainable)).toBe(true);
    expect(target.encoder.frozen).toBe(true);
    expect(target.encoder.trainableVariables).toEqual([]);
    // Move online by +1 everywhere: the target moves by (1 − m) = 0.25.
    const before = values(copy.trainableVariables);
    online.trainableVariables.forEach((v) => v.assign(tf.tidy(() => tf.add(v, 1))));
    expectNoLeaks(() => target.update());
    values(copy.trainableVariables).forEach((row, k) => row.forEach((x, j) => expect(x).toBeCloseTo((before[k]?.[j] as number) + 0.25, 5)));
  });

  test('GradCache leaves it out of the variables and still feeds its reps to the loss', () => {
    const online = tower(3);
    const target = momentumEncoder(online, tower(4));
    const cache = new GradCache({
      encoders: [online, target.encoder],
      chunkSize: 2,
      loss: ([q, k]) => tf.mean(tf.sum(tf.mul(q as tf.Tensor2D, k as tf.Tensor2D), 1)),
    });
    expect(cache.variables.length).toBe(online.trainableVariables.length);
    const x = tf.randomNormal([4, 3], 0, 1, 'float32', 5);
    const result = cache.computeGradients([x, x]);
    expect(Number.isFinite(result.loss.dataSync()[0])).toBe(true);
    expect(Object.keys(result.grads).length).toBe(online.trainableVariables.length);
    tf.dispose([x, result]);
  });

  test('refuses a copy of another architecture, the online encoder itself, and a bad momentum', () => {
    const online = tower(6);
    const other = mlpEncoder({ inputDim: 3, widths: [5, 2], seed: 7 }).encoder;
    expect(() => momentumEncoder(online, other)).toThrow(EncoderError);
    expect(() => momentumEncoder(online, other)).toThrow(
      /copy must have online's architecture .* \[\[3,4\], \[4\], \[4,2\], \[2\]\] and \[\[3,5\]/,
    );
    expect(() => momentumEncoder(online, online)).toThrow(/copy shares variables with online/);
    expect(() => momentumEncoder(online, tower(8), { momentum: 1.5 })).toThrow(
      'momentumEncoder: momentum must be a number in [0, 1], got 1.5.',
    );
  });
});
