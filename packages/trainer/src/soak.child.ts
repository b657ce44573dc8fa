/**
 * Child process for the soak test (node --conditions=@gradcache/source --import tsx …):
 *   soak.child.ts <dir> <steps> <every>
 * Trains the toy task on wasm for <steps> steps (Adam, warm-up + cosine over all of them), saving a
 * checkpoint to <dir> every <every> steps and resuming from <dir> when it holds one. Prints one JSON
 * line per checkpoint ({step, tensors, rss}) and, at the end, {done, sha256} of the final weights.
 */
import { createHash } from 'node:crypto';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '@gradcache/backend/node';
import { hasCheckpoint, loadCheckpoint, saveCheckpoint } from './checkpoint.js';
import { fit, type Position } from './fit.js';
import { warmupCosine } from './schedule.js';
import { toyTask } from './toy-task.test-helper.js';

tf.env().set('PROD', true);
await initBackend('wasm');
const [dir, stepsArg, everyArg] = process.argv.slice(2) as [string, string, string];
const [steps, every] = [Number(stepsArg), Number(everyArg)];

const task = toyTask();
const optimizer = tf.train.adam(1e-2);
let start: Position = { epoch: 0, batch: 0, step: 0 };
if (await hasCheckpoint(dir)) ({ position: start } = await loadCheckpoint(dir, { variables: task.variables(), optimizer }));
const stop = new AbortController();
const result = await fit({
  ...task,
  optimizer,
  batchSize: 32,
  chunkSize: 8,
  epochs: Math.ceil(steps / 3), // 96 rows, batch 32: 3 steps an epoch; the same plan in every process
  seed: 5,
  start,
  learningRate: warmupCosine({ peak: 1e-2 }),
  signal: stop.signal,
  callbacks: [
    {
      onStep: async (_log, position) => {
        if (position.step % every === 0) {
          await saveCheckpoint(dir, { variables: task.variables(), optimizer, state: { position, meta: {} } });
          const line = { step: position.step, tensors: tf.memory().numTensors, rss: process.memoryUsage().rss };
          process.stdout.write(`${JSON.stringify(line)}\n`);
        }
        if (position.step >= steps) stop.abort();
      },
    },
  ],
});
const hash = createHash('sha256');
for (const v of task.variables()) hash.update(new Uint8Array(((await v.data()) as Float32Array).buffer));
process.stdout.write(`${JSON.stringify({ done: result.position.step, sha256: hash.digest('hex') })}\n`);
