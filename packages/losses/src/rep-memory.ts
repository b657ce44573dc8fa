import * as tf from '@tensorflow/tfjs-core';
import { check } from './errors.js';
import { checkReps, shapeOf } from './checks.js';

/** Options of RepMemory. */
export interface RepMemoryOptions {
  /** How many rows it holds; the oldest are dropped first. */
  size: number;
  /** The width d of the reps. */
  width: number;
}

/**
 * A first-in-first-out memory of detached reps from earlier steps (and their labels): MoCo's queue
 * of keys and XBM's cross-batch memory (Wang et al. 2020). It holds copies — no gradient reaches
 * them, and the tensors a step passed in may be freed. `reps` belongs to the memory (valid until the
 * next `push` or `dispose`); its first rows are the newest.
 *
 * ```ts
 * const memory = new RepMemory({ size: 4096, width: 128 });
 * const loss: LossFunction = ([q, k]) => {
 *   const value = queueInfoNCE(q!, k!, memory.reps, { temperature: 0.07 });
 *   memory.push(k!); // once per step, after reading
 *   return value;
 * };
 * ```
 */
export class RepMemory {
  readonly size: number;
  readonly width: number;
  #reps: tf.Tensor2D;
  #labels: number[] = [];

  constructor(options: RepMemoryOptions) {
    check(
      typeof options === 'object' &&
        options !== null &&
        Number.isInteger(options.size) &&
        options.size > 0 &&
        Number.isInteger(options.width) &&
        options.width > 0,
      'INVALID_OPTION',
      () => `RepMemory: size and width must be positive integers, got ${JSON.stringify(options)}.`,
    );
    this.size = options.size;
    this.width = options.width;
    this.#reps = tf.keep(tf.zeros([0, this.width]));
  }

  /** The remembered reps, [rows ≤ size, width], newest first. Owned by the memory. */
  get reps(): tf.Tensor2D {
    return this.#reps;
  }

  /** The remembered labels, one per row of `reps` (empty when pushes gave none). */
  get labels(): readonly number[] {
    return this.#labels;
  }

  /** Prepends a detached copy of `reps` (and their labels), dropping the oldest rows past `size`. */
  push(reps: tf.Tensor2D, labels?: readonly number[]): void {
    checkReps('RepMemory.push', 'reps', reps);
    check(reps.shape[1] === this.width, 'WIDTH_MISMATCH', () => `RepMemory.push: reps must be ${this.width} wide, got ${shapeOf(reps)}.`);
    check(
      labels === undefined ? this.#labels.length === 0 : labels.length === reps.shape[0] && this.#labels.length === this.#reps.shape[0],
      'LABELS_LENGTH',
      () =>
        labels === undefined
          ? 'RepMemory.push: this memory holds labels; pass one per row of reps.'
          : `RepMemory.push: labels must hold one per row of reps (${reps.shape[0]}) and every push must give them, got ${labels.length}.`,
    );
    const next = tf.tidy(() => {
      const joined = tf.concat([reps, this.#reps]) as tf.Tensor2D; // a copy; the next step's tape never sees where it came from
      return joined.shape[0] > this.size ? tf.slice(joined, 0, this.size) : joined;
    });
    this.#reps.dispose();
    this.#reps = tf.keep(next);
    if (labels !== undefined) this.#labels = [...labels, ...this.#labels].slice(0, this.size);
  }

  /** Frees the memory's tensor. */
  dispose(): void {
    this.#reps.dispose();
  }
}
