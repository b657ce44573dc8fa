// `pnpm bench:parallel`: steps per second of GradCache over worker threads (@gradcache/parallel)
// against one process, on the CNN pair and the Transformer text towers of `pnpm bench`, wasm in every
// thread. Rounds alternate one process and each worker count in one run (these machines are shared
// and noisy); the ratio of median step times is the speed-up, and speed-up ÷ workers the efficiency.
//   pnpm bench:parallel                                  2 workers; ends with `parallel speed-up: X×` (the CNN pair's)
//   pnpm bench:parallel --workers 1,2,4,8,16 --scale 4   the scaling run: batches 4× larger (CNN 512, text
//                                                        256: 16 chunks per encoder, so 16 workers each get one)
import { availableParallelism } from 'node:os';
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs-core';
import { GradCache } from '@gradcache/core';
import { infoNCE, ntXent } from '@gradcache/losses';
import { ParallelGradCache } from '@gradcache/parallel/node';
import { createReplica, TEXT } from './parallel-replicas.js';
import { median, setUpWasm } from './setup.js';

const { values: flags } = parseArgs({ options: { workers: { type: 'string', default: '2' }, scale: { type: 'string', default: '1' } } });
const COUNTS = flags.workers.split(',').map(Number);
const SCALE = Number(flags.scale);
if (!COUNTS.every((n) => Number.isInteger(n) && n >= 1) || !(Number.isInteger(SCALE) && SCALE >= 1)) {
  throw new Error(
    `bench:parallel: --workers takes counts ≥ 1 (1,2,4), --scale an integer ≥ 1; got --workers ${flags.workers} --scale ${flags.scale}.`,
  );
}
const QUICK = process.env['BENCH_QUICK'] === '1';
const ROUNDS = QUICK ? 2 : 4;
const STEPS = QUICK ? 2 : 3;
console.log(
  `# GradCache on ${COUNTS.join(', ')} worker thread(s) vs one process — ${await setUpWasm()}, ${availableParallelism()} cores\n`,
);

interface Workload {
  name: string;
  kind: 'cnn' | 'text';
  chunkSize: number;
  inputs: () => tf.Tensor[] | { inputIds: tf.Tensor; attentionMask: tf.Tensor }[];
  loss: (reps: tf.Tensor2D[]) => tf.Scalar;
}

const tokens = (rows: number, seed: number) => ({
  inputIds: tf.randomUniform([rows, TEXT.maxLength], 4, TEXT.vocabSize, 'int32', seed),
  attentionMask: tf.ones([rows, TEXT.maxLength]),
});
const workloads: Workload[] = [
  {
    name: `CNN pair (32×32×3, 3 blocks), NT-Xent, B = ${128 * SCALE}, chunk 32`,
    kind: 'cnn',
    chunkSize: 32,
    inputs: () => [1, 2].map((seed) => tf.randomNormal([128 * SCALE, 32, 32, 3], 0, 1, 'float32', seed)),
    loss: ([a, b]) => ntXent(a!, b!, { temperature: 0.5 }),
  },
  {
    name: `Transformer text towers (dim 128, 2 blocks, seq 32), InfoNCE, B = ${64 * SCALE}, chunk 16`,
    kind: 'text',
    chunkSize: 16,
    inputs: () => [tokens(64 * SCALE, 3), tokens(64 * SCALE, 4)],
    loss: ([q, d]) => infoNCE(q!, d!, { temperature: 0.05 }),
  },
];

const results: { name: string; one: number; pools: Map<number, number> }[] = [];
for (const w of workloads) {
  const inputs = w.inputs();
  const local = createReplica({ kind: w.kind });
  const gradCache = new GradCache({ encoders: local.encoders, chunkSize: w.chunkSize, loss: w.loss, seed: 0 });
  const pools = new Map<number, ParallelGradCache>();
  for (const count of COUNTS) {
    pools.set(
      count,
      await ParallelGradCache.create({
        workers: count,
        replica: new URL('./parallel-replicas.ts', import.meta.url),
        replicaOptions: { kind: w.kind },
        chunkSize: w.chunkSize,
        loss: w.loss,
      }),
    );
  }
  const timed = async (step: () => Promise<unknown>): Promise<number> => {
    const start = performance.now();
    for (let k = 0; k < STEPS; k++) await step();
    return (performance.now() - start) / STEPS;
  };
  const stepOne = () => gradCache.stepAsync(local.optimizer as tf.Optimizer, inputs);
  await stepOne(); // warm-up: kernels, Adam's slots
  for (const pool of pools.values()) await pool.step(inputs);
  const one: number[] = [];
  const times = new Map<number, number[]>(COUNTS.map((c) => [c, []]));
  for (let round = 0; round < ROUNDS; round++) {
    one.push(await timed(stepOne));
    for (const [count, pool] of pools) times.get(count)?.push(await timed(() => pool.step(inputs)));
  }
  for (const pool of pools.values()) await pool.close();
  tf.dispose(inputs as tf.TensorContainer);
  const row = { name: w.name, one: median(one), pools: new Map([...times].map(([c, t]) => [c, median(t)])) };
  results.push(row);
  console.log(`## ${w.name}\n\n| workers | ms/step | speed-up | efficiency |\n| --- | --- | --- | --- |`);
  console.log(`| one process | ${row.one.toFixed(0)} | 1.00× | |`);
  for (const [count, ms] of row.pools) {
    const speedUp = row.one / ms;
    console.log(`| ${count} | ${ms.toFixed(0)} | ${speedUp.toFixed(2)}× | ${((100 * speedUp) / count).toFixed(0)} % |`);
  }
  console.log('');
}
const cnn = results[0] as (typeof results)[number];
const two = cnn.pools.get(2);
if (two !== undefined) console.log(`parallel speed-up: ${(cnn.one / two).toFixed(2)}×`);
