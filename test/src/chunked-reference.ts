import * as tf from '@tensorflow/tfjs-core';
import { chunkRanges, chunkSeed, snapshotState, withSeededRandom, type Batch, type GradCache } from '@gradcache/core';

/** Rows `begin … begin+size−1` of every tensor of a batch. */
function sliceRows(batch: Batch, begin: number, size: number): Batch {
  const take = (t: tf.Tensor): tf.Tensor => tf.slice(t, begin, size);
  if (batch instanceof tf.Tensor) return take(batch);
  if (Array.isArray(batch)) return (batch as readonly tf.Tensor[]).map(take);
  return Object.fromEntries(Object.entries(batch).map(([k, t]) => [k, take(t)]));
}

const rowsOf = (batch: Batch): number =>
  ((batch instanceof tf.Tensor ? batch : Object.values(batch as Record<string, tf.Tensor>)[0]) as tf.Tensor).shape[0] as number;

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
        const chunks = chunkRanges(rowsOf(batch), cache.chunkSizes[i] as number).map(({ begin, size }, j) =>
          withSeededRandom(chunkSeed(cache.seed, step, i, j), () => encoder.encode(sliceRows(batch, begin, size), { training: true }) as tf.Tensor2D),
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
    for (const { begin, size } of chunkRanges(rowsOf(batch), cache.chunkSizes[i] as number)) {
      tf.tidy(() => {
        encoder.encode(sliceRows(batch, begin, size), { training: true });
      });
    }
  });
}
