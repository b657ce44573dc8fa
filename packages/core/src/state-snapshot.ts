import * as tf from '@tensorflow/tfjs-core';

/** Copies of some variables' values, to write back later. */
export interface StateSnapshot {
  /** Writes the saved values back into the variables. */
  restore(): void;
  /** Frees the saved copies. */
  dispose(): void;
}

/**
 * Saves the current values of `variables` (e.g. BatchNorm moving statistics) so that a re-forward
 * that writes them can be undone. Each variable is saved once even when listed twice.
 */
export function snapshotState(variables: readonly tf.Variable[]): StateSnapshot {
  const unique = [...new Set(variables)];
  const saved = unique.map((v) => tf.keep(tf.clone(v)));
  return {
    restore: () => unique.forEach((v, i) => v.assign(saved[i] as tf.Tensor)),
    dispose: () => saved.forEach((t) => t.dispose()),
  };
}
