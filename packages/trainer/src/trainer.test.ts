import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, test } from 'vitest';
import { type Encoder, functionEncoder, GradCache } from '@gradcache/core';
import { expectClose, useBackend } from '@gradcache/testing';
import { TrainerError } from './errors.js';
import { encodeAll, knnAccuracy, retrievalMetrics } from './evaluate.js';
import { fit } from './fit.js';
import { warmupCosine } from './schedule.js';
import { accumulatedGradients, fullBatchGradients } from './strategies.js';
import { toyTask } from './toy-task.test-helper.js';

beforeAll(() => useBackend('cpu'));

const values = (t: tf.Tensor): number[] => Array.from(t.dataSync());

describe('strategies', () => {
  test('accumulatedGradients is the rows/B-weighted sum of per-chunk full-batch gradients; one chunk is the full batch', () => {
    const w = tf.variable(
      tf.tensor2d([
        [1, -2],
        [0.5, 3],
      ]),
      true,
      'acc_w',
    );
    const encoder = functionEncoder({ name: 'lin', variables: [w], encode: (x) => tf.matMul(x as tf.Tensor2D, w) });
    const loss = ([r]: tf.Tensor2D[]): tf.Scalar => tf.mean(tf.square(tf.sub(r as tf.Tensor2D, tf.mean(r as tf.Tensor2D, 0))));
    const x = tf.tensor2d([
      [1, 2],
      [3, 4],
      [-1, 0],
      [2, 2],
      [0, 1],
    ]);
    const whole = fullBatchGradients([encoder], loss, [w], [x]);
    const one = accumulatedGradients([encoder], loss, [w], [x], 5);
    expect(values(one.grads['acc_w'] as tf.Tensor)).toEqual(values(whole.grads['acc_w'] as tf.Tensor));
    const acc = accumulatedGradients([encoder], loss, [w], [x], 2);
    const parts = [
      [0, 2],
      [2, 2],
      [4, 1],
    ].map(([b, n]) => fullBatchGradients([encoder], loss, [w], [tf.slice(x, b as number, n as number)]));
    const expected = tf.addN(parts.map((p, k) => tf.mul(p.grads['acc_w'] as tf.Tensor, ([2, 2, 1][k] as number) / 5)));
    expectClose(acc.grads['acc_w'] as tf.Tensor, expected, 1e-6, 'accumulated grad');
    const expectedLoss = parts.reduce((s, p, k) => s + (p.loss.dataSync()[0] as number) * (([2, 2, 1][k] as number) / 5), 0);
    expect(acc.loss.dataSync()[0]).toBeCloseTo(expectedLoss, 6);
    // And it is not the full-batch gradient: a batch-statistics loss changes with the chunking.
    expect(values(acc.grads['acc_w'] as tf.Tensor)).not.toEqual(values(whole.grads['acc_w'] as tf.Tensor));
    tf.dispose([w, x, whole, one, acc, parts, expected]);
  });
});

test('warmupCosine: linear warm-up, cosine to final, final after the end (hand values)', () => {
  const lr = warmupCosine({ peak: 1, warmupFraction: 1 / 3, final: 0.1 }); // 2 of 6 steps
  const got = [0, 1, 2, 3, 4, 5, 6, 9].map((step) => lr(step, 6));
  // decay over 4 steps: 0.1 + 0.45·(1 + cos(π·k/4)), k = 0…3
  const expected = [0.5, 1, 1, 0.1 + 0.45 * (1 + Math.SQRT1_2), 0.55, 0.1 + 0.45 * (1 - Math.SQRT1_2), 0.1, 0.1];
  got.forEach((v, i) => expect(v).toBeCloseTo(expected[i] as number, 12));
  expect(() => warmupCosine({ peak: 1, warmupFraction: 1.2 })).toThrowError(/warmupFraction must be in \[0, 1\), got 1.2/);
});

