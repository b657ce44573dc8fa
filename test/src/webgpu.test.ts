import * as tf from '@tensorflow/tfjs-core';
import { afterAll, afterEach, beforeEach, describe, expect, test, vi } from 'vitest';
import { type BackendChoice, initBackend } from '@gradcache/backend/node';
import { installWebgpuFixes, uninstallWebgpuFixes } from '@gradcache/backend/internal';
import { type Batch, type Encoder, GradCache } from '@gradcache/core';
import { convEncoder, embeddingBagEncoder, layersEncoder, mlpEncoder } from '@gradcache/encoders';
import { hashedNgrams } from '@gradcache/data';
import { fit, retrievalMetrics } from '@gradcache/trainer';
import { infoNCE, ntXent, symmetricInfoNCE } from '@gradcache/losses';
import { loadPretrained } from '@gradcache/pretrained/node';
import { expectClose, expectGradsClose, readValues, testMlp } from '@gradcache/testing';
import { chunkedReference } from './chunked-reference.js';
import { tinyTextTower } from './tiny-text.js';
import { B, cases as lossCases, labels } from './loss-cases.js';

// The equivalence suite on WebGPU (Dawn from the npm package `webgpu`; in CI on Mesa's llvmpipe
// Vulkan driver, a software adapter). Every read is asynchronous: WebGPU in Node cannot read
// synchronously. CI sets GRADCACHE_REQUIRE_WEBGPU=1, so a missing adapter fails there instead of
// skipping.
const choice: BackendChoice | Error = await initBackend('webgpu').catch((error: unknown) => error as Error);
const available = !(choice instanceof Error);
const required = process.env['GRADCACHE_REQUIRE_WEBGPU'] === '1';

afterAll(async () => {
  if (available) await tf.setBackend('cpu');
});

// WebGPU reports an invalid pipeline (too many buffers, a bad shader) as an error event, and tfjs
// goes on with zeros: every test runs inside a validation error scope that must come back empty.
type ErrorScopes = { pushErrorScope(kind: string): void; popErrorScope(): Promise<{ message: string } | null> };
const device = (): ErrorScopes => (tf.findBackend('webgpu') as unknown as { device: ErrorScopes }).device;
if (available) {
  beforeEach(() => device().pushErrorScope('validation'));
  afterEach(async () => {
    const error = await device().popErrorScope();
    expect(error?.message ?? null).toBeNull();
  });
}

if (!available) {
  test.skipIf(!required)(`webgpu suite: skipped on this machine, because ${choice.message}`, () => {
    throw choice; // only runs where webgpu is required (CI)
  });
}

type Case = {
  name: string;
  build: () => { encoders: Encoder[]; inputs: Batch[]; dispose: () => void };
  loss: (reps: tf.Tensor2D[]) => tf.Scalar;
  chunkSize: number;
};

const pairLoss = ([a, b]: tf.Tensor2D[]) => ntXent(a!, b!, { temperature: 0.5 });

const cases: Case[] = [
  {
    name: 'two MLP towers with dropout, tiled InfoNCE',
    chunkSize: 4,
    loss: ([q, d]) => infoNCE(q!, d!, { temperature: 0.1, tileSize: 4 }),
    build: () => {
      const q = mlpEncoder({ inputDim: 6, widths: [16, 8], dropout: 0.2, normalize: true, seed: 1 });
      const d = mlpEncoder({ inputDim: 6, widths: [12, 8], normalize: true, seed: 2 });
      const inputs = [tf.randomNormal([10, 6], 0, 1, 'float32', 1), tf.randomNormal([10, 6], 0, 1, 'float32', 2)];
      return { encoders: [q.encoder, d.encoder], inputs, dispose: () => [q.model, d.model, ...inputs].forEach((x) => x.dispose()) };
    },
  },
  {
    name: 'a shared CNN with BatchNorm and max-pooling, NT-Xent',
    chunkSize: 2,
    loss: pairLoss,
    build: () => {
      const { model, encoder } = convEncoder({ inputShape: [16, 16, 1], widths: [4, 8], outputDim: 8, seed: 3 });
      const inputs = [tf.randomNormal([6, 16, 16, 1], 0, 1, 'float32', 3), tf.randomNormal([6, 16, 16, 1], 0, 1, 'float32', 4)];
      return { encoders: [encoder, encoder], inputs, dispose: () => [model, ...inputs].forEach((x) => x.dispose()) };
    },
  },
  {
    name: "a Transformer text tower with dropout, CLIP's symmetric InfoNCE",
    chunkSize: 4,
    loss: ([a, b]) => symmetricInfoNCE(a!, b!, { temperature: 0.2 }),
    build: () => {
      const { model, encoder, views } = tinyTextTower(4);
      return {
        encoders: [encoder, encoder],
        inputs: views,
        dispose: () => {
          model.dispose();
          tf.dispose(views as unknown as tf.TensorContainer);
        },
      };
    },
  },
  {
    name: 'an embedding bag on hashed n-grams (embedding gradient)',
    chunkSize: 3,
    loss: pairLoss,
    build: () => {
      const { model, encoder } = embeddingBagEncoder({ vocabSize: 64, dim: 8, hidden: [8], normalize: true, seed: 2 });
      const texts = ['a feline mammal', 'cat', 'a domestic dog', 'canine', 'the largest ocean', 'pacific', 'a tree', 'oak'];
      const inputs = [hashedNgrams(texts, { buckets: 64 }), hashedNgrams([...texts].reverse(), { buckets: 64 })];
      return {
        encoders: [encoder, encoder],
        inputs,
        dispose: () => {
          model.dispose();
          tf.dispose(inputs as unknown as tf.TensorContainer);
        },
      };
    },
  },
];

