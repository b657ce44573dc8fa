import type * as tf from '@tensorflow/tfjs-core';
import { backwardChunk, forwardChunk } from './cached-step.js';
import { resolvedConfigOf } from './config.js';
import type { GradCache } from './grad-cache.js';
import { chunkSeed } from './random-replay.js';
import type { Batch } from './types.js';

/** A GradCache's two per-chunk phases, for an engine that spreads chunks over workers or machines. */
export interface ChunkPhases {
  /** Phase 1: chunk j of encoder i at step `step`, encoded without a tape; its rep (and aux loss), owned by the caller. */
  forward(i: number, j: number, step: number, input: Batch | (() => Batch)): { rep: tf.Tensor2D; aux: tf.Scalar | undefined };
  /**
   * Phase 3: the same chunk re-encoded under a tape with the same randomness, `dy` (its slice of the
   * cache) back-propagated — plus `auxWeight` times its aux loss; one gradient per trainable
   * variable of encoder i (undefined where none reached it) and the replay drift. Call it in a tidy.
   */
  backward(
    i: number,
    j: number,
    step: number,
    input: Batch | (() => Batch),
    dy: tf.Tensor2D,
    first: tf.Tensor2D,
    auxWeight?: number,
  ): { grads: (tf.Tensor | undefined)[]; drift: tf.Scalar | undefined };
}

/**
 * The per-chunk phases of `gradCache`, with its encoders, seed and replay check: chunk j of encoder
 * i always replays `chunkSeed(seed, step, i, j)`, wherever it runs, so N workers give the gradient of
 * one process. `@gradcache/parallel` is built on these; a multi-machine engine would be too.
 */
export function chunkPhases<E>(gradCache: GradCache<E>): ChunkPhases {
  const config = resolvedConfigOf<E>(gradCache);
  return {
    forward: (i, j, step, input) => forwardChunk(config, i, j, chunkSeed(config.seed, step, i, j), input),
    backward: (i, j, step, input, dy, first, auxWeight) =>
      backwardChunk(config, i, j, chunkSeed(config.seed, step, i, j), input, dy, first, auxWeight),
  };
}
