import * as tf from '@tensorflow/tfjs-core';
import {
  type Batch,
  batchSize,
  chunkRanges,
  chunkSeed,
  type Encoder,
  type LossFunction,
  sliceBatch,
  withSeededRandom,
} from '@gradcache/core';
import { check } from './errors.js';

/** A loss and the gradient of each variable, by name. The caller owns both (`tf.dispose(gradients)`). */
export type Gradients = {
  loss: tf.Scalar;
  grads: tf.NamedTensorMap;
};

/** The trainable variables of `encoders`, each once, in order of first appearance. */
export function encoderVariables(encoders: readonly Encoder[]): tf.Variable[] {
  return [...new Set(encoders.flatMap((e) => e.trainableVariables))];
}

/**
 * The plain large-batch gradient: every encoder on its whole batch inside one gradient scope — what
 * GradCache computes, at the memory of the whole batch. `seed` replays dropout as chunk 0 of step
 * `step` (the reference `verify`-style checks use).
 */
export function fullBatchGradients<E>(
  encoders: readonly Encoder[],
  loss: LossFunction<E>,
  variables: readonly tf.Variable[],
  inputs: readonly Batch[],
  options: { seed?: number; step?: number; extra?: E } = {},
): Gradients {
  const { seed = 0, step = 0 } = options;
  const { value, grads } = withSeededRandom(chunkSeed(seed, step, 0, 0), () =>
    tf.variableGrads(
      () =>
        loss(
          encoders.map((e, i) => e.encode(inputs[i] as Batch, { training: true }) as tf.Tensor2D),
          options.extra,
        ),
      [...variables],
    ),
  );
  return { loss: value, grads };
}

/**
 * Naive gradient accumulation, the baseline GradCache replaces: each chunk of `chunkSize` rows is
 * encoded and scored on its own — its loss sees only that chunk's negatives, a different and weaker
 * loss — and the chunk gradients are summed with weight rows/B. The loss returned is the weighted
 * mean of the chunk losses. Memory: one chunk, like GradCache.
 */
export function accumulatedGradients<E>(
  encoders: readonly Encoder[],
  loss: LossFunction<E>,
  variables: readonly tf.Variable[],
  inputs: readonly Batch[],
  chunkSize: number,
  options: { seed?: number; step?: number; extra?: E } = {},
): Gradients {
  const { seed = 0, step = 0 } = options;
  check(
    inputs.length === encoders.length,
    'INVALID_OPTION',
    () => `accumulatedGradients: ${encoders.length} encoders but ${inputs.length} inputs.`,
  );
  const ranges = chunkRanges(batchSize(inputs[0] as Batch, 'accumulatedGradients', 'inputs[0]'), chunkSize);
  const rows = ranges.reduce((n, r) => n + r.size, 0);
  let total: tf.Scalar = tf.scalar(0);
  let sums: tf.NamedTensorMap = {};
  ranges.forEach((range, k) => {
    const { value, grads } = tf.tidy(() =>
      withSeededRandom(chunkSeed(seed, step, 0, k), () =>
        tf.variableGrads(() => {
          const reps = encoders.map((e, i) => e.encode(sliceBatch(inputs[i] as Batch, range), { training: true }) as tf.Tensor2D);
          return tf.mul(loss(reps, options.extra), range.size / rows);
        }, [...variables]),
      ),
    );
    const [previousTotal, previousSums] = [total, sums];
    total = tf.add(previousTotal, value);
    sums = Object.fromEntries(
      Object.entries(grads).map(([name, g]) => [
        name,
        previousSums[name] === undefined ? tf.clone(g) : tf.add(previousSums[name] as tf.Tensor, g),
      ]),
    );
    tf.dispose([previousTotal, previousSums, value, grads]);
  });
  return { loss: total, grads: sums };
}

/** Options of applyGradients. */
export interface ApplyOptions {
  /** Scale the gradients so their global L2 norm is at most this. Default: no clipping. */
  clipNorm?: number;
}

/**
 * Applies gradients to `variables` in exactly that order — tfjs optimizers key their slots by
 * position, so the order must be the same on every step — after an optional global-norm clip.
 * Throws a TrainerError (NOT_FINITE), applying nothing, if a gradient holds NaN or Infinity.
 * Resolves to the global gradient norm before clipping, read with `await data()` (no synchronous
 * read, so it runs on WebGPU and WebGL). Does not dispose `grads`.
 */
export async function applyGradients(
  optimizer: tf.Optimizer,
  variables: readonly tf.Variable[],
  grads: tf.NamedTensorMap,
  options: ApplyOptions = {},
): Promise<{ gradNorm: number }> {
  const { clipNorm } = options;
  check(
    clipNorm === undefined || (Number.isFinite(clipNorm) && clipNorm > 0),
    'INVALID_OPTION',
    () => `applyGradients: clipNorm must be a positive number, got ${clipNorm}.`,
  );
  const missing = variables.filter((v) => grads[v.name] === undefined).map((v) => v.name);
  check(missing.length === 0, 'INVALID_OPTION', () => `applyGradients: no gradient for ${missing.join(', ')}; pass one per variable.`);
  const norm = tf.tidy(() => tf.sqrt(tf.addN(variables.map((v) => tf.sum(tf.square(grads[v.name] as tf.Tensor))))));
  let gradNorm: number;
  try {
    gradNorm = (await norm.data())[0] as number;
  } finally {
    norm.dispose();
  }
  check(
    Number.isFinite(gradNorm),
    'NOT_FINITE',
    () => `applyGradients: the gradients hold NaN or Infinity (norm ${gradNorm}); nothing was applied. Lower the learning rate or clip.`,
  );
  const scale = clipNorm !== undefined && gradNorm > clipNorm ? clipNorm / gradNorm : 1;
  tf.tidy(() => {
    optimizer.applyGradients(
      variables.map((v) => ({
        name: v.name,
        tensor: scale === 1 ? (grads[v.name] as tf.Tensor) : tf.mul(grads[v.name] as tf.Tensor, scale),
      })),
    );
  });
  return { gradNorm };
}