/** Gradients keyed by the variable's position in `cache.variables` (names differ between two builds of a model). */
function byPosition<T, E>(cache: GradCache<E>, grads: Record<string, T>): Record<string, T> {
  return Object.fromEntries(cache.variables.map((v, k) => [`${k}: ${v.name.replace(/\d+/g, '')}`, grads[v.name] as T]));
}

describe.runIf(available)('on webgpu: the cached gradient equals the full-batch gradient, and the cpu one', () => {
  test('AddN of more inputs than one shader may bind: tfjs returns zeros, fixed (summed in groups)', async () => {
    await tf.setBackend('webgpu');
    const inputs = () => Array.from({ length: 20 }, (_, i) => tf.fill([3], i + 1));
    uninstallWebgpuFixes();
    device().pushErrorScope('validation');
    const xs = inputs();
    const stock = tf.addN(xs);
    expect(Array.from(await stock.data())).toEqual([0, 0, 0]);
    expect((await device().popErrorScope())?.message).toMatch(/storage buffers/);
    installWebgpuFixes();
    // New inputs: the invalid command buffer above also dropped the work queued with it.
    const ys = inputs();
    const fixed = tf.addN(ys);
    expect(Array.from(await fixed.data())).toEqual([210, 210, 210]);
    tf.dispose([xs, ys, stock, fixed]);
  });

  test('an int32 mask cast to float32 and summed over a middle axis (mean pooling): tfjs reads the integer buffer as floats, fixed', async () => {
    await tf.setBackend('webgpu');
    const sum = () => tf.tidy(() => tf.sum(tf.cast(tf.ones([16, 64, 1], 'int32'), 'float32'), 1));
    uninstallWebgpuFixes();
    device().pushErrorScope('validation');
    const stock = sum();
    expect(Array.from(await stock.data())).not.toEqual(Array(16).fill(64));
    expect((await device().popErrorScope())?.message).toMatch(/type mismatch/);
    installWebgpuFixes();
    const fixed = sum();
    expect(Array.from(await fixed.data())).toEqual(Array(16).fill(64));
    const bools = tf.tidy(() => tf.sum(tf.cast(tf.greater(tf.ones([16, 64, 1]), 0), 'float32'), 1));
    expect(Array.from(await bools.data())).toEqual(Array(16).fill(64));
    tf.dispose([stock, fixed, bools]);
  });

  test('initBackend names the adapter', () => {
    const { adapter } = choice as BackendChoice;
    expect(tf.getBackend()).toBe('webgpu');
    expect(adapter?.description).toMatch(/\w/);
  });

  test.each(cases)('$name', async ({ build, loss, chunkSize }) => {
    await tf.setBackend('webgpu');
    const { encoders, inputs, dispose } = build();
    const cache = new GradCache({ encoders, chunkSize, loss, seed: 5 });
    const before = tf.memory().numTensors;
    const cached = await cache.computeGradientsAsync(inputs);
    expect(tf.memory().numTensors - before).toBe(1 + Object.keys(cached.grads).length); // the loss and grads, nothing else
    const reference = chunkedReference(cache, inputs, loss, 0);
    const [cachedLoss, referenceLoss] = [await cached.loss.data(), await reference.value.data()];
    const [cachedGrads, referenceGrads] = [
      byPosition(cache, await readValues(cached.grads)),
      byPosition(cache, await readValues(reference.grads)),
    ];
    tf.dispose([cached, reference]);
    dispose();
    expectClose({ shape: [], values: cachedLoss }, { shape: [], values: referenceLoss }, 1e-5, 'loss');
    expectGradsClose(cachedGrads, referenceGrads, 1e-4);

    // The same models (seeded), inputs and step built again on cpu: a webgpu kernel that computes a
    // wrong value or gradient shows here. (Moving tensors between backends would read synchronously.)
    await tf.setBackend('cpu');
    const onCpu = build();
    const cpuCache = new GradCache({ encoders: onCpu.encoders, chunkSize, loss, seed: 5 });
    const cpuReference = chunkedReference(cpuCache, onCpu.inputs, loss, 0);
    const cpuGrads = byPosition(cpuCache, await readValues(cpuReference.grads));
    tf.dispose(cpuReference);
    onCpu.dispose();
    expectGradsClose(referenceGrads, cpuGrads, 1e-4);
    await tf.setBackend('webgpu');
  });

  test('stepAsync trains: Adam steps on a layers model lower the loss, with a flat tensor count', async () => {
    await tf.setBackend('webgpu');
    const model = mlpEncoder({ inputDim: 6, widths: [16, 8], normalize: true, seed: 7 });
    const encoder = layersEncoder(model.model);
    const views = [tf.randomNormal([16, 6], 0, 1, 'float32', 8), tf.randomNormal([16, 6], 0, 1, 'float32', 8)];
    const noisy = [views[0]!, tf.add(views[1]!, tf.randomNormal([16, 6], 0, 0.1, 'float32', 9))];
    const cache = new GradCache({ encoders: [encoder, encoder], chunkSize: 4, loss: pairLoss });
    const optimizer = tf.train.adam(0.01);
    const losses: number[] = [];
    let count = 0;
    for (let k = 0; k < 8; k++) {
      losses.push((await cache.stepAsync(optimizer, noisy)).loss);
      if (k === 1) count = tf.memory().numTensors; // after Adam has made its slots
    }
    expect(tf.memory().numTensors).toBe(count);
    expect(losses.at(-1)!).toBeLessThan(losses[0]! - 0.05);
    optimizer.dispose();
    model.model.dispose();
    tf.dispose([views, noisy[1]!]);
  });
});

