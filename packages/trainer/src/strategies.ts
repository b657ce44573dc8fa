import * as tf from '@tensorflow/tfjs-core';
import type { Batch, Encoder, Gradients, LossFunction } from '@gradcache/core';
import {
  batchSize,
  chunkRanges,
  chunkSeed,
  discardTape,
  encodeChunk,
  isFrozen,
  sliceBatch,
  withSeededRandom,
} from '@gradcache/core/internal';
import { check } from './errors.js';

/**
 * How a step turns a batch into gradients — the four things the GradCache paper compares.
 * `'cached'`: GradCache, the exact gradient of the whole batch at the memory of one chunk.
 * `'full'`: the plain large-batch gradient, every row in one gradient scope (the same gradient, at
 * the memory of the whole batch). `'accumulate'`: naive accumulation over chunks (each chunk sees
 * only its own negatives), one optimizer step per batch. `'small'`: plain steps on batches of
 * `chunkSize` rows — more, smaller steps over the same data.
 */
export type Strategy = 'full' | 'cached' | 'accumulate' | 'small';
export const STRATEGIES: readonly Strategy[] = ['full', 'cached', 'accumulate', 'small'];

/** The trainable variables of `encoders` that are not frozen, each once, in order of first appearance (GradCache's order). */
export function encoderVariables(encoders: readonly Encoder[]): tf.Variable[] {
  return [...new Set(encoders.filter((e) => !isFrozen(e)).flatMap((e) => e.trainableVariables))];
}

/** The loss of some reps plus each encoder's auxiliary loss, weighted. */
function lossWithAux<E>(
  encoders: readonly Encoder[],
  loss: LossFunction<E>,
  inputs: readonly Batch[],
  weight: number,
  extra: E | undefined,
): tf.Scalar {
  const encoded = encoders.map((e, i) => encodeChunk(e, i, inputs[i] as Batch));
  const value = loss(
    encoded.map((c) => c.rep),
    extra,
  );
  const terms = encoded.flatMap((c) => (c.auxLoss === undefined ? [] : [c.auxLoss]));
  const total = terms.length === 0 ? value : tf.addN([value, ...terms]);
  return (weight === 1 ? total : tf.mul(total, weight)) as tf.Scalar;
}

/** Every variable's gradient, zeros for those no path reached (so the optimizer always gets the full set). */
function complete(grads: tf.NamedTensorMap, variables: readonly tf.Variable[]): tf.NamedTensorMap {
  return Object.fromEntries(variables.map((v) => [v.name, grads[v.name] ?? tf.zerosLike(v)]));
}

/**
 * The plain large-batch gradient (the `'full'` and `'small'` strategies): every encoder on its whole
 * batch inside one gradient scope — what GradCache computes, at the memory of the whole batch.
 * Dropout draws from the seed of chunk 0 of batch `batchIndex`. The caller owns the result.
 */
export function fullBatchGradients<E>(
  encoders: readonly Encoder[],
  loss: LossFunction<E>,
  variables: readonly tf.Variable[],
  inputs: readonly Batch[],
  options: { seed?: number; batchIndex?: number; extra?: E } = {},
): Gradients {
  const { seed = 0, batchIndex = 0 } = options;
  return tf.tidy(() => {
    const { value, grads } = withSeededRandom(chunkSeed(seed, batchIndex, 0, 0), () =>
      tf.variableGrads(() => lossWithAux(encoders, loss, inputs, 1, options.extra), [...variables]),
    );
    return { loss: value, grads: complete(grads, variables) };
  });
}

/**
 * Naive gradient accumulation (the `'accumulate'` strategy), the baseline GradCache replaces: each
 * chunk of `chunkSize` rows is encoded and scored on its own — its loss sees only that chunk's
 * negatives, a different and weaker loss — and the chunk gradients are summed with weight rows/B.
 * The loss returned is the weighted mean of the chunk losses. Memory: one chunk, like GradCache. On
 * error nothing leaks. The caller owns the result.
 */
export function accumulatedGradients<E>(
  encoders: readonly Encoder[],
  loss: LossFunction<E>,
  variables: readonly tf.Variable[],
  inputs: readonly Batch[],
  chunkSize: number,
  options: { seed?: number; batchIndex?: number; extra?: E } = {},
): Gradients {
  const { seed = 0, batchIndex = 0 } = options;
  check(
    inputs.length === encoders.length,
    'INVALID_OPTION',
    () => `accumulatedGradients: ${encoders.length} encoders but ${inputs.length} inputs.`,
  );
  const ranges = chunkRanges(batchSize(inputs[0] as Batch, 'accumulatedGradients', 'inputs[0]'), chunkSize);
  const rows = ranges.reduce((n, r) => n + r.size, 0);
  let sums: Gradients = { loss: tf.scalar(0), grads: {} };
  try {
    ranges.forEach((range, k) => {
      const previous = sums;
      // Each chunk in its own tidy: its activations die with it; the new sums are returned.
      sums = tf.tidy(() => {
        const { value, grads } = withSeededRandom(chunkSeed(seed, batchIndex, 0, k), () =>
          tf.variableGrads(
            () =>
              lossWithAux(
                encoders,
                loss,
                inputs.map((b) => sliceBatch(b, range)),
                range.size / rows,
                options.extra,
              ),
            [...variables],
          ),
        );
        const added = Object.fromEntries(
          Object.entries(grads).map(([name, g]) => [
            name,
            previous.grads[name] === undefined ? g : tf.add(previous.grads[name] as tf.Tensor, g),
          ]),
        );
        return { loss: tf.add(previous.loss, value) as tf.Scalar, grads: { ...previous.grads, ...added } };
      });
      tf.dispose([
        previous.loss,
        ...Object.entries(previous.grads)
          .filter(([name, g]) => sums.grads[name] !== g)
          .map(([, g]) => g),
      ]);
    });
    const result = { loss: sums.loss, grads: complete(sums.grads, variables) };
    return result;
  } catch (error) {
    discardTape();
    tf.dispose([sums.loss, sums.grads]);
    throw error;
  }
}
