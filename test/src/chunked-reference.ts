import * as tf from '@tensorflow/tfjs-core';
import type { Batch, GradCache } from '@gradcache/core';
import { batchSize, chunkRanges, chunkSeed, sliceBatch, snapshotState, withSeededRandom } from '@gradcache/core/internal';

/**
 * The large-batch gradient GradCache should match when encoders are random or use batch statistics:
 * every encoder runs on its whole batch inside ONE gradient scope, chunk by chunk with the chunk's
 * replay seed (same dropout masks) and per-chunk batch statistics, reps concatenated, then the loss.
 * State variables are put back afterwards. Independent of GradCache's own phases.
 */
export function chunkedReference(
  cache: GradCache,
  inputs: readonly Batch[],
  loss: (reps: tf.Tensor2D[]) => tf.Scalar,
  step: number,
): { value: tf.Scalar; grads: tf.NamedTensorMap } {
  const state = snapshotState(cache.encoders.flatMap((e) => e.stateVariables ?? []));
  try {
    return tf.variableGrads(() => {
      const reps = cache.encoders.map((encoder, i) => {
        const batch = inputs[i] as Batch;
        const chunks = chunkRanges(batchSize(batch, 'chunkedReference', 'batch'), cache.chunkSize[i] as number).map((range, j) =>
          withSeededRandom(
            chunkSeed(cache.seed, step, i, j),
            () => encoder.encode(sliceBatch(batch, range), { training: true }) as tf.Tensor2D,
          ),
        );
        return tf.concat(chunks, 0);
      });
      return loss(reps);
    }, cache.variables);
  } finally {
    state.restore();
    state.dispose();
  }
}

/** Runs each encoder over its batch chunk by chunk once, as a plain training forward (no gradients). */
export function plainChunkedForward(cache: GradCache, inputs: readonly Batch[]): void {
  cache.encoders.forEach((encoder, i) => {
    const batch = inputs[i] as Batch;
    for (const range of chunkRanges(batchSize(batch, 'plainChunkedForward', 'batch'), cache.chunkSize[i] as number)) {
      tf.tidy(() => {
        encoder.encode(sliceBatch(batch, range), { training: true });
      });
    }
  });
}
