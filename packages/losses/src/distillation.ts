import * as tf from '@tensorflow/tfjs-core';
import { check } from './errors.js';
import { checkOptions, checkReps, checkTemperature, shapeOf } from './checks.js';
import { inverseTemperature } from './ops.js';

/** Options of distillation. */
export interface DistillationOptions {
  /** The student's softmax temperature τ (logits q·dᵀ/τ): a number or a scalar tensor. */
  temperature: number | tf.Scalar;
  /** The teacher's temperature τ_t (softmax of scores/τ_t). Default 1: the scores are logits. */
  teacherTemperature?: number;
}

/**
 * Distillation from a teacher's scores (as FlagEmbedding's and open_clip's distillation losses):
 * for each query, the KL divergence from the teacher's softmax over the candidates to the student's,
 * `mean_i Σ_j p_t(i, j) · (log p_t(i, j) − log p_s(i, j))`, with `p_s = softmax_j(q_i·d_j/τ)` and
 * `p_t = softmax_j(teacher_ij/τ_t)`. `teacherScores` is [B, N] (one row per query, one column per
 * row of d; a cross-encoder's or a bigger model's scores), passed through GradCache's `extra`; it
 * gets no gradient. Couples the batch when d holds in-batch candidates.
 *
 * ```ts
 * const loss = ([q, d]: tf.Tensor2D[], scores?: tf.Tensor2D) => distillation(q!, d!, scores!, { temperature: 0.05 });
 * ```
 */
export function distillation(q: tf.Tensor2D, d: tf.Tensor2D, teacherScores: tf.Tensor2D, options: DistillationOptions): tf.Scalar {
  checkOptions('distillation', options, true);
  const { temperature, teacherTemperature = 1 } = options;
  checkReps('distillation', 'q', q);
  checkReps('distillation', 'd', d);
  checkTemperature('distillation', temperature);
  checkTemperature('distillation', teacherTemperature);
  check(
    q.shape[1] === d.shape[1],
    'WIDTH_MISMATCH',
    () => `distillation: q and d must have the same width, got q ${shapeOf(q)} and d ${shapeOf(d)}.`,
  );
  check(
    teacherScores instanceof tf.Tensor &&
      !teacherScores.isDisposed &&
      teacherScores.rank === 2 &&
      teacherScores.shape[0] === q.shape[0] &&
      teacherScores.shape[1] === d.shape[0],
    'SHAPE_MISMATCH',
    () =>
      `distillation: teacherScores must be a [${q.shape[0]}, ${d.shape[0]}] tensor (one score per query and candidate), got ` +
      `${teacherScores instanceof tf.Tensor ? shapeOf(teacherScores) : String(teacherScores)}; pass it as GradCache's extra.`,
  );
  return tf.tidy(() => {
    const student = tf.logSoftmax(tf.mul(tf.matMul(q, d, false, true), inverseTemperature(temperature)));
    const teacherLog = tf.logSoftmax(tf.div(tf.cast(teacherScores, 'float32'), teacherTemperature));
    const teacher = tf.exp(teacherLog);
    return tf.mean(tf.sum(tf.mul(teacher, tf.sub(teacherLog, student)), 1)) as tf.Scalar;
  });
}
