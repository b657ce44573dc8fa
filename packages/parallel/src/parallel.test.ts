import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { GradCache, GradCacheError, type LossFunction } from '@gradcache/core';
import { expectClose, expectGradsClose, infoNceReference, useBackend } from '@gradcache/testing';
import { ParallelError, ParallelGradCache, type ParallelOptions } from './node.js';
import { createReplica, type TestReplicaOptions } from './replica.test-helper.js';

beforeAll(() => useBackend('cpu'));

const replica = new URL('./replica.test-helper.ts', import.meta.url);
const loss = ([q, d]: tf.Tensor2D[]): tf.Scalar => infoNceReference(q!, d!, 0.5);
const batch = (rows: number, seed: number) => [
  tf.randomNormal([rows, 6], 0, 1, 'float32', seed),
  tf.randomNormal([rows, 6], 0, 1, 'float32', seed + 1),
];

const pools: ParallelGradCache[] = [];
async function pool(
  workers: number,
  replicaOptions: TestReplicaOptions = {},
  chunkSize = 3,
  more: Partial<ParallelOptions> = {},
): Promise<ParallelGradCache> {
  const p = await ParallelGradCache.create({ workers, replica, replicaOptions, chunkSize, loss, seed: 7, backend: 'cpu', ...more });
  pools.push(p);
  return p;
}
afterAll(async () => {
  await Promise.all(pools.map((p) => p.close()));
});

/** The one-process gradient for the same replica, weights copied from the pool's worker 0. */
async function reference(
  parallel: ParallelGradCache,
  inputs: tf.Tensor[],
  chunkSize = 3,
  replicaOptions: TestReplicaOptions = {},
  referenceLoss: LossFunction = loss,
) {
  const { encoders } = createReplica(replicaOptions);
  const cache = new GradCache({ encoders, chunkSize, loss: referenceLoss, seed: 7 });
  const [weights] = await parallel.weights();
  let at = 0;
  for (const v of cache.variables) {
    v.assign(tf.tensor(weights!.subarray(at, at + v.size), v.shape));
    at += v.size;
  }
  cache.batchIndex = parallel.batchIndex - 1;
  const result = cache.computeGradients(inputs);
  const byPosition = Object.fromEntries(cache.variables.map((v, k) => [k, result.grads[v.name] as tf.Tensor]));
  return { result, byPosition, dispose: () => tf.dispose([result, cache.variables]) };
}

