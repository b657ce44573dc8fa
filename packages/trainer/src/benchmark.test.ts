import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, expect, test } from 'vitest';
import { mlpEncoder } from '@gradcache/encoders';
import { infoNCE } from '@gradcache/losses';
import { useBackend } from '@gradcache/testing';
import { benchmark, benchmarkTable } from './benchmark.js';

beforeAll(() => useBackend('cpu'));

test('benchmark: every case per batch size, ratios to the full step, cached memory below it, failures reported, nothing leaked', async () => {
  const q = mlpEncoder({ inputDim: 8, widths: [256, 256, 4], seed: 1 });
  const d = mlpEncoder({ inputDim: 8, widths: [256, 256, 4], seed: 2 });
  const inputs = [tf.randomNormal([64, 8], 0, 1, 'float32', 1), tf.randomNormal([64, 8], 0, 1, 'float32', 2)];
  const loss = ([a, b]: tf.Tensor2D[]) => infoNCE(a as tf.Tensor2D, b as tf.Tensor2D, { temperature: 0.1 });
  const before = tf.memory().numTensors;
  const rows = await benchmark({ encoders: [q.encoder, d.encoder], loss, inputs, chunkSizes: [8, 16], batchSizes: [32, 64], rounds: 2 });
  expect(tf.memory().numTensors).toBe(before);
  expect(rows.map((r) => `${r.batchSize} ${r.strategy} ${r.chunkSize}`)).toEqual([
    '32 full null',
    '32 cached 8',
    '32 accumulate 8',
    '32 cached 16',
    '32 accumulate 16',
    '64 full null',
    '64 cached 8',
    '64 accumulate 8',
    '64 cached 16',
    '64 accumulate 16',
  ]);
  const full64 = rows.find((r) => r.batchSize === 64 && r.strategy === 'full');
  const cached64 = rows.find((r) => r.batchSize === 64 && r.strategy === 'cached' && r.chunkSize === 8);
  expect(full64?.timeRatio).toBe(1);
  expect(cached64?.memoryRatio).toBeLessThan(0.5); // 256-wide activations of 8 rows, not 64
  expect(rows.every((r) => r.ms > 0 && r.peakBytes > 0)).toBe(true);
  expect(benchmarkTable(rows)).toMatch(/\| 64 \| cached, chunk 8 \| [\d.]+ ms \| [\d.]+× \|/);
  const failing = await benchmark({
    encoders: [q.encoder, d.encoder],
    loss: () => {
      throw new Error('out of memory (simulated)');
    },
    inputs,
    chunkSizes: [8],
    rounds: 1,
  });
  expect(failing.every((r) => r.error === 'out of memory (simulated)' && Number.isNaN(r.ms))).toBe(true);
  await expect(benchmark({ encoders: [q.encoder, d.encoder], loss, inputs, chunkSizes: [8], batchSizes: [128] })).rejects.toThrowError(
    /batch sizes up to 128 need inputs of that many rows; they have 64/,
  );
  tf.dispose(inputs);
  [q, d].forEach((e) => e.model.dispose());
});
