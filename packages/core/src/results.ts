import type * as tf from '@tensorflow/tfjs-core';
import type { Batch } from './types.js';

/**
 * A loss and the gradient of every trainable variable, by variable name; the caller owns and
 * disposes every tensor (`tf.dispose(result)`). A type, not an interface, so that it is a
 * `tf.TensorContainer`.
 */
export type Gradients = {
  /** The loss of the whole batch (with every chunk's auxiliary term). */
  loss: tf.Scalar;
  /** The gradient of every trainable variable (encoders' and the loss's), by variable name. */
  grads: tf.NamedTensorMap;
};

/** What `computeGradients` returns: the gradients of the whole batch, and what the engine read about them. */
export type GradCacheResult = Gradients & {
  /** Names of the variables whose gradient holds NaN or ±Infinity; empty when all are finite. */
  nonFinite: string[];
  /** The global L2 norm of all the gradients (before any clipping). */
  gradNorm: number;
};

/** What `step` returns; holds no tensors. */
export interface StepResult {
  /** The loss of the whole batch before the update. */
  loss: number;
  /** The global L2 norm of the gradients before clipping. */
  gradNorm: number;
}

/** Options of `gradCache.begin`. */
export interface BeginOptions {
  /**
   * Loads chunk `chunkIndex` of encoder `encoderIndex` again for the re-forward (and for
   * `add(encoderIndex)` with no chunk), inside that chunk's seeded `Math.random` scope — so
   * augmentation drawn from `Math.random` is replayed identically. With it, `add` keeps no input and
   * only one chunk's inputs are alive at a time; without it, `add` keeps a copy of each chunk until
   * the batch ends.
   */
  load?: (encoderIndex: number, chunkIndex: number) => Batch;
}