describe('ParallelGradCache', () => {
  test.each([1, 2, 3])(
    '%i worker(s): the gradient equals one GradCache process (4 chunks of 3, 3, 3, 1 rows; dropout replayed per global chunk)',
    async (workers) => {
      const parallel = await pool(workers);
      const inputs = batch(10, 1);
      const { loss: value, grads } = await parallel.computeGradients(inputs);
      const ref = await reference(parallel, inputs);
      expect(Math.abs((await value.data())[0]! - (await ref.result.loss.data())[0]!)).toBeLessThan(1e-5);
      const parallelByPosition = Object.fromEntries(Object.values(grads).map((g, k) => [k, g]));
      expectGradsClose(parallelByPosition, ref.byPosition, 1e-4);
      tf.dispose([value, grads, inputs]);
      ref.dispose();
    },
    60_000,
  );

  test('50 steps on 2 workers: the loss falls and the replicas stay bit-identical', async () => {
    const parallel = await pool(2);
    const inputs = batch(12, 3);
    const first = (await parallel.step(inputs)).loss;
    let last = first;
    for (let k = 1; k < 50; k++) last = (await parallel.step(inputs)).loss;
    expect(last).toBeLessThan(first);
    const [a, b] = await parallel.weights();
    expect(Buffer.from(a!.buffer).equals(Buffer.from(b!.buffer))).toBe(true);
    tf.dispose(inputs);
  }, 60_000);

  test('a worker whose encode throws fails the step with WORKER_FAILED and no replica is updated', async () => {
    const parallel = await pool(2, { throwOnRows: 1 });
    const before = await parallel.weights();
    const inputs = batch(10, 5); // the last chunk, of 1 row, is worker 1's
    const error = await parallel.step(inputs).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ParallelError);
    expect((error as ParallelError).code).toBe('WORKER_FAILED');
    expect((error as Error).message).toMatch(/worker 1: encode refused a chunk of 1 rows/);
    expect(await parallel.weights()).toEqual(before);
    // The pool still works for batches that do not trigger it.
    const ok = batch(9, 6);
    expect(Number.isFinite((await parallel.step(ok)).loss)).toBe(true);
    tf.dispose([inputs, ok]);
  }, 60_000);

  test('a worker that dies fails the step with WORKER_EXITED, nothing is applied, and close leaves no thread', async () => {
    const threads = () => process.getActiveResourcesInfo().filter((r) => r === 'MessagePort' || r === 'Worker').length;
    const threadsBefore = threads();
    const parallel = await pool(2, { exitOnRows: 1 });
    expect(parallel.liveWorkers).toBe(2);
    expect(threads()).toBeGreaterThan(threadsBefore);
    const inputs = batch(10, 7);
    const error = await parallel.step(inputs).catch((e: unknown) => e);
    expect((error as ParallelError).code).toBe('WORKER_EXITED');
    const again = await parallel.step(batch(9, 8)).catch((e: unknown) => e);
    expect((again as ParallelError).code).toBe('WORKER_EXITED'); // the pool is broken: say so, do not hang
    expect(parallel.liveWorkers).toBe(1);
    await parallel.close();
    expect(parallel.liveWorkers).toBe(0);
    expect(threads()).toBe(threadsBefore);
    tf.dispose(inputs);
  }, 60_000);

  test('restart() replaces a dead worker with a copy of a live replica (weights and Adam state): training goes on as if it never died', async () => {
    const [failing, clean] = [await pool(2, { exitOnRows: 1 }), await pool(2)];
    const full = batch(12, 21); // chunks of 3 rows: never triggers the exit
    for (let k = 0; k < 3; k++) {
      await failing.step(full);
      await clean.step(full);
    }
    const before = await failing.weights();
    const dying = batch(10, 22); // its last chunk, 1 row, is worker 1's: that worker exits mid-step
    expect(((await failing.step(dying).catch((e: unknown) => e)) as ParallelError).code).toBe('WORKER_EXITED');
    expect(failing.liveWorkers).toBe(1);
    expect(await failing.restart()).toBe(1);
    expect(await failing.restart()).toBe(0); // nothing left to replace
    expect(failing.liveWorkers).toBe(2);
    expect(await failing.weights()).toEqual(before); // the failed step applied nothing, and the new replica holds the rest's weights
    expect(failing.batchIndex).toBe(4); // the failed batch used an index: take it back, so dropout replays as in the clean run
    failing.batchIndex = 3;
    for (let k = 0; k < 3; k++) {
      await failing.step(full);
      await clean.step(full);
    }
    const [[a0, a1], [b0]] = [await failing.weights(), await clean.weights()];
    expect(Buffer.from(a0!.buffer).equals(Buffer.from(a1!.buffer))).toBe(true);
    expect(Buffer.from(a0!.buffer).equals(Buffer.from(b0!.buffer))).toBe(true); // Adam's moments and β powers came along
    tf.dispose([full, dying]);
  }, 60_000);

  describe("runs core's phases, so it behaves as one process", () => {
    test.each([
      ['frozen: true', { frozenSecond: true }],
      ['no trainable variables', { fixedSecond: true }],
    ] as const)(
      'a frozen encoder (%s) is forwarded once and gets no gradient; the gradient equals one process',
      async (_, options) => {
        const parallel = await pool(2, options);
        const inputs = batch(10, 11);
        const { loss: value, grads } = await parallel.computeGradients(inputs);
        const ref = await reference(parallel, inputs, 3, options);
        expect(Object.keys(grads)).toHaveLength(Object.keys(ref.byPosition).length); // the first tower's variables only
        expect(Math.abs((await value.data())[0]! - (await ref.result.loss.data())[0]!)).toBeLessThan(1e-5);
        expectGradsClose(Object.fromEntries(Object.values(grads).map((g, k) => [k, g])), ref.byPosition, 1e-4);
        tf.dispose([value, grads, inputs]);
        ref.dispose();
      },
      60_000,
    );

    test("a loss that is not a scalar is GradCache's LOSS_NOT_SCALAR, and the pool still works after it", async () => {
      const parallel = await pool(2, {}, 3, { loss: ([q]) => tf.sum(q!, 1) as unknown as tf.Scalar });
      const inputs = batch(10, 12);
      const error = await parallel.computeGradients(inputs).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(GradCacheError);
      expect((error as GradCacheError).code).toBe('LOSS_NOT_SCALAR');
      expect(await parallel.weights()).toHaveLength(2);
      tf.dispose(inputs);
    }, 60_000);

    test("a worker's typed error keeps its code: INVALID_REP from the worker's phase 1 reaches the caller", async () => {
      const parallel = await pool(2, { badRepOnRows: 1 });
      const inputs = batch(10, 13);
      const error = await parallel.computeGradients(inputs).catch((e: unknown) => e);
      expect((error as ParallelError).code).toBe('WORKER_FAILED');
      expect((error as ParallelError).workerError).toMatchObject({ name: 'GradCacheError', code: 'INVALID_REP' });
      tf.dispose(inputs);
    }, 60_000);

    test("lossVariables 'auto' trains a temperature the loss reads, as one process does; replayTolerance may be false", async () => {
      const logTemperature = tf.variable(tf.scalar(Math.log(0.5)), true, 'parallel-log-t');
      const scaled: LossFunction = ([q, d]) => infoNceReference(q!, d!, tf.exp(logTemperature) as tf.Scalar);
      const parallel = await pool(2, {}, 3, { loss: scaled, replayTolerance: false, lossOptimizer: tf.train.sgd(0.1) });
      const inputs = batch(10, 14);
      const { loss: value, grads } = await parallel.computeGradients(inputs);
      const ref = await reference(parallel, inputs, 3, {}, scaled);
      expect(grads[logTemperature.name]).toBeDefined();
      expectClose(grads[logTemperature.name]!, ref.result.grads[logTemperature.name]!, 1e-4, 'temperature gradient');
      const before = logTemperature.dataSync()[0];
      await parallel.step(inputs);
      expect(logTemperature.dataSync()[0]).not.toBe(before);
      tf.dispose([value, grads, inputs, logTemperature]);
      ref.dispose();
    }, 60_000);
  });
});
