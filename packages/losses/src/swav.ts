import * as tf from '@tensorflow/tfjs-core';
import { check } from './errors.js';
import { checkOptions, checkPositive, checkReps, checkViews, shapeOf } from './checks.js';
import { l2Normalize, stopGradient } from './ops.js';

/** Options of swav. */
export interface SwAVOptions {
  /** Softmax temperature τ of the predictions. Default 0.1. */
  temperature?: number;
  /** Entropy regularisation ε of Sinkhorn-Knopp. Default 0.05. */
  epsilon?: number;
  /** Sinkhorn-Knopp iterations. Default 3. */
  sinkhornIterations?: number;
  /**
   * Earlier reps (e.g. a `RepMemory`'s, [Q, d]) scored with the batch when computing the codes, so
   * the equal-partition constraint holds over more samples when batches are small; they get no gradient.
   */
  queue?: tf.Tensor2D;
}

/** More Sinkhorn iterations than anyone uses (SwAV: 3): a bound, so a typo cannot loop for hours. */
export const MAX_SINKHORN_ITERATIONS = 10_000;

/**
 * Sinkhorn-Knopp (as SwAV's code, no gradient): from scores [n, K], codes [n, K] whose columns
 * (prototypes) share the n samples equally and whose rows sum to one.
 */
export function sinkhorn(scores: tf.Tensor2D, epsilon: number, iterations: number): tf.Tensor2D {
  check(
    Number.isInteger(iterations) && iterations >= 0 && iterations <= MAX_SINKHORN_ITERATIONS,
    'INVALID_OPTION',
    () => `sinkhorn: iterations must be an integer in [0, ${MAX_SINKHORN_ITERATIONS}], got ${String(iterations)}.`,
  );
  check(
    Number.isFinite(epsilon) && epsilon > 0,
    'INVALID_OPTION',
    () => `sinkhorn: epsilon must be a positive number, got ${String(epsilon)}.`,
  );
  return tf.tidy(() => {
    const [n, k] = scores.shape;
    // exp(s/ε) with its max subtracted: the normalisation below removes any common factor.
    let q = tf.transpose(tf.exp(tf.div(tf.sub(scores, tf.max(scores)), epsilon))) as tf.Tensor2D; // [K, n]
    q = tf.div(q, tf.sum(q));
    for (let it = 0; it < iterations; it++) {
      q = tf.div(tf.div(q, tf.sum(q, 1, true)), k); // each prototype gets 1/K of the mass
      q = tf.div(tf.div(q, tf.sum(q, 0, true)), n); // each sample gets 1/n
    }
    return tf.transpose(tf.mul(q, n)) as tf.Tensor2D;
  });
}

/**
 * SwAV (Caron et al. 2020): scores of ẑ against the L2-normalised learnable prototypes C ([K, d]),
 * codes q from Sinkhorn-Knopp over the *whole* batch (plus an optional queue) without gradient, and
 * the swapped prediction `−½ mean_i Σ_k (q2_ik log softmax(s1_i/τ)_k + q1_ik log softmax(s2_i/τ)_k)`.
 * The codes couple the batch: each depends on every sample's scores (equal partition over the
 * prototypes), so the exact large-batch gradient needs the whole batch — which GradCache gives.
 * Pass C as a tf.Variable: GradCache trains it as a loss variable.
 */
export function swav(z1: tf.Tensor2D, z2: tf.Tensor2D, prototypes: tf.Tensor2D, options: SwAVOptions = {}): tf.Scalar {
  checkOptions('swav', options, false);
  const { temperature = 0.1, epsilon = 0.05, sinkhornIterations = 3, queue } = options;
  checkViews('swav', z1, z2);
  checkReps('swav', 'prototypes', prototypes);
  checkPositive('swav', 'temperature', temperature);
  checkPositive('swav', 'epsilon', epsilon);
  check(
    Number.isInteger(sinkhornIterations) && sinkhornIterations > 0,
    'INVALID_OPTION',
    () => `swav: sinkhornIterations must be a positive integer, got ${String(sinkhornIterations)}.`,
  );
  check(
    prototypes.shape[1] === z1.shape[1],
    'WIDTH_MISMATCH',
    () => `swav: prototypes must be as wide as the reps, got prototypes ${shapeOf(prototypes)} and z1 ${shapeOf(z1)}.`,
  );
  if (queue !== undefined) {
    checkReps('swav', 'queue', queue, 0);
    check(queue.shape[1] === z1.shape[1], 'WIDTH_MISMATCH', () => `swav: queue must be as wide as the reps, got ${shapeOf(queue)}.`);
  }
  return tf.tidy(() => {
    const c = l2Normalize(prototypes);
    const scores = (z: tf.Tensor2D) => tf.matMul(l2Normalize(z), c, false, true) as tf.Tensor2D;
    const [s1, s2] = [scores(z1), scores(z2)];
    const codes = (s: tf.Tensor2D): tf.Tensor2D => {
      const b = s.shape[0];
      const detached = stopGradient(s);
      if (queue === undefined || queue.shape[0] === 0) return sinkhorn(detached, epsilon, sinkhornIterations);
      const all = tf.concat([detached, stopGradient(scores(queue))]);
      return tf.slice(sinkhorn(all, epsilon, sinkhornIterations), 0, b);
    };
    const [q1, q2] = [codes(s1), codes(s2)];
    const crossEntropy = (q: tf.Tensor2D, s: tf.Tensor2D) => tf.mean(tf.sum(tf.mul(q, tf.logSoftmax(tf.div(s, temperature))), 1));
    return tf.mul(tf.add(crossEntropy(q2, s1), crossEntropy(q1, s2)), -0.5);
  });
}
