import * as tf from '@tensorflow/tfjs-core';
import { check } from './errors.js';
import { checkOptions, checkReps, checkTemperature, shapeOf } from './checks.js';
import { inverseTemperature, stopGradient } from './ops.js';

/** Options of queueInfoNCE. */
export interface QueueInfoNCEOptions {
  /** Softmax temperature τ. */
  temperature: number | tf.Scalar;
}

/**
 * MoCo-style InfoNCE (He et al. 2020): query i's positive is key i and its negatives are the K rows
 * of a queue of earlier keys, which gets no gradient: mean_i [logsumexp([q_i·k_i, q_i·queueᵀ]/τ) − q_i·k_i/τ].
 * No normalisation inside. The caller keeps and updates the queue.
 *
 * ```ts
 * const loss = queueInfoNCE(q, k, queue, { temperature: 0.07 }); // q, k: [B, d], queue: [K, d]
 * ```
 */
export function queueInfoNCE(q: tf.Tensor2D, k: tf.Tensor2D, queue: tf.Tensor2D, options: QueueInfoNCEOptions): tf.Scalar {
  checkOptions('queueInfoNCE', options, true);
  checkReps('queueInfoNCE', 'q', q);
  checkReps('queueInfoNCE', 'k', k);
  checkReps('queueInfoNCE', 'queue', queue, 0);
  checkTemperature('queueInfoNCE', options.temperature);
  check(
    tf.util.arraysEqual(q.shape, k.shape),
    q.shape[1] === k.shape[1] ? 'ROW_COUNT' : 'WIDTH_MISMATCH',
    () => `queueInfoNCE: q and k must have the same shape, got q ${shapeOf(q)} and k ${shapeOf(k)}.`,
  );
  check(
    queue.shape[1] === q.shape[1],
    'WIDTH_MISMATCH',
    () => `queueInfoNCE: queue rows must be as wide as q, got queue ${shapeOf(queue)} and q ${shapeOf(q)}.`,
  );
  return tf.tidy(() => {
    const scale = inverseTemperature(options.temperature);
    const positive = tf.mul(tf.sum(tf.mul(q, k), 1, true), scale);
    const negatives = tf.mul(tf.matMul(q, stopGradient(queue), false, true), scale);
    const logits = tf.concat([positive, negatives], 1);
    return tf.mean(tf.sub(tf.logSumExp(logits, 1), tf.squeeze(positive, [1]))) as tf.Scalar;
  });
}
