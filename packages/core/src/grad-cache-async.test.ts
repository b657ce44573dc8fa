import * as tf from '@tensorflow/tfjs-core';
import { afterEach, beforeAll, describe, expect, test, vi } from 'vitest';
import { testMlp, useBackend, infoNceReference } from '@gradcache/testing';
import { GradCacheError } from './errors.js';
import { countingEncoder } from './errors.test-helper.js';
import { GradCache } from './grad-cache.js';

beforeAll(() => useBackend('cpu'));
afterEach(() => vi.restoreAllMocks());

const pairLoss = ([q, d]: tf.Tensor2D[]): tf.Scalar => infoNceReference(q!, d!);

/**
 * Counts every synchronous read of tensor data: the engine's readSync is where dataSync, arraySync
 * and bufferSync end (the cpu backend's own async read does not pass through it).
 */
function countSyncReads(): { readonly count: number } {
  const spy = vi.spyOn(tf.engine(), 'readSync');
  return {
    get count() {
      return spy.mock.calls.length;
    },
  };
}

describe('GradCache async', () => {
  test('computeGradientsAsync gives the same loss and gradients as computeGradients, bit for bit, with no synchronous read', async () => {
    const q = testMlp({ widths: [6, 10, 4], dropout: 0.2, seed: 1 });
    const d = testMlp({ widths: [6, 8, 4], seed: 2 });
    const inputs = [tf.randomNormal([11, 6], 0, 1, 'float32', 3), tf.randomNormal([11, 6], 0, 1, 'float32', 4)];
    const syncReads = countSyncReads();
    const sync = new GradCache({ encoders: [q, d], chunkSize: 4, loss: pairLoss, seed: 7 }).computeGradients(inputs);
    expect(syncReads.count).toBe(1); // the spy sees the synchronous API's one read of the step's checks
    vi.restoreAllMocks();
    const before = tf.memory().numTensors;
    const reads = countSyncReads();
    const async = await new GradCache({ encoders: [q, d], chunkSize: 4, loss: pairLoss, seed: 7 }).computeGradientsAsync(inputs);
    expect(reads.count).toBe(0);
    expect(tf.memory().numTensors - before).toBe(1 + Object.keys(async.grads).length);
    expect(await async.loss.data()).toEqual(await sync.loss.data());
    expect(Object.keys(async.grads)).toEqual(Object.keys(sync.grads));
    for (const name of Object.keys(sync.grads)) {
      expect(await async.grads[name]!.data(), name).toEqual(await sync.grads[name]!.data());
    }
    expect(async.nonFinite).toEqual([]);
    tf.dispose([sync, async, inputs]);
    q.dispose();
    d.dispose();
  });

  test('stepAsync applies the same update as step and reads nothing synchronously', async () => {
    const [a, b] = [testMlp({ widths: [6, 4], seed: 5 }), testMlp({ widths: [6, 4], seed: 5 })];
    const inputs = [tf.randomNormal([8, 6], 0, 1, 'float32', 6)];
    const loss = ([r]: tf.Tensor2D[]) => tf.mean(tf.square(r!)) as tf.Scalar;
    const [optA, optB] = [tf.train.adam(0.01), tf.train.adam(0.01)];
    let before = tf.memory().numTensors;
    const syncLoss = new GradCache({ encoders: [a], chunkSize: 3, loss }).step(optA, inputs).loss;
    const syncNew = tf.memory().numTensors - before; // Adam's slots, created by the first step
    const reads = countSyncReads();
    before = tf.memory().numTensors;
    const asyncLoss = (await new GradCache({ encoders: [b], chunkSize: 3, loss }).stepAsync(optB, inputs)).loss;
    expect(reads.count).toBe(0);
    expect(asyncLoss).toBe(syncLoss);
    expect(tf.memory().numTensors - before).toBe(syncNew);
    for (const [k, v] of a.trainableVariables.entries()) {
      expect(await b.trainableVariables[k]!.data()).toEqual(await v.data());
    }
    tf.dispose([inputs]);
    [a, b, optA, optB].forEach((x) => x.dispose());
  });

  test('stepAsync: a NaN loss throws LOSS_NOT_FINITE, applies nothing, restores state and leaks nothing', async () => {
    const { encoder: counting, w, state } = countingEncoder();
    const x = tf.tensor2d([
      [1, 2, Number.NaN],
      [1, 1, 1],
    ]);
    const cache = new GradCache({ encoders: [counting], chunkSize: 1, loss: ([r]) => tf.sum(r!) as tf.Scalar });
    const optimizer = tf.train.sgd(0.1);
    const before = tf.memory().numTensors;
    const error = await cache.stepAsync(optimizer, [x]).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(GradCacheError);
    expect((error as GradCacheError).code).toBe('LOSS_NOT_FINITE');
    expect(tf.memory().numTensors).toBe(before);
    expect(Array.from(await w.data())).toEqual([1, 1, 1, 1, 1, 1]);
    expect(Array.from(await state.data())).toEqual([0, 0, 0]);
    optimizer.dispose();
    tf.dispose([w, state, x]);
  });
});