describe('evaluators (hand-computed cases)', () => {
  test('retrievalMetrics: ranks, recall@k, MRR and nDCG@10, in tiles', async () => {
    // Scores q·dᵀ: q0 → [3, 1, 2, 0]; q1 → [0, 1, 2, 3]; q2 → [0, 0, 0, 0] (a four-way tie: counted against it).
    const q = tf.tensor2d([
      [1, 0],
      [0, 1],
      [0, 0],
    ]);
    const d = tf.tensor2d([
      [3, 0],
      [1, 1],
      [2, 2],
      [0, 3],
    ]);
    const m = await retrievalMetrics(
      q,
      tf.add(
        d,
        tf.tensor2d([
          [0, 0],
          [0, 0],
          [0, 0],
          [0, 0],
        ]),
      ),
      [1, 3, [0, 2]],
      { ks: [1, 2], tileSize: 2 },
    );
    // q0: doc 1 scores 1, two docs higher → rank 3. q1: doc 3 → rank 1. q2: all 0, relevant 0 and 2 →
    // after the two tied irrelevant docs: ranks 3 and 4 (ties never help; they used to give ranks 1 and 1).
    expect(m.recall[1]).toBeCloseTo((0 + 1 + 0) / 3, 12);
    expect(m.recall[2]).toBeCloseTo((0 + 1 + 0) / 3, 12);
    expect(m.mrr).toBeCloseTo((1 / 3 + 1 + 1 / 3) / 3, 12);
    const idealTwo = 1 + 1 / Math.log2(3);
    expect(m.ndcg10).toBeCloseTo((1 / Math.log2(4) + 1 + (1 / Math.log2(4) + 1 / Math.log2(5)) / idealTwo) / 3, 12);
    tf.dispose([q, d]);
  });

  test('a collapsed model (every score equal) and NaN scores get no credit (a dead model scored recall@1 100 %)', async () => {
    const q = tf.ones([4, 3]) as tf.Tensor2D;
    const d = tf.ones([4, 3]) as tf.Tensor2D;
    const dead = await retrievalMetrics(q, d, [0, 1, 2, 3], { ks: [1] });
    expect([dead.recall[1], dead.mrr]).toEqual([0, 1 / 4]);
    const nan = tf.fill([4, 3], Number.NaN);
    const broken = await retrievalMetrics(nan as tf.Tensor2D, d, [0, 1, 2, 3], { ks: [1] });
    expect([broken.recall[1], broken.mrr]).toEqual([0, 1 / 4]);
    tf.dispose([q, d, nan]);
  });

  test('knnAccuracy: weighted votes of the k nearest', async () => {
    const train = tf.tensor2d([
      [1, 0],
      [0.9, 0.1],
      [0, 1],
      [0.1, 0.9],
      [0.6, 0.4],
    ]);
    const labels = Int32Array.from([0, 0, 1, 1, 1]);
    const test = tf.tensor2d([
      [1, 0.05],
      [0.05, 1],
      [0.7, 0.3],
    ]);
    // k = 1: nearest of [0.7, 0.3] is [0.9, 0.1] (0.66) vs [0.6, 0.4] (0.54) → class 0.
    expect(await knnAccuracy(train, labels, test, Int32Array.from([0, 1, 0]), { k: 1 })).toBe(1);
    // k = 5 with a flat temperature: class 1 has 3 of 5 votes for every test point → 1 of 3 right.
    expect(await knnAccuracy(train, labels, test, Int32Array.from([0, 1, 0]), { k: 5, temperature: 1e6 })).toBeCloseTo(1 / 3, 12);
    tf.dispose([train, test]);
  });

  test('encodeAll encodes in chunks, equals one encode, frees every chunk input', () => {
    const w = tf.variable(
      tf.tensor2d([
        [1, 2],
        [3, 4],
      ]),
    );
    const encoder = functionEncoder({ name: 'lin', variables: [w], encode: (x) => tf.matMul(x as tf.Tensor2D, w) });
    const x = tf.tensor2d([
      [1, 0],
      [0, 1],
      [1, 1],
      [2, 0],
      [0, 2],
    ]);
    const before = tf.memory().numTensors;
    const reps = encodeAll(encoder, 5, (idx) => tf.gather(x, tf.tensor1d(idx, 'int32')), 2);
    expect(tf.memory().numTensors).toBe(before + 1);
    const direct = tf.matMul(x, w);
    expect(values(reps)).toEqual(values(direct));
    tf.dispose([w, x, reps, direct]);
  });
});

