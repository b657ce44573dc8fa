import * as tf from '@tensorflow/tfjs-core';

/**
 * An error thrown inside a gradient scope leaves tfjs's tape holding the tensors it saved for the
 * backward pass; drops them so that a failed batch leaks nothing. A no-op outside that situation.
 */
export function discardTape(): void {
  const state = tf.engine().state as unknown as {
    gradientDepth: number;
    activeTape?: { saved?: tf.Tensor[] }[] | null;
  };
  if (state.gradientDepth !== 0 || state.activeTape == null) return;
  for (const node of state.activeTape) node.saved?.forEach((t) => t.dispose());
  state.activeTape = null;
}
