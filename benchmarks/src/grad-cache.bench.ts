/**
 * Full-batch training vs gradient caching vs naive gradient accumulation, on wasm: median step time
 * and peak tensor memory as ratios to the full-batch step, all measured in this one process with
 * the cases interleaved. Two workloads: a two-tower MLP with InfoNCE at B = 512 (tiny per-row work,
 * so per-chunk overhead shows) and a CNN pair with NT-Xent at B = 128 (real per-row work).
 * Run: pnpm bench:engine
 */
import * as tf from '@tensorflow/tfjs-core';
import { GradCache, measureMemory, type Encoder, type LossFunction } from '@gradcache/core';
import { convEncoder, mlpEncoder } from '@gradcache/encoders';
import { infoNCE, ntXent } from '@gradcache/losses';
import { accumulatedGradients, applyGradients } from '@gradcache/trainer';
import { median, mib, setUpWasm } from './setup.js';

const WARMUP = 2;
const REPEATS = Number(process.env['BENCH_REPEATS'] ?? 7);

interface Workload {
  title: string;
  encoders: Encoder[];
  inputs: tf.Tensor[];
  loss: (options?: { tileSize: number }) => LossFunction;
  cases: ({ chunk: number; tile?: number } | { naive: number })[];
}

/** Runs every case of a workload, interleaved, and prints the table. */
async function run({ title, encoders, inputs, loss, cases }: Workload): Promise<void> {
  const variables = [...new Set(encoders.flatMap((e) => e.trainableVariables))];
  const optimizer = tf.train.sgd(1e-4);
  const fullBatch = (): void => {
    const { value, grads } = tf.variableGrads(
      () =>
        loss()(
          encoders.map((e, i) => e.encode(inputs[i] as tf.Tensor, { training: true }) as tf.Tensor2D),
          undefined,
        ),
      variables,
    );
    optimizer.applyGradients(variables.map((v) => ({ name: v.name, tensor: grads[v.name] as tf.Tensor })));
    tf.dispose([value, grads]);
  };
  const steps: [string, () => void][] = [['full batch', fullBatch]];
  for (const c of cases) {
    if ('naive' in c) {
      steps.push([
        `naive accumulation, chunk ${c.naive} (a different loss)`,
        () => {
          const gradients = accumulatedGradients(encoders, loss(), variables, inputs, c.naive);
          applyGradients(optimizer, variables, gradients.grads);
          tf.dispose(gradients);
        },
      ]);
    } else {
      const cache = new GradCache({ encoders, chunkSize: c.chunk, loss: loss(c.tile === undefined ? undefined : { tileSize: c.tile }) });
      steps.push([
        `cached, chunk ${c.chunk}${c.tile === undefined ? '' : `, tiled loss (tile ${c.tile})`}`,
        () => void cache.step(optimizer, inputs),
      ]);
    }
  }
  // Peak memory once per case (deterministic), then the times round-robin — one step of every case
  // per round — so that a shared machine's changing load hits every case alike.
  const peaks: number[] = [];
  for (const [, step] of steps) {
    for (let k = 0; k < WARMUP; k++) step();
    peaks.push((await measureMemory(step)).peakBytes);
  }
  const times: number[][] = steps.map(() => []);
  for (let round = 0; round < REPEATS; round++) {
    steps.forEach(([, step], i) => {
      const start = performance.now();
      step();
      (times[i] as number[]).push(performance.now() - start);
    });
  }
  const ms = times.map(median);
  console.log(`\n${title}, median of ${REPEATS} rounds (cases interleaved)\n`);
  console.log('| step | median time | time ÷ full | peak tensor memory | memory ÷ full |');
  console.log('|---|---|---|---|---|');
  steps.forEach(([name], i) => {
    const [t, p] = [ms[i] as number, peaks[i] as number];
    console.log(
      `| ${name} | ${t.toFixed(0)} ms | ${(t / (ms[0] as number)).toFixed(2)}× | ${mib(p)} | ${(p / (peaks[0] as number)).toFixed(3)}× |`,
    );
  });
  optimizer.dispose();
}

console.log(`GradCache benchmark · ${await setUpWasm()}`);

const MLP = [128, 256, 256, 64];
const tower = (name: string): Encoder =>
  mlpEncoder({ name, inputDim: MLP[0] as number, widths: MLP.slice(1), activation: 'tanh', normalize: true }).encoder;
await run({
  title: `Two-tower MLP ${MLP.join('-')}, InfoNCE (τ 0.05), B = 512`,
  encoders: [tower('query'), tower('doc')],
  inputs: [tf.randomNormal([512, MLP[0] as number], 0, 1, 'float32', 3), tf.randomNormal([512, MLP[0] as number], 0, 1, 'float32', 4)],
  loss:
    (o) =>
    ([a, b]) =>
      infoNCE(a as tf.Tensor2D, b as tf.Tensor2D, { temperature: 0.05, ...o }),
  cases: [{ chunk: 128 }, { chunk: 64 }, { chunk: 32 }, { chunk: 32, tile: 64 }, { naive: 32 }],
});

const cnn = convEncoder({ inputShape: [32, 32, 3], widths: [16, 32, 64], outputDim: 64 }).encoder;
await run({
  title: 'CNN (convEncoder 32×32×3, widths 16-32-64), two views through one encoder, NT-Xent (τ 0.5), B = 128',
  encoders: [cnn, cnn],
  inputs: [tf.randomUniform([128, 32, 32, 3], 0, 1, 'float32', 5), tf.randomUniform([128, 32, 32, 3], 0, 1, 'float32', 6)],
  loss:
    () =>
    ([a, b]) =>
      ntXent(a as tf.Tensor2D, b as tf.Tensor2D, { temperature: 0.5 }),
  cases: [{ chunk: 64 }, { chunk: 32 }, { chunk: 16 }, { naive: 32 }],
});