describe.runIf(available)('on webgpu: a pretrained model (the BERT fixture) trains under GradCache', () => {
  const folder = new URL('../../packages/pretrained/fixtures/bert-tiny', import.meta.url).pathname;
  const texts = [
    'The cat sat on the mat.',
    'A café in São Paulo serves crème brûlée!',
    'Dogs, cats and birds: friends?',
    'the quick brown fox',
  ];
  const loss = ([q, d]: tf.Tensor2D[]) => infoNCE(q!, d!, { temperature: 0.1 });

  /** The cached gradient (by position) of the fixture model on the active backend, and the chunked reference's. */
  async function gradients() {
    const model = await loadPretrained(folder);
    const inputs = [model.tokenizer.encode(texts), model.tokenizer.encode([...texts].reverse())];
    const cache = new GradCache({ encoders: [model.encoder, model.encoder], chunkSize: 2, loss, seed: 5 });
    const cached = await cache.computeGradientsAsync(inputs);
    const reference = chunkedReference(cache, inputs, loss, 0);
    const out = {
      cached: byPosition(cache, await readValues(cached.grads)),
      reference: byPosition(cache, await readValues(reference.grads)),
    };
    tf.dispose([cached, reference, inputs as unknown as tf.TensorContainer]);
    model.dispose();
    return out;
  }

  test('the cached gradient equals the chunked full-batch one on webgpu, and the cpu one', async () => {
    await tf.setBackend('webgpu');
    const onGpu = await gradients();
    expectGradsClose(onGpu.cached, onGpu.reference, 1e-4);
    await tf.setBackend('cpu');
    const onCpu = await gradients();
    await tf.setBackend('webgpu');
    expectGradsClose(onGpu.reference, onCpu.reference, 1e-4);
  });

  test('stepAsync steps lower the loss', async () => {
    await tf.setBackend('webgpu');
    const model = await loadPretrained(folder, { dropout: false });
    const inputs = [model.tokenizer.encode(texts), model.tokenizer.encode(texts.map((t) => t.toUpperCase()))];
    const cache = new GradCache({ encoders: [model.encoder, model.encoder], chunkSize: 2, loss });
    const optimizer = tf.train.adam(5e-3);
    const losses: number[] = [];
    for (let k = 0; k < 8; k++) losses.push((await cache.stepAsync(optimizer, inputs)).loss);
    expect(losses.at(-1)!).toBeLessThan(losses[0]! - 0.1);
    tf.dispose(inputs as unknown as tf.TensorContainer);
    optimizer.dispose();
    model.dispose();
  });
});

/** Every loss of @gradcache/losses by name (the cases are rebuilt per backend: they hold tensors). */
const lossNames = lossCases(undefined as unknown as tf.Variable, undefined as unknown as tf.Tensor2D).map(([name]) => name);

