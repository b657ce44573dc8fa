import * as tf from '@tensorflow/tfjs-core';
import { check } from './errors.js';
import { checkOptions, checkReps, checkTemperature, checkTileSize, shapeOf } from './checks.js';
import { contrastiveCrossEntropy, tiledContrastiveCrossEntropy } from './contrastive-ce.js';
import { maskedInfoNCE, type Direction, type Guide, type PairIds } from './masked-info-nce.js';
import { inverseTemperature } from './ops.js';

/** Options of infoNCE. */
export interface InfoNCEOptions {
  /** Softmax temperature τ: a number, or a scalar tensor (e.g. `tf.exp(logTau)`) to learn it. */
  temperature: number | tf.Scalar;
  /** Hard negatives per query: d holds 1 + h rows per query, its positive first. Default 0. */
  hardNegatives?: number;
  /** Compute in tiles of this many rows, never materialising the B×N logits (same value and gradients). */
  tileSize?: number;
  /**
   * The similarities in each query's softmax (default `['qd']`): add `'qq'` (the other queries),
   * `'dq'` (its positive document against the other queries), `'dd'` (its positive document against
   * the other documents). All four: GTE's improved contrastive loss.
   */
  directions?: readonly Direction[];
  /**
   * False-negative masking: an id per query and per document (pass them through GradCache's
   * `extra`); a candidate sharing the query's id is left out of its softmax, unless it is the positive.
   */
  ids?: PairIds;
  /** A guide model's reps of the batch: candidates it scores above the positive (− margin) are left out (GISTEmbed). */
  guide?: Guide;
}

const DIRECTIONS: readonly Direction[] = ['qd', 'qq', 'dq', 'dd'];

/**
 * DPR-style InfoNCE with in-batch and hard negatives: each query is scored against every row of d,
 * `s = q·dᵀ/τ`, and the loss is the mean over queries of `logsumexp_j s[i, j] − s[i, i(1+h)]`.
 * Rows `i(1+h) … i(1+h)+h` of d belong to query i, the first being its positive. No normalisation
 * inside: normalise the reps first for cosine similarity. With `tileSize`, the loss and its
 * gradients are computed block by block (memory O((B + N)·d + tileSize²), not O(B·N)).
 *
 * ```ts
 * const loss = infoNCE(q, d, { temperature: 0.05, hardNegatives: 1 }); // q: [B, d], d: [2B, d]
 * ```
 */
export function infoNCE(q: tf.Tensor2D, d: tf.Tensor2D, options: InfoNCEOptions): tf.Scalar {
  checkOptions('infoNCE', options, true);
  const { temperature, hardNegatives = 0, tileSize, directions = ['qd'], ids, guide } = options;
  checkReps('infoNCE', 'q', q);
  checkReps('infoNCE', 'd', d);
  checkTemperature('infoNCE', temperature);
  checkTileSize('infoNCE', tileSize);
  check(
    Number.isInteger(hardNegatives) && hardNegatives >= 0,
    'INVALID_OPTION',
    () => `infoNCE: hardNegatives must be a non-negative integer, got ${String(hardNegatives)}.`,
  );
  check(
    q.shape[1] === d.shape[1],
    'WIDTH_MISMATCH',
    () => `infoNCE: q and d must have the same width, got q ${shapeOf(q)} and d ${shapeOf(d)}.`,
  );
  const group = 1 + hardNegatives;
  check(
    d.shape[0] === q.shape[0] * group,
    'ROW_COUNT',
    () =>
      `infoNCE: d must have B·(1 + hardNegatives) = ${q.shape[0]}·${group} = ${q.shape[0] * group} rows, ` +
      `got ${d.shape[0]}; give each query its positive and ${hardNegatives} hard negatives, in order.`,
  );
  checkMasking(q, d, directions, ids, guide);
  return tf.tidy(() => {
    const scale = inverseTemperature(temperature);
    if (directions.length > 1 || ids !== undefined || guide !== undefined) {
      return maskedInfoNCE(q, d, scale, group, directions, ids, guide, tileSize);
    }
    return tileSize === undefined
      ? contrastiveCrossEntropy(q, d, scale, group)
      : tiledContrastiveCrossEntropy(q, d, scale, group, tileSize);
  });
}

/** Checks infoNCE's directions, ids and guide against q ([B, k]) and d ([N, k]). */
function checkMasking(
  q: tf.Tensor2D,
  d: tf.Tensor2D,
  directions: readonly Direction[],
  ids: PairIds | undefined,
  guide: Guide | undefined,
): void {
  check(
    Array.isArray(directions) && directions.includes('qd') && directions.every((x) => DIRECTIONS.includes(x)),
    'INVALID_OPTION',
    () => `infoNCE: directions must list 'qd' and any of 'qq', 'dq', 'dd', got ${JSON.stringify(directions)}.`,
  );
  const length = (x: unknown): number | undefined =>
    x instanceof tf.Tensor ? (x.rank === 1 && !x.isDisposed ? x.shape[0] : undefined) : Array.isArray(x) ? x.length : undefined;
  if (ids !== undefined) {
    check(
      typeof ids === 'object' && ids !== null && length(ids.queries) === q.shape[0] && length(ids.documents) === d.shape[0],
      'LABELS_LENGTH',
      () =>
        `infoNCE: ids must be { queries, documents } with one id per row of q (${q.shape[0]}) and of d (${d.shape[0]}), ` +
        `got ${typeof ids === 'object' && ids !== null ? `${length(ids.queries) ?? 'no list'} and ${length(ids.documents) ?? 'no list'}` : String(ids)}.`,
    );
  }
  if (guide !== undefined) {
    const ok = (t: unknown, rows: number) => t instanceof tf.Tensor && !t.isDisposed && t.rank === 2 && t.shape[0] === rows;
    check(
      typeof guide === 'object' &&
        guide !== null &&
        ok(guide.queries, q.shape[0]) &&
        ok(guide.documents, d.shape[0]) &&
        guide.queries.shape[1] === guide.documents.shape[1],
      'INVALID_OPTION',
      () =>
        `infoNCE: guide must be { queries: [${q.shape[0]}, g], documents: [${d.shape[0]}, g] } reps of a guide model, got ` +
        `${typeof guide === 'object' && guide !== null ? `${guide.queries instanceof tf.Tensor ? shapeOf(guide.queries) : String(guide.queries)} and ${guide.documents instanceof tf.Tensor ? shapeOf(guide.documents) : String(guide.documents)}` : String(guide)}.`,
    );
    check(
      guide.margin === undefined || (typeof guide.margin === 'number' && Number.isFinite(guide.margin)),
      'INVALID_OPTION',
      () => `infoNCE: guide.margin must be a finite number, got ${String(guide.margin)}.`,
    );
  }
}
