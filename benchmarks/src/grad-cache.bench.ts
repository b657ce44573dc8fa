/**
 * Full-batch training vs gradient caching vs naive gradient accumulation, for a two-tower MLP with
 * InfoNCE at B = 512 on wasm: median step time and peak tensor memory, as ratios to the full-batch
 * step, all measured in this one process. Run: pnpm bench
 */
import * as tf from '@tensorflow/tfjs-core';
import { GradCache, measureMemory, type Batch } from '@gradcache/core';
import { infoNCE } from '@gradcache/losses';
import { mlpEncoder } from '@gradcache/encoders';
import { accumulationStep } from './accumulation.js';
import { median, mib, setUpWasm } from './setup.js';

const BATCH = 512;
const WIDTHS = [128, 256, 256, 64];
const WARMUP = 2;
const REPEATS = Number(process.env['BENCH_REPEATS'] ?? 7);

const header = await setUpWasm();
const tower = (name: string) =>
  mlpEncoder({ name, inputDim: WIDTHS[0] as number, widths: WIDTHS.slice(1), activation: 'tanh', normalize: true }).encoder;
const q = tower('query');
const d = tower('doc');
const variables = [...q.trainableVariables, ...d.trainableVariables];
const xq = tf.randomNormal([BATCH, WIDTHS[0] as number], 0, 1, 'float32', 3);
const xd = tf.randomNormal([BATCH, WIDTHS[0] as number], 0, 1, 'float32', 4);
const optimizer = tf.train.sgd(1e-3);

type Step = () => void;

const TEMPERATURE = { temperature: 0.05 };

const fullBatch: Step = () => {
  const { value, grads } = tf.variableGrads(
    () => infoNCE(q.encode(xq, { training: true }) as tf.Tensor2D, d.encode(xd, { training: true }) as tf.Tensor2D, TEMPERATURE),
    variables,
  );
  optimizer.applyGradients(variables.map((v) => ({ name: v.name, tensor: grads[v.name] as tf.Tensor })));
  tf.dispose([value, grads]);
};

const cached = (chunkSize: number, tileSize?: number): Step => {
  const options = tileSize === undefined ? TEMPERATURE : { ...TEMPERATURE, tileSize };
  const cache = new GradCache({ encoders: [q, d], chunkSize, loss: ([a, b]) => infoNCE(a as tf.Tensor2D, b as tf.Tensor2D, options) });
  return () => void cache.step(optimizer, [xq, xd] as Batch[]);
};

/** Gradient accumulation: each chunk's loss sees only that chunk's negatives (a different loss). */
const naive = (chunkSize: number): Step => () =>
  void accumulationStep([q, d], ([a, b]) => infoNCE(a as tf.Tensor2D, b as tf.Tensor2D, TEMPERATURE), variables, optimizer, [xq, xd], chunkSize);

const cases: [string, Step][] = [
  ['full batch', fullBatch],
  ['cached, chunk 128', cached(128)],
  ['cached, chunk 64', cached(64)],
  ['cached, chunk 32', cached(32)],
  ['cached, chunk 32, tiled loss (tile 64)', cached(32, 64)],
  ['naive accumulation, chunk 32 (other loss)', naive(32)],
];

// Peak memory once per case (deterministic), then the times round-robin — one step of every case
// per round — so that a shared machine's changing load hits every case alike.
const results: { name: string; ms: number; peak: number }[] = [];
for (const [name, step] of cases) {
  for (let k = 0; k < WARMUP; k++) step();
  results.push({ name, ms: 0, peak: (await measureMemory(step)).peakBytes });
}
const times: number[][] = cases.map(() => []);
for (let round = 0; round < REPEATS; round++) {
  cases.forEach(([, step], i) => {
    const start = performance.now();
    step();
    (times[i] as number[]).push(performance.now() - start);
  });
}
results.forEach((r, i) => (r.ms = median(times[i] as number[])));

const base = results[0] as { ms: number; peak: number };
console.log(`GradCache benchmark: two-tower MLP ${WIDTHS.join('-')}, InfoNCE, B = ${BATCH}, median of ${REPEATS} rounds (cases interleaved)`);
console.log(header);
console.log('');
console.log('| step | median time | time ÷ full | peak tensor memory | memory ÷ full |');
console.log('|---|---|---|---|---|');
for (const r of results) {
  console.log(`| ${r.name} | ${r.ms.toFixed(0)} ms | ${(r.ms / base.ms).toFixed(2)}× | ${mib(r.peak)} | ${(r.peak / base.peak).toFixed(3)}× |`);
}
