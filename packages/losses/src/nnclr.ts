import * as tf from '@tensorflow/tfjs-core';
import { check } from './errors.js';
import { checkOptions, checkPositive, checkReps, checkViews, shapeOf } from './checks.js';
import { contrastiveCrossEntropy } from './contrastive-ce.js';
import { l2Normalize } from './ops.js';

/** Options of nnclr. */
export interface NNCLROptions {
  /** Softmax temperature τ. Default 0.1. */
  temperature?: number;
}

/**
 * Each row's nearest neighbour (cosine) among the support rows, as a constant: computed inside a
 * custom gradient that gives z and the support none (a gather's int32 indices on the tape would
 * otherwise need a gradient of their own).
 */
const nearest = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
  const [z, support] = args as [tf.Tensor2D, tf.Tensor2D];
  const value = tf.tidy(() => {
    const s = l2Normalize(support);
    return tf.gather(s, tf.argMax(tf.matMul(l2Normalize(z), s, false, true), 1)) as tf.Tensor2D;
  });
  return { value, gradFunc: () => [tf.zerosLike(z), tf.zerosLike(support)] };
}) as (z: tf.Tensor2D, support: tf.Tensor2D) => tf.Tensor2D;

/**
 * NNCLR (Dwibedi et al. 2021): the positive of view 1's sample i is the nearest neighbour NN(ẑ1_i)
 * of its rep in a support set of earlier reps (a `RepMemory`), the candidates every ẑ2_j:
 * `½ (mean_i CE(NN(ẑ1_i)·ẑ2ᵀ/τ, i) + mean_i CE(NN(ẑ2_i)·ẑ1ᵀ/τ, i))`. The support gets no gradient.
 * Couples the batch like InfoNCE (every ẑ2_j is a negative); the support adds no negatives.
 */
export function nnclr(z1: tf.Tensor2D, z2: tf.Tensor2D, support: tf.Tensor2D, options: NNCLROptions = {}): tf.Scalar {
  checkOptions('nnclr', options, false);
  const { temperature = 0.1 } = options;
  checkViews('nnclr', z1, z2);
  checkReps('nnclr', 'support', support);
  checkPositive('nnclr', 'temperature', temperature);
  check(
    support.shape[1] === z1.shape[1],
    'WIDTH_MISMATCH',
    () => `nnclr: support rows must be as wide as z1, got support ${shapeOf(support)} and z1 ${shapeOf(z1)}.`,
  );
  return tf.tidy(() => {
    const [a, b] = [l2Normalize(z1), l2Normalize(z2)];
    const scale = tf.scalar(1 / temperature);
    const one = contrastiveCrossEntropy(nearest(z1, support), b, scale, 1);
    const two = contrastiveCrossEntropy(nearest(z2, support), a, scale, 1);
    return tf.mul(tf.add(one, two), 0.5);
  });
}
