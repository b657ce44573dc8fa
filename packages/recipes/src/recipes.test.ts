import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, test } from 'vitest';
import { GradCache } from '@gradcache/core';
import { useBackend } from '@gradcache/testing';
import { mnistSimclrTask } from './mnist-simclr.js';
import { wordnetRetrievalTask } from './wordnet-retrieval.js';

beforeAll(() => useBackend('cpu'));

describe('mnistSimclrTask', () => {
  test('two seeded views per image through one shared CNN; a cached step runs and frees its tensors', async () => {
    const task = await mnistSimclrTask({ seed: 1 });
    expect([task.split.train.count + task.split.test.count, task.train.size]).toEqual([10_000, task.split.train.count]);
    const before = tf.memory().numTensors;
    const views = task.train.batch([0, 5, 9, 12], 0);
    expect(views.map((v) => (v as tf.Tensor).shape)).toEqual([
      [4, 28, 28, 1],
      [4, 28, 28, 1],
    ]);
    const again = task.train.batch([0, 5, 9, 12], 0);
    expect(Array.from((again[0] as tf.Tensor).dataSync())).toEqual(Array.from((views[0] as tf.Tensor).dataSync()));
    const gradCache = new GradCache({ encoders: task.encoders, chunkSize: 2, loss: task.loss });
    const { loss, grads } = gradCache.computeGradients(views);
    expect(Number.isFinite(loss.dataSync()[0])).toBe(true);
    tf.dispose([views, again, loss, grads] as tf.TensorContainer);
    expect(tf.memory().numTensors).toBe(before);
    task.dispose();
  });
});

describe('wordnetRetrievalTask', () => {
  test('a shared tower serves both sides; trainPairs is a subset of every part of speech; BM25 is far above chance', async () => {
    const before = tf.memory().numTensors;
    const task = await wordnetRetrievalTask({ sharedTower: true, trainPairs: 2_000, buckets: 1 << 10, dim: 8 });
    expect(task.encoders[0]).toBe(task.encoders[1]);
    expect(task.models[0]).toBe(task.models[1]);
    expect(task.train.size).toBe(2_000);
    // WordNet's files list nouns first: the first 2,000 of the split would all be nouns.
    const kinds = new Set(task.pairs.train.map((p) => p.synset[0]));
    expect([...kinds].sort()).toEqual(['a', 'n', 'r', 'v']);
    const again = await wordnetRetrievalTask({ trainPairs: 2_000, seed: 3, buckets: 1 << 10, dim: 8 });
    expect(again.pairs.train).toEqual(task.pairs.train); // the same subset for every seed
    expect(again.encoders[0]).not.toBe(again.encoders[1]);
    again.dispose();
    const lexical = task.evaluateLexical('validation');
    expect(lexical.documents).toBe(task.pairs.validation.length);
    expect(lexical.recall[1]).toBeGreaterThan(100 / lexical.documents); // chance is 1 / documents
    const gradCache = new GradCache({ encoders: task.encoders, chunkSize: 4, loss: task.loss });
    const inputs = task.train.batch([0, 1, 2, 3, 4, 5, 6, 7], 0);
    const { loss, grads } = gradCache.computeGradients(inputs);
    expect(Number.isFinite(loss.dataSync()[0])).toBe(true);
    tf.dispose([inputs, loss, grads] as tf.TensorContainer);
    task.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });
});
