// Trains a few steps from a pairs file much larger than this process's JS heap
// (--max-old-space-size): openPairs indexes the file in one streaming pass and each batch reads its
// rows from disk. Prints the rows, the steps' losses and the resident memory as JSON.
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-layers';
import { hashedNgrams } from '@gradcache/data';
import { openPairs } from '@gradcache/data/node';
import { embeddingBagEncoder } from '@gradcache/encoders';
import { fit } from '@gradcache/trainer';
import { pairsTask } from './pairs-task.js';

tf.env().set('PROD', true);
await tf.setBackend('cpu');
const file = await openPairs(process.argv[2] as string);
const { encoder } = embeddingBagEncoder({ vocabSize: 256, dim: 8, normalize: true, seed: 1 });
const task = pairsTask({
  model: { encoder, tokenizer: { encode: (texts) => hashedNgrams(texts, { buckets: 256, maxLength: 16 }) } },
  train: file,
});
const optimizer = tf.train.adam(1e-2);
const stop = new AbortController();
const { history } = await fit({
  ...task,
  data: task.train,
  optimizer,
  batchSize: 16,
  chunkSize: 4,
  epochs: 1,
  signal: stop.signal,
  callbacks: [{ onStep: (log) => void (log.step >= 5 ? stop.abort() : undefined) }],
});
process.stdout.write(
  `${JSON.stringify({ rows: file.size, losses: history.map((h) => h.loss), rss: process.memoryUsage().rss, heap: process.memoryUsage().heapUsed })}\n`,
);
await file.close();
