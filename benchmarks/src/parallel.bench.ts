// `pnpm bench:parallel`: steps per second of GradCache over 2 worker threads (@gradcache/parallel)
// against one process, on the CNN pair and the Transformer text towers of `pnpm bench`, wasm in every
// thread. Rounds alternate one process / 2 workers in one run (these machines are shared and noisy);
// the ratio of median step times is the speed-up. Ends with `parallel speed-up: X×` (the CNN pair's).
import * as tf from '@tensorflow/tfjs-core';
import { GradCache } from '@gradcache/core';
import { infoNCE, ntXent } from '@gradcache/losses';
import { ParallelGradCache } from '@gradcache/parallel/node';
import { createReplica, TEXT } from './parallel-replicas.js';
import { median, setUpWasm } from './setup.js';

const QUICK = process.env['BENCH_QUICK'] === '1';
const ROUNDS = QUICK ? 2 : 4;
const STEPS = QUICK ? 2 : 3;
console.log(
  `# GradCache on 2 worker threads vs one process — ${await setUpWasm()}, ${(await import('node:os')).availableParallelism()} cores\n`,
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
    name: 'CNN pair (32×32×3, 3 blocks), NT-Xent, B = 128, chunk 32',
    kind: 'cnn',
    chunkSize: 32,
    inputs: () => [tf.randomNormal([128, 32, 32, 3], 0, 1, 'float32', 1), tf.randomNormal([128, 32, 32, 3], 0, 1, 'float32', 2)],
    loss: ([a, b]) => ntXent(a!, b!, { temperature: 0.5 }),
  },
  {
    name: 'Transformer text towers (dim 128, 2 blocks, seq 32), InfoNCE, B = 64, chunk 16',
    kind: 'text',
    chunkSize: 16,
    inputs: () => [tokens(64, 3), tokens(64, 4)],
    loss: ([q, d]) => infoNCE(q!, d!, { temperature: 0.05 }),
  },
];

const results: { name: string; one: number; two: number }[] = [];
for (const w of workloads) {
  const inputs = w.inputs();
  const local = createReplica({ kind: w.kind });
  const gradCache = new GradCache({ encoders: local.encoders, chunkSize: w.chunkSize, loss: w.loss, seed: 0 });
  const parallel = await ParallelGradCache.create({
    workers: 2,
    replica: new URL('./parallel-replicas.ts', import.meta.url),
    replicaOptions: { kind: w.kind },
    chunkSize: w.chunkSize,
    loss: w.loss,
  });
  const timeOne = async () => {
    const start = performance.now();
    for (let k = 0; k < STEPS; k++) await gradCache.stepAsync(local.optimizer as tf.Optimizer, inputs);
    return (performance.now() - start) / STEPS;
  };
  const timeTwo = async () => {
    const start = performance.now();
    for (let k = 0; k < STEPS; k++) await parallel.step(inputs);
    return (performance.now() - start) / STEPS;
  };
  await gradCache.stepAsync(local.optimizer as tf.Optimizer, inputs); // warm-up: kernels, Adam's slots
  await parallel.step(inputs);
  const one: number[] = [];
  const two: number[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    one.push(await timeOne());
    two.push(await timeTwo());
  }
  await parallel.close();
  tf.dispose(inputs as tf.TensorContainer);
  const row = { name: w.name, one: median(one), two: median(two) };
  results.push(row);
  console.log(
    `${w.name}: one process ${row.one.toFixed(0)} ms/step, 2 workers ${row.two.toFixed(0)} ms/step → ${(row.one / row.two).toFixed(2)}×`,
  );
}
const cnn = results[0] as { one: number; two: number };
console.log(`\nparallel speed-up: ${(cnn.one / cnn.two).toFixed(2)}×`);