describe('fit', () => {
  test('a seed makes a run repeat bit-identically; strategies differ; the tensor count stays flat over 200 steps', async () => {
    const run = async (strategy: 'cached' | 'accumulate' | 'small', epochs: number) => {
      const task = toyTask();
      const optimizer = tf.train.adam(1e-2);
      const { history } = await fit({ ...task, optimizer, batchSize: 32, chunkSize: 8, strategy, epochs, seed: 3 });
      const weights = task.variables().map(values);
      optimizer.dispose();
      task.dispose();
      return { history, weights };
    };
    const [a, b] = [await run('cached', 1), await run('cached', 1)];
    expect(a.weights).toEqual(b.weights);
    expect(a.history.map((h) => h.loss)).toEqual(b.history.map((h) => h.loss));
    expect(a.history).toHaveLength(3);
    expect(a.history.every((h) => h.peakBytes >= h.gradientPeakBytes && h.gradientPeakBytes > 0 && h.tensorBytes > 0)).toBe(true);
    const acc = await run('accumulate', 1);
    expect(acc.weights).not.toEqual(a.weights);
    const small = await run('small', 1);
    expect(small.history).toHaveLength(12);
    // 200 steps: 12 small steps an epoch.
    const task = toyTask();
    const optimizer = tf.train.adam(1e-3);
    await fit({ ...task, optimizer, batchSize: 32, chunkSize: 8, strategy: 'small', epochs: 1, seed: 1 });
    const before = tf.memory().numTensors;
    const { history } = await fit({ ...task, optimizer, batchSize: 32, chunkSize: 8, strategy: 'cached', epochs: 67, seed: 1 });
    expect(history).toHaveLength(201);
    expect(tf.memory().numTensors).toBe(before);
    expect(history.at(-1)?.loss).toBeLessThan(history[0]?.loss as number);
    optimizer.dispose();
    task.dispose();
  });

  test('the learning-rate schedule is what the optimizer uses: rate 0 leaves the weights; clipNorm bounds the update', async () => {
    const task = toyTask();
    const before = task.variables().map(values);
    const sgd = tf.train.sgd(1);
    const { history } = await fit({ ...task, optimizer: sgd, batchSize: 32, chunkSize: 8, epochs: 1, learningRate: () => 0 });
    expect(history.map((h) => h.learningRate)).toEqual([0, 0, 0]);
    expect(task.variables().map(values)).toEqual(before);
    const adam = tf.train.adam(1);
    await fit({ ...task, optimizer: adam, batchSize: 32, chunkSize: 8, epochs: 1, learningRate: () => 0 });
    expect(task.variables().map(values)).toEqual(before); // Adam reads the field, SGD its tensor: both set
    adam.dispose();
    // One SGD step at rate 1 with clipNorm 1e-3 moves the weights by at most 1e-3 in L2 norm.
    await fit({ ...task, optimizer: sgd, batchSize: 96, chunkSize: 8, epochs: 1, learningRate: () => 1, clipNorm: 1e-3 });
    const moved = Math.sqrt(
      task
        .variables()
        .flatMap(values)
        .reduce((sum, v, i) => sum + (v - (before.flat()[i] as number)) ** 2, 0),
    );
    expect(moved).toBeGreaterThan(0);
    expect(moved).toBeLessThanOrEqual(1e-3 * (1 + 1e-5));
    sgd.dispose();
    task.dispose();
  });

  test('bad options are TrainerErrors naming the option', async () => {
    const task = toyTask();
    const optimizer = tf.train.sgd(0.1);
    const base = { ...task, optimizer, batchSize: 32, chunkSize: 8, epochs: 1 };
    await expect(fit({ ...base, strategy: 'big' as never })).rejects.toThrowError(
      /strategy must be one of full, cached, accumulate, small, got big/,
    );
    await expect(fit({ ...base, batchSize: 200 })).rejects.toThrowError(/96 rows, fewer than one batch of 200/);
    await expect(fit({ ...base, epochs: 0 })).rejects.toThrowError(TrainerError);
    optimizer.dispose();
    task.dispose();
  });
});

