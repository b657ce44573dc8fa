import * as tf from '@tensorflow/tfjs-core';
import { type BackendChoice, type BackendPreference, initBackend } from '@gradcache/backend';
import { mlpEncoder } from '@gradcache/encoders';
import { infoNCE } from '@gradcache/losses';
import { measureMemory } from '@gradcache/core';
import { encoderVariables, fit, fullBatchGradients, retrievalMetrics, type StepLog, type Strategy } from '@gradcache/trainer';
import wasmUrl from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm?url';
import wasmSimdUrl from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-simd.wasm?url';
import wasmThreadedUrl from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-threaded-simd.wasm?url';

export type { Strategy } from '@gradcache/trainer';

/** fit's log of a step, with the loss every strategy is compared by. */
export interface PageStepLog extends StepLog {
  /** InfoNCE over one fixed batch of `batchSize` training rows, with the weights after this step (no dropout): the same quantity for every strategy. */
  batchLoss: number;
}

export interface RunOptions {
  strategy: Strategy;
  /** Rows per step (the contrastive batch). */
  batchSize: number;
  /** Rows per forward/backward: GradCache's chunk, or accumulation's micro-batch. */
  chunkSize: number;
  steps: number;
  seed: number;
  onStep?: (log: PageStepLog) => void;
  /** Stops after the current step. */
  signal?: AbortSignal;
}

export interface RunResult {
  strategy: Strategy;
  batchSize: number;
  chunkSize: number;
  logs: PageStepLog[];
  /** Recall@1 (%) of held-out queries against all held-out documents. */
  recallAt1: number;
  /** The gradient peak of one plain step over the whole batch (the 'full' strategy), measured on the first batch: what GradCache saves. */
  fullBatchPeakBytes: number;
}

const DIM = 32;
const TRAIN = 4096;
const TEST = 512;

/** Makes the backend the page asked for the active one; wasm's binaries are served by Vite. */
export function startBackend(preference: BackendPreference): Promise<BackendChoice> {
  return initBackend({
    preference,
    wasmPaths: {
      'tfjs-backend-wasm.wasm': wasmUrl,
      'tfjs-backend-wasm-simd.wasm': wasmSimdUrl,
      'tfjs-backend-wasm-threaded-simd.wasm': wasmThreadedUrl,
    },
  });
}

/**
 * A retrieval task made in the page, seeded: each document is a random vector, its query a fixed
 * non-linear mix of it plus noise. The query tower must learn to undo the mix; every other document
 * in the batch is a negative, so a bigger contrastive batch gives a harder, more useful loss.
 */
function makePairs(seed: number): { queries: tf.Tensor2D; documents: tf.Tensor2D } {
  return tf.tidy(() => {
    const documents = tf.randomNormal([TRAIN + TEST, DIM], 0, 1, 'float32', seed) as tf.Tensor2D;
    const mix = tf.randomNormal([DIM, DIM], 0, 1 / Math.sqrt(DIM), 'float32', seed + 1);
    const noise = tf.randomNormal([TRAIN + TEST, DIM], 0, 0.3, 'float32', seed + 2);
    return { queries: tf.add(tf.tanh(tf.matMul(documents, mix)), noise) as tf.Tensor2D, documents };
  });
}

/** Trains two fresh towers with one strategy through `fit`; every tensor it makes is freed before it returns. */
export async function train(options: RunOptions): Promise<RunResult> {
  const { strategy, batchSize, chunkSize, steps, seed } = options;
  const { queries, documents } = makePairs(seed);
  const query = mlpEncoder({ inputDim: DIM, widths: [64, 32], normalize: true, seed, name: 'query' });
  const doc = mlpEncoder({ inputDim: DIM, widths: [64, 32], normalize: true, seed: seed + 1, name: 'document' });
  const optimizer = tf.train.adam(3e-3);
  // fit runs whole epochs; the page wants `steps` steps, or fewer when Stop is pressed.
  const stop = new AbortController();
  options.signal?.addEventListener('abort', () => stop.abort());
  const loss = ([q, d]: tf.Tensor2D[]) => infoNCE(q as tf.Tensor2D, d as tf.Tensor2D, { temperature: 0.1 });
  const encoders = [query.encoder, doc.encoder];
  // The comparison batch: the first batchSize training rows, scored after every step the same way.
  const fixed = [tf.slice(queries, 0, batchSize), tf.slice(documents, 0, batchSize)];
  const batchLoss = async (): Promise<number> => {
    const value = tf.tidy(() => loss(encoders.map((e, i) => e.encode(fixed[i] as tf.Tensor, { training: false }) as tf.Tensor2D)));
    const [number] = await value.data();
    value.dispose();
    return number as number;
  };
  try {
    const { peakBytes: fullBatchPeakBytes } = await measureMemory(() =>
      tf.dispose(fullBatchGradients(encoders, loss, encoderVariables(encoders), fixed)),
    );
    const rowsPerStep = strategy === 'small' ? chunkSize : batchSize;
    const logs: PageStepLog[] = [];
    await fit({
      encoders,
      loss,
      optimizer,
      data: { size: TRAIN, batch: (indices) => [tf.gather(queries, indices as number[]), tf.gather(documents, indices as number[])] },
      batchSize,
      chunkSize,
      strategy,
      epochs: Math.ceil(steps / Math.floor(TRAIN / rowsPerStep)),
      seed,
      signal: stop.signal,
      callbacks: [
        {
          onStep: async (log) => {
            const full = { ...log, batchLoss: await batchLoss() };
            logs.push(full);
            options.onStep?.(full);
            if (log.step >= steps) stop.abort();
          },
        },
      ],
    });
    const held = [tf.slice(queries, TRAIN, TEST), tf.slice(documents, TRAIN, TEST)];
    const [q, d] = [
      query.encoder.encode(held[0] as tf.Tensor, { training: false }),
      doc.encoder.encode(held[1] as tf.Tensor, { training: false }),
    ];
    const metrics = await retrievalMetrics(
      q as tf.Tensor2D,
      d as tf.Tensor2D,
      Array.from({ length: TEST }, (_, i) => i),
      { ks: [1] },
    );
    tf.dispose([held, q as tf.Tensor, d as tf.Tensor]);
    return { strategy, batchSize, chunkSize, logs, recallAt1: 100 * (metrics.recall[1] as number), fullBatchPeakBytes };
  } finally {
    tf.dispose([queries, documents, fixed]);
    query.model.dispose();
    doc.model.dispose();
    optimizer.dispose();
  }
}
