/**
 * Child process for the checkpoint tests (node --conditions=@gradcache/source --import tsx …):
 *   train <dir> <steps> [resume]  — trains the toy task to <steps> steps (resuming from <dir> if asked) and saves to <dir>
 *   save-loop <dir>               — saves a large checkpoint over and over, printing "saving N" before each
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { loadCheckpoint, saveCheckpoint } from './checkpoint.js';
import { fit } from './fit.js';
import { toyTask } from './toy-task.test-helper.js';

await tf.setBackend('cpu');
const [mode, dir, stepsArg, resume] = process.argv.slice(2) as [string, string, string?, string?];

if (mode === 'train') {
  const task = toyTask();
  const optimizer = tf.train.adam(1e-2);
  let start = { epoch: 0, batch: 0, step: 0 };
  if (resume === 'resume') {
    // Adam creates its slots on the first applyGradients; loadCheckpoint restores them by position.
    ({ position: start } = await loadCheckpoint(dir, { variables: task.variables(), optimizer }));
  }
  const steps = Number(stepsArg);
  // 3 steps an epoch (96 rows, batch 32): stop after `steps` by running whole epochs and a callback.
  let done = start.step;
  await fit({
    ...task,
    optimizer,
    batchSize: 32,
    chunkSize: 8,
    epochs: Math.ceil(steps / 3),
    seed: 5,
    start,
    callbacks: [
      {
        onStep: async (_log, position) => {
          done = position.step;
          if (done === steps) {
            await saveCheckpoint(dir, { variables: task.variables(), optimizer, state: { position, meta: {} } });
            process.stdout.write(`saved ${done}\n`);
            process.exit(0);
          }
        },
      },
    ],
  });
  process.stdout.write(`ended at ${done}\n`);
} else if (mode === 'save-loop') {
  const big = tf.variable(tf.randomNormal([2048, 1024], 0, 1, 'float32', 1), true, 'big'); // 8 MiB
  const optimizer = tf.train.sgd(0.1);
  for (let n = 1; ; n++) {
    big.assign(tf.fill([2048, 1024], n));
    process.stdout.write(`saving ${n}\n`);
    await saveCheckpoint(dir, { variables: [big], optimizer, state: { position: { epoch: 0, batch: 0, step: n }, meta: { n } } });
  }
}