describe('progress', () => {
  test('off a TTY: one plain line at step 1, every ~5 % and at the end', async () => {
    const { consoleProgress } = await import('./progress.js');
    const lines: string[] = [];
    const stream = { isTTY: false, write: (s: string) => lines.push(s) } as unknown as NodeJS.WriteStream;
    const progress = consoleProgress({ label: 'run', stream });
    const log = (step: number) => ({
      step,
      totalSteps: 40,
      epoch: 0,
      batch: step,
      batchesPerEpoch: 40,
      loss: 1.5,
      learningRate: 1e-3,
      gradNorm: 1,
      rows: 64,
      ms: 32,
      tensorBytes: 3 * 2 ** 20,
      peakBytes: 2 ** 20,
      gradientPeakBytes: 2 ** 19,
    });
    for (let s = 1; s <= 40; s++) await progress.onStep?.(log(s), { epoch: 0, batch: s, step: s });
    expect(lines).toHaveLength(21); // step 1, then every 2nd of 40
    expect(lines[0]).toBe(
      'run: step 1/40  epoch 1 batch 1/40  loss 1.5000  lr 1.00e-3  2000 rows/s  tensors 3.0 MiB (step peak +1.0 MiB)\n',
    );
  });
});

describe("fit uses the engine's pieces", () => {
  /** A tower returning { rep, auxLoss }, as GradCache accepts. */
  function auxTask() {
    const task = toyTask(4);
    const [q, d] = task.encoders as unknown as [Encoder, Encoder];
    const withAux: Encoder = {
      name: 'q-aux',
      trainableVariables: q.trainableVariables,
      encode: (x, context) => {
        const rep = q.encode(x, context) as tf.Tensor2D;
        return { rep, auxLoss: tf.mul(tf.mean(tf.square(rep)), 0.1) };
      },
    };
    return { ...task, encoders: [withAux, d] };
  }

  test.each(['full', 'accumulate', 'small', 'cached'] as const)(
    "'%s' takes an encoder returning { rep, auxLoss }: the rep reaches the loss, the auxiliary loss joins it",
    async (strategy) => {
      const task = auxTask();
      const optimizer = tf.train.adam(1e-2);
      const { history } = await fit({ ...task, optimizer, batchSize: 32, chunkSize: 8, strategy, epochs: 1, seed: 2 });
      expect(history.every((h) => Number.isFinite(h.loss))).toBe(true);
      optimizer.dispose();
      task.dispose();
    },
  );

  test('the strategies add the auxiliary loss to the loss and its gradient, as GradCache does', () => {
    const w = tf.variable(tf.randomNormal([6, 4], 0, 1, 'float32', 8), true, 'aux_lin');
    const encoder = functionEncoder({
      name: 'lin-aux',
      variables: [w],
      encode: (x) => {
        const rep = tf.matMul(x as tf.Tensor2D, w) as tf.Tensor2D;
        return { rep, auxLoss: tf.mul(tf.mean(tf.square(rep)), 0.1) };
      },
    });
    const loss = ([a, b]: tf.Tensor2D[]): tf.Scalar => tf.mean(tf.sum(tf.mul(a as tf.Tensor2D, b as tf.Tensor2D), 1));
    const inputs = [tf.randomNormal([8, 6], 0, 1, 'float32', 9), tf.randomNormal([8, 6], 0, 1, 'float32', 10)];
    const full = fullBatchGradients([encoder, encoder], loss, [w], inputs);
    const one = accumulatedGradients([encoder, encoder], loss, [w], inputs, 8);
    const cached = new GradCache({ encoders: [encoder, encoder], chunkSize: 3, loss }).computeGradients(inputs);
    expect(values(full.loss)).toEqual(values(one.loss));
    expectClose(full.loss, cached.loss, 1e-5, 'loss with the auxiliary terms');
    expectClose(full.grads['aux_lin'] as tf.Tensor, cached.grads['aux_lin'] as tf.Tensor, 1e-5, 'gradient with the auxiliary terms');
    const without = tf.tidy(() => loss(inputs.map((x) => tf.matMul(x, w) as tf.Tensor2D)));
    expect(values(full.loss)[0]).toBeGreaterThan(values(without)[0] as number);
    tf.dispose([inputs, full, one, cached, without, w] as tf.TensorContainer);
  });

  test('an update that fails half-way changes no weight (applyInOrder), as GradCache.step', async () => {
    const task = toyTask(5);
    const before = task.variables().map(values);
    const failing = Object.assign(Object.create(tf.train.sgd(0.5)), {
      applyGradients(list: { name: string; tensor: tf.Tensor }[]) {
        const first = task.variables()[0] as tf.Variable;
        first.assign(tf.sub(first, (list[0] as { tensor: tf.Tensor }).tensor));
        throw new Error('the optimizer failed half-way');
      },
    }) as tf.Optimizer;
    await expect(fit({ ...task, optimizer: failing, batchSize: 32, chunkSize: 8, epochs: 1 })).rejects.toThrowError(/half-way/);
    expect(task.variables().map(values)).toEqual(before);
    task.dispose();
  });

  test('an AbortSignal stops the run after the current step, with the position to resume from', async () => {
    const task = toyTask(6);
    const optimizer = tf.train.adam(1e-2);
    const controller = new AbortController();
    const { history, position } = await fit({
      ...task,
      optimizer,
      batchSize: 16,
      chunkSize: 8,
      epochs: 3,
      signal: controller.signal,
      callbacks: [{ onStep: (log) => void (log.step === 4 ? controller.abort() : undefined) }],
    });
    expect(history).toHaveLength(4);
    expect(position).toEqual({ epoch: 0, batch: 4, step: 4 });
    optimizer.dispose();
    task.dispose();
  });

  test('a learning rate that is not a function, or a schedule that gives NaN, is refused before any update', async () => {
    const task = toyTask(7);
    const before = task.variables().map(values);
    const optimizer = tf.train.sgd(0.1);
    const base = { ...task, optimizer, batchSize: 32, chunkSize: 8, epochs: 1 };
    await expect(fit({ ...base, learningRate: 0.1 as never })).rejects.toThrowError(/learningRate must be a function \(step, totalSteps\)/);
    await expect(fit({ ...base, learningRate: () => Number.NaN })).rejects.toThrowError(/schedule gave NaN at step 0/);
    expect(task.variables().map(values)).toEqual(before);
    optimizer.dispose();
    task.dispose();
  });

  test('evaluation every N steps and at the end, rows left over reported, batches from a promise, extra reaches the loss', async () => {
    const task = toyTask(8);
    const optimizer = tf.train.adam(1e-2);
    const seen: number[] = [];
    const extras: unknown[] = [];
    const data = {
      size: 90, // 2 batches of 40, 10 rows left over
      batch: async (indices: readonly number[], epoch: number) => task.data.batch(indices, epoch) as tf.Tensor[],
      extra: (indices: readonly number[]) => indices.length,
    };
    const loss = ([a, b]: tf.Tensor2D[], extra: number | undefined) => {
      extras.push(extra);
      return task.loss([a as tf.Tensor2D, b as tf.Tensor2D]);
    };
    const result = await fit({
      ...task,
      loss,
      data,
      optimizer,
      batchSize: 40,
      chunkSize: 'auto',
      memoryBudget: 64 * 2 ** 20,
      epochs: 2,
      evaluation: { everySteps: 3, evaluate: async (position) => ({ step: position.step }) },
      callbacks: [{ onEvaluation: (metrics) => void seen.push(metrics['step'] as number) }],
    });
    expect(result.rowsLeftOver).toBe(10);
    expect(seen).toEqual([3, 4]);
    expect(result.evaluations.map((e) => e.step)).toEqual([3, 4]);
    expect(extras.every((e) => e === 40)).toBe(true);
    await expect(fit({ ...task, optimizer, batchSize: 40, chunkSize: 'auto', strategy: 'accumulate', epochs: 1 })).rejects.toThrowError(
      /chunkSize must be an integer ≥ 1 \('auto' is for the cached strategy\), got auto/,
    );
    optimizer.dispose();
    task.dispose();
  });
});
