/**
 * The demo: train a two-tower retrieval model with an effective batch of 1024 in chunks of 64, on a
 * synthetic task (queries and documents are two different noisy views of one hidden vector), and
 * show the loss falling, retrieval improving, and the tensor memory a cached step needs against one
 * 1024-row step. Run: pnpm demo
 */
import * as tf from '@tensorflow/tfjs-core';
import { GradCache, measureMemory } from '@gradcache/core';
import { infoNCE } from '@gradcache/losses';
import { mlpTower } from './two-tower.js';
import { mib, setUpWasm } from './setup.js';

const BATCH = Number(process.env['DEMO_BATCH'] ?? 1024);
const CHUNK = Number(process.env['DEMO_CHUNK'] ?? 64);
const STEPS = Number(process.env['DEMO_STEPS'] ?? 40);
const LATENT = 16;
const FEATURES = 96;
const WIDTHS = [FEATURES, 256, 256, 64];

console.log(await setUpWasm());

// Two fixed random "views" of a hidden vector z: a query and a document feature map.
const queryView = tf.randomNormal<tf.Rank.R2>([LATENT, FEATURES], 0, 1, 'float32', 11);
const docView = tf.randomNormal<tf.Rank.R2>([LATENT, FEATURES], 0, 1, 'float32', 12);
let sampleSeed = 100;
function sample(rows: number): [tf.Tensor2D, tf.Tensor2D] {
  return tf.tidy(() => {
    const z = tf.randomNormal<tf.Rank.R2>([rows, LATENT], 0, 1, 'float32', sampleSeed++);
    const noisy = (view: tf.Tensor2D): tf.Tensor2D =>
      tf.add(tf.tanh(tf.matMul(z, view)), tf.randomNormal([rows, FEATURES], 0, 0.3, 'float32', sampleSeed++)) as tf.Tensor2D;
    return [noisy(queryView), noisy(docView)];
  });
}

const q = mlpTower('query', WIDTHS, 1);
const d = mlpTower('doc', WIDTHS, 2);
// The tiled InfoNCE never holds the 1024×1024 logits: the loss phase stays O(B·d).
const loss = ([a, b]: tf.Tensor2D[]): tf.Scalar => infoNCE(a as tf.Tensor2D, b as tf.Tensor2D, { temperature: 0.05, tileSize: CHUNK });
const cache = new GradCache({ encoders: [q, d], chunkSize: CHUNK, loss, seed: 1 });
const optimizer = tf.train.adam(2e-3);

/** Top-1 retrieval accuracy: how often a query's nearest document (of 1024) is its own. */
function recallAt1(queries: tf.Tensor2D, docs: tf.Tensor2D): number {
  return tf.tidy(() => {
    const scores = tf.matMul(q.encode(queries, { training: false }) as tf.Tensor2D, d.encode(docs, { training: false }) as tf.Tensor2D, false, true);
    const hits = tf.equal(tf.argMax(scores, 1), tf.range(0, queries.shape[0], 1, 'int32'));
    return tf.mean(tf.cast(hits, 'float32')).dataSync()[0] as number;
  });
}

const [testQ, testD] = sample(1024);
console.log(`two-tower MLP ${WIDTHS.join('-')}, InfoNCE, effective batch ${BATCH} in chunks of ${CHUNK}, Adam`);
console.log(`recall@1 among 1024 held-out pairs before training: ${(100 * recallAt1(testQ, testD)).toFixed(1)}%`);

let peak = 0;
for (let step = 1; step <= STEPS; step++) {
  const batch = sample(BATCH);
  const start = performance.now();
  const { result, peakBytes } = await measureMemory(() => cache.step(optimizer, batch));
  const ms = performance.now() - start;
  peak = Math.max(peak, peakBytes);
  tf.dispose(batch);
  if (step === 1 || step % 5 === 0) console.log(`step ${String(step).padStart(3)}  loss ${result.loss.toFixed(4)}  ${ms.toFixed(0)} ms`);
}
console.log(`recall@1 after ${STEPS} steps: ${(100 * recallAt1(testQ, testD)).toFixed(1)}%`);

// What one plain 1024-row step needs, measured the same way (one full-batch gradient, untiled loss).
const batch = sample(BATCH);
const variables = cache.variables;
const full = await measureMemory(() =>
  tf.dispose(
    tf.variableGrads(
      () => infoNCE(q.encode(batch[0], { training: true }) as tf.Tensor2D, d.encode(batch[1], { training: true }) as tf.Tensor2D, { temperature: 0.05 }),
      variables,
    ),
  ),
);
console.log(
  `peak tensor memory: cached step ${mib(peak)}, one ${BATCH}-row step ${mib(full.peakBytes)} ` +
    `(${(peak / full.peakBytes).toFixed(2)}×)`,
);
tf.dispose([batch, testQ, testD, queryView, docView, q.variables, d.variables]);
optimizer.dispose();