describe.runIf(available)('on webgpu: every loss under GradCache equals the full-batch gradient, and the cpu one', () => {
  /** The loss's cached and full-batch gradients on the active backend, keyed by position. */
  async function run(index: number, cached: boolean): Promise<Record<string, { shape: number[]; values: Float32Array }>> {
    const logitScale = tf.tidy(() => tf.variable(tf.scalar(Math.log(1 / 0.3)), true));
    const queue = tf.randomNormal([7, 4], 0, 1, 'float32', 99) as tf.Tensor2D;
    const prototypes = tf.tidy(() => tf.variable(tf.randomNormal([5, 4], 0, 1, 'float32', 98), true));
    const [name, loss, docsPerQuery] = lossCases(logitScale, queue, prototypes)[index] as ReturnType<typeof lossCases>[number];
    const q = testMlp({ widths: [5, 8, 4], activation: 'gelu', seed: 1 });
    const d = testMlp({ widths: [5, 6, 4], activation: 'tanh', seed: 2 });
    const inputs = [tf.randomNormal([B, 5], 0, 1, 'float32', 3), tf.randomNormal([B * docsPerQuery, 5], 0, 1, 'float32', 4)];
    const lossVariables = name.includes('logit scale') ? [logitScale] : name.startsWith('swav') ? [prototypes] : ('none' as const);
    const cache = new GradCache({ encoders: [q, d], chunkSize: [3, 4], loss, lossVariables });
    const result = cached
      ? await cache.computeGradientsAsync(inputs, labels)
      : tf.variableGrads(
          () => loss([q.encode(inputs[0]!, { training: true }), d.encode(inputs[1]!, { training: true })], labels),
          cache.variables,
        );
    const grads = byPosition(cache, await readValues(result.grads));
    tf.dispose([result as tf.TensorContainer, inputs, logitScale, queue, prototypes]);
    q.dispose();
    d.dispose();
    return grads;
  }

  test.each(lossNames.map((name, index) => [name, index] as const))('%s', async (_name, index) => {
    await tf.setBackend('webgpu');
    const before = tf.memory().numTensors;
    const cached = await run(index, true);
    const full = await run(index, false);
    expect(tf.memory().numTensors).toBe(before);
    expectGradsClose(cached, full, 1e-4);
    await tf.setBackend('cpu');
    const cpu = await run(index, false);
    await tf.setBackend('webgpu');
    expectGradsClose(full, cpu, 1e-4);
  });
});

describe.runIf(available)('on webgpu: the trainer makes no synchronous read', () => {
  test('fit (cached) trains two towers and retrievalMetrics scores them, with the engine never read synchronously', async () => {
    await tf.setBackend('webgpu');
    const readSync = vi.spyOn(tf.engine(), 'readSync');
    const q = mlpEncoder({ inputDim: 6, widths: [16, 8], normalize: true, seed: 11 });
    const d = mlpEncoder({ inputDim: 6, widths: [16, 8], normalize: true, seed: 12 });
    const x = tf.randomNormal([32, 6], 0, 1, 'float32', 13);
    const y = tf.add(x, tf.randomNormal([32, 6], 0, 0.05, 'float32', 14));
    const rows = (t: tf.Tensor, indices: readonly number[]) => tf.gather(t, tf.tensor1d([...indices], 'int32'));
    const score = async () => {
      const [qs, ds] = [q.encoder.encode(x, { training: false }) as tf.Tensor2D, d.encoder.encode(y, { training: false }) as tf.Tensor2D];
      const metrics = await retrievalMetrics(
        qs,
        ds,
        Array.from({ length: 32 }, (_, i) => i),
        { ks: [1] },
      );
      tf.dispose([qs, ds]);
      return metrics.mrr;
    };
    const before = await score();
    const optimizer = tf.train.adam(0.01);
    const { history } = await fit({
      encoders: [q.encoder, d.encoder],
      loss: ([a, b]) => infoNCE(a!, b!, { temperature: 0.1 }),
      optimizer,
      data: { size: 32, batch: (indices) => tf.tidy(() => [rows(x, indices), rows(y, indices)]) },
      batchSize: 16,
      chunkSize: 4,
      epochs: 4,
    });
    const after = await score();
    expect(readSync).not.toHaveBeenCalled();
    expect(history).toHaveLength(8);
    expect(history.at(-1)!.loss).toBeLessThan(history[0]!.loss);
    expect(after).toBeGreaterThan(before + 0.1); // MRR over 32 pairs
    tf.dispose([x, y]);
    optimizer.dispose();
    q.model.dispose();
    d.model.dispose();
  });
});
