import * as tf from '@tensorflow/tfjs-core';

/**
 * Runs `f` and throws if it changed the number of live tensors or variables. `f` must dispose what
 * it gets back from the code under test.
 */
export function expectNoLeaks(f: () => void, what = 'the call'): void {
  const before = tf.memory().numTensors;
  const variables = Object.keys(tf.engine().registeredVariables).length;
  f();
  const after = tf.memory().numTensors;
  if (after !== before) throw new Error(`${what} leaked ${after - before} tensors (${before} before, ${after} after).`);
  const variablesAfter = Object.keys(tf.engine().registeredVariables).length;
  if (variablesAfter !== variables) throw new Error(`${what} left ${variablesAfter - variables} new variables.`);
}
