// fit over a pool: the trainer's loop (schedule, positions, resume) driving ParallelGradCache, and a
// run whose worker dies mid-step that still ends on the weights of a run where none did.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { fit, type Position, type TrainingData, TrainerError, warmupCosine } from '@gradcache/trainer';
import { infoNceReference, useBackend } from '@gradcache/testing';
import { type ParallelError, ParallelGradCache } from './node.js';
import { createReplica, type TestReplicaOptions } from './replica.test-helper.js';

beforeAll(() => useBackend('cpu'));

const replica = new URL('./replica.test-helper.ts', import.meta.url);
const loss = ([q, d]: tf.Tensor2D[]): tf.Scalar => infoNceReference(q!, d!, 0.5);
const queries = tf.randomNormal([30, 6], 0, 1, 'float32', 31);
const docs = tf.randomNormal([30, 6], 0, 1, 'float32', 32);
const data: TrainingData = { size: 30, batch: (indices) => [tf.gather(queries, indices), tf.gather(docs, indices)] };
const schedule = warmupCosine({ peak: 0.02, warmupFraction: 0.25 });
// 2 batches an epoch, 6 steps. fit's seed orders the batches; the pool's seeds the replay (the same here, as one process's would).
const run = { data, batchSize: 12, epochs: 3, seed: 5, learningRate: schedule };

const pools: ParallelGradCache[] = [];
async function pool(replicaOptions: TestReplicaOptions = {}): Promise<ParallelGradCache> {
  const p = await ParallelGradCache.create({ workers: 2, replica, replicaOptions, chunkSize: 3, loss, seed: run.seed, backend: 'cpu' });
  pools.push(p);
  return p;
}
afterAll(async () => {
  await Promise.all(pools.map((p) => p.close()));
  tf.dispose([queries, docs]);
});

const bits = (weights: Float32Array) => Buffer.from(weights.buffer).toString('base64');

test("fit over a pool takes the steps one process takes: same batches, schedule and replay: every step's loss the same", async () => {
  const parallel = await pool();
  const { history, position } = await fit({ ...run, pool: parallel });
  expect(position).toEqual({ epoch: 3, batch: 0, step: 6 });
  expect(history.map((h) => h.learningRate)).toEqual(history.map((h) => schedule(h.step - 1, 6)));

  const { encoders, optimizer } = createReplica();
  const [start] = await (await pool()).weights(); // a new pool's weights: createReplica's, seeded
  const variables = [...new Set(encoders.flatMap((e) => e.trainableVariables))];
  let at = 0;
  for (const v of variables) {
    v.assign(tf.tensor(start!.subarray(at, at + v.size), v.shape));
    at += v.size;
  }
  const local = await fit({ ...run, encoders, loss, optimizer: optimizer!, chunkSize: 3 });
  // Every step's loss agrees: the same batches, rates and dropout. (Weights are not compared: the two
  // sum chunk gradients in different orders, and Adam's g/√v turns rounding in a gradient that is
  // almost 0 — a dead ReLU's — into a step of up to the learning rate.)
  const [ours, theirs] = [local.history.map((h) => h.loss), history.map((h) => h.loss)];
  for (let k = 0; k < 6; k++) expect(Math.abs(ours[k]! - theirs[k]!)).toBeLessThan(1e-5);
  expect(ours[5]).not.toBeCloseTo(ours[0]!, 2); // it trained
  tf.dispose(variables);
  optimizer!.dispose();
}, 120_000);

test("a worker that dies mid-run: 'restart' retries the step on a restarted pool, and a thrown run resumes from its position; both end on the clean run's bits", async () => {
  const folder = mkdtempSync(join(tmpdir(), 'gradcache-fit-pool-'));
  const clean = await pool();
  await fit({ ...run, pool: clean });
  const [expected] = await clean.weights();

  // 'restart': the flag appears after step 2, a worker exits in step 3, fit restarts it and retries step 3.
  const flagA = join(folder, 'a');
  const restarting = await pool({ exitOnceFile: flagA });
  const restarts: number[] = [];
  const result = await fit({
    ...run,
    pool: restarting,
    workerExit: 'restart',
    callbacks: [
      { onStep: (log) => (log.step === 2 ? writeFileSync(flagA, '') : undefined), onRestart: (event) => void restarts.push(event.step) },
    ],
  });
  expect(restarts).toEqual([3]);
  expect(result.history.map((h) => h.step)).toEqual([1, 2, 3, 4, 5, 6]);
  const [a0, a1] = await restarting.weights();
  expect([bits(a0!), bits(a1!)]).toEqual([bits(expected!), bits(expected!)]);

  // 'throw' (the default): fit throws WORKER_EXITED; restart() and fit from the last position go on.
  const flagB = join(folder, 'b');
  const throwing = await pool({ exitOnceFile: flagB });
  let last: Position | undefined;
  const error = await fit({
    ...run,
    pool: throwing,
    callbacks: [
      {
        onStep: (log, position) => {
          last = position;
          if (log.step === 4) writeFileSync(flagB, '');
        },
      },
    ],
  }).catch((e: unknown) => e);
  expect((error as ParallelError).code).toBe('WORKER_EXITED');
  expect(last).toEqual({ epoch: 1, batch: 2, step: 4 }); // the end of epoch 2: resuming there starts epoch 3
  expect(await throwing.restart()).toBe(1);
  await fit({ ...run, pool: throwing, start: last! });
  const [b0, b1] = await throwing.weights();
  expect([bits(b0!), bits(b1!)]).toEqual([bits(expected!), bits(expected!)]);
}, 180_000);

test('fit with a pool refuses the options that belong to the pool, and workerExit values it does not know', async () => {
  const parallel = await pool();
  const refuse = async (extra: Record<string, unknown>, pattern: RegExp) => {
    const error = await fit({ ...run, pool: parallel, ...extra } as never).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TrainerError);
    expect((error as Error).message).toMatch(pattern);
  };
  await refuse({ chunkSize: 4, clipNorm: 1 }, /with a pool, chunkSize, clipNorm belong to the pool/);
  await refuse({ workerExit: 'retry' }, /workerExit must be 'throw' or 'restart', got retry/);
  expect(parallel.batchIndex).toBe(0); // nothing ran
}, 60_000);
