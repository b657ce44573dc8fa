/**
 * The loss phase of InfoNCE at very large batches: peak tensor memory (and time) of the loss and its
 * gradients with respect to the reps, tiled, at B = 4096 … 65,536, d = 128 — and untiled where it
 * fits. Run: pnpm bench:loss   (BENCH_MAX_BATCH=16384 for a quicker run)
 */
import * as tf from '@tensorflow/tfjs-core';
import { measureMemory } from '@gradcache/core';
import { infoNCE } from '@gradcache/losses';
import { mib, setUpWasm } from './setup.js';

const header = await setUpWasm();
const WIDTH = 128;
const TILE = Number(process.env['BENCH_TILE'] ?? 2048);
const MAX_BATCH = Number(process.env['BENCH_MAX_BATCH'] ?? 65_536);
const UNTILED_MAX = 8192; // the B×B logits and their gradients: ~1.5 GiB of tensors at 8192

console.log(`InfoNCE loss phase (loss + dL/dq + dL/dd), d = ${WIDTH}, tile ${TILE}`);
console.log(header);
console.log('');
console.log('| B | tiled peak | tiled time | untiled peak | untiled time |');
console.log('|---|---|---|---|---|');
for (let batch = 4096; batch <= MAX_BATCH; batch *= 2) {
  const q = tf.randomNormal([batch, WIDTH], 0, 1 / Math.sqrt(WIDTH), 'float32', 1) as tf.Tensor2D;
  const d = tf.randomNormal([batch, WIDTH], 0, 1 / Math.sqrt(WIDTH), 'float32', 2) as tf.Tensor2D;
  const run = async (tileSize?: number): Promise<string> => {
    const options = tileSize === undefined ? { temperature: 0.05 } : { temperature: 0.05, tileSize };
    const start = performance.now();
    const { peakBytes } = await measureMemory(() => {
      const { value, grads } = tf.valueAndGrads((a, b) => infoNCE(a as tf.Tensor2D, b as tf.Tensor2D, options))([q, d]);
      value.dataSync();
      tf.dispose([value, grads]);
    });
    return `${mib(peakBytes)} | ${((performance.now() - start) / 1000).toFixed(1)} s`;
  };
  const tiled = await run(TILE);
  const untiled = batch <= UNTILED_MAX ? await run() : '— | —';
  console.log(`| ${batch} | ${tiled} | ${untiled} |`);
  tf.dispose([q, d]);
}
