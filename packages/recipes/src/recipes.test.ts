import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, test } from 'vitest';
import { GradCache } from '@gradcache/core';
import { useBackend } from '@gradcache/testing';
import { mnistSimclrTask } from './mnist-simclr.js';

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
