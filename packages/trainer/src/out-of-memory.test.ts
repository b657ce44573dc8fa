import * as tf from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { initBackend } from '@gradcache/backend/node';
import { DEFAULT_WASM_HEAP_LIMIT, installHeapGuard } from '@gradcache/backend/internal';
import { GradCache, isOutOfMemory } from '@gradcache/core';
import { mlpEncoder } from '@gradcache/encoders';
import { infoNCE } from '@gradcache/losses';
import { fit, type OutOfMemoryEvent } from './fit.js';

/**
 * Out of memory is a step that can be retried. A wasm heap limited to 69 MiB; two towers whose
 * chunks dominate a step's memory (32 → 8192 → 32: a chunk of 512 rows holds 16 MiB per activation),
 * B = 512. Chunks of 512 and 256 do not fit; 128 does.
 */
const LIMIT = 69 * 2 ** 20; // both tests pass from 64 to 74 MiB (72 to 92 before Identity stopped copying): a margin either side

beforeAll(async () => {
  tf.env().set('PROD', true);
  await initBackend('wasm');
});
afterAll(() => installHeapGuard(tf.backend() as BackendWasm, DEFAULT_WASM_HEAP_LIMIT));

function towers(prefix: string) {
  const q = mlpEncoder({ inputDim: 32, widths: [8192, 32], normalize: true, seed: 1, name: `${prefix}_q` });
  const d = mlpEncoder({ inputDim: 32, widths: [8192, 32], normalize: true, seed: 2, name: `${prefix}_d` });
  const variables = () => [...q.model.trainableWeights, ...d.model.trainableWeights].map((w) => w.read() as tf.Variable);
  return {
    encoders: [q.encoder, d.encoder],
    loss: ([a, b]: tf.Tensor2D[]) => infoNCE(a as tf.Tensor2D, b as tf.Tensor2D, { temperature: 0.1 }),
    bits: () => variables().map((v) => Array.from(new Uint32Array((v.dataSync() as Float32Array).slice().buffer))),
    dispose: () => {
      q.model.dispose();
      d.model.dispose();
    },
  };
}

const x = () => tf.randomNormal([512, 32], 0, 1, 'float32', 11);
const y = () => tf.randomNormal([512, 32], 0, 1, 'float32', 12);

describe('out of memory (wasm, heap limited to 69 MiB)', () => {
  test('a step that runs out frees everything and changes nothing; halving the chunk trains on, equal to a run at that chunk from the start', () => {
    const [inputs, optimizer, model] = [[x(), y()], tf.train.adam(1e-3), towers('halve')];
    installHeapGuard(tf.backend() as BackendWasm, LIMIT);
    const log: string[] = [];
    try {
      let chunk = 512;
      for (let step = 0; step < 4; ) {
        const gradCache = new GradCache({ encoders: model.encoders, loss: model.loss, chunkSize: chunk });
        gradCache.batchIndex = step;
        const [tensors, weights] = [tf.memory().numTensors, model.bits()];
        try {
          gradCache.step(optimizer, inputs as tf.Tensor[]);
          log.push(`step ${step} chunk ${chunk}: ok`);
          step++;
        } catch (error) {
          expect(isOutOfMemory(error), String(error)).toBe(true);
          log.push(`step ${step} chunk ${chunk}: ${(error as { code: string }).code}`);
          expect(tf.memory().numTensors).toBe(tensors);
          expect(model.bits()).toEqual(weights);
          chunk /= 2;
        }
      }
      // Many small allocations after the large refusals (the heap left fragmented) still succeed.
      const small = Array.from({ length: 2000 }, () => tf.zeros([256]));
      tf.dispose(small);
    } finally {
      installHeapGuard(tf.backend() as BackendWasm, DEFAULT_WASM_HEAP_LIMIT);
    }
    expect(log).toEqual([
      'step 0 chunk 512: WASM_HEAP_LIMIT',
      'step 0 chunk 256: WASM_HEAP_LIMIT',
      'step 0 chunk 128: ok',
      'step 1 chunk 128: ok',
      'step 2 chunk 128: ok',
      'step 3 chunk 128: ok',
    ]);
    // The same 4 steps at chunk 128 from the start, without a limit: the same weights, bit for bit.
    const [reference, referenceOptimizer] = [towers('reference'), tf.train.adam(1e-3)];
    const gradCache = new GradCache({ encoders: reference.encoders, loss: reference.loss, chunkSize: 128 });
    for (let step = 0; step < 4; step++) gradCache.step(referenceOptimizer, inputs as tf.Tensor[]);
    expect(model.bits()).toEqual(reference.bits());
    tf.dispose(inputs);
    [model, reference].forEach((m) => m.dispose());
    [optimizer, referenceOptimizer].forEach((o) => o.dispose());
  }, 120_000);

  test("fit with outOfMemory 'shrink' halves the chunk, logs each retry, and ends where a run at that chunk ends", async () => {
    const run = async (chunkSize: number, limit: number, prefix: string) => {
      const model = towers(prefix);
      const [xs, ys] = [x(), y()];
      const optimizer = tf.train.adam(1e-3);
      const events: OutOfMemoryEvent[] = [];
      installHeapGuard(tf.backend() as BackendWasm, limit);
      try {
        await fit({
          encoders: model.encoders,
          loss: model.loss,
          optimizer,
          data: { size: 512, batch: (indices) => [tf.gather(xs, [...indices]), tf.gather(ys, [...indices])] },
          batchSize: 512,
          chunkSize,
          epochs: 3,
          outOfMemory: 'shrink',
          callbacks: [{ onOutOfMemory: (event) => void events.push(event) }],
        });
      } finally {
        installHeapGuard(tf.backend() as BackendWasm, DEFAULT_WASM_HEAP_LIMIT);
      }
      const bits = model.bits();
      tf.dispose([xs, ys]);
      model.dispose();
      optimizer.dispose();
      return { bits, events };
    };
    const shrunk = await run(512, LIMIT, 'shrink');
    expect(shrunk.events.map((e) => [e.step, e.chunkSize, e.retry, (e.error as { code?: string }).code])).toEqual([
      [1, [512, 512], { chunkSize: 256 }, 'WASM_HEAP_LIMIT'],
      [1, [256, 256], { chunkSize: 128 }, 'WASM_HEAP_LIMIT'],
    ]);
    const straight = await run(128, DEFAULT_WASM_HEAP_LIMIT, 'straight');
    expect(straight.events).toEqual([]);
    expect(shrunk.bits).toEqual(straight.bits);
    await expect(
      fit({
        encoders: [],
        loss: () => tf.scalar(0),
        optimizer: tf.train.sgd(1),
        data: { size: 4, batch: () => [] },
        batchSize: 2,
        chunkSize: 2,
        epochs: 1,
        strategy: 'accumulate',
        outOfMemory: 'shrink',
      }),
    ).rejects.toThrowError(/'shrink' for the cached strategy only/);
  }, 120_000);
});
