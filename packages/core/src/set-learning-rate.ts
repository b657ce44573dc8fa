import type * as tf from '@tensorflow/tfjs-core';

/**
 * Sets an optimizer's learning rate. SGD and momentum keep −rate as a tensor (`setLearningRate`
 * replaces it: assigning the field alone changed nothing); Adam, RMSProp and the rest read the field.
 */
export function setLearningRate(optimizer: tf.Optimizer, rate: number): void {
  const o = optimizer as unknown as { learningRate: number; setLearningRate?: (rate: number) => void };
  if (typeof o.setLearningRate === 'function') o.setLearningRate(rate);
  else o.learningRate = rate;
}
