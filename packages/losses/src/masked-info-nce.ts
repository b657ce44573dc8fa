import * as tf from '@tensorflow/tfjs-core';
import { groupHeads } from './contrastive-ce.js';
import { maskedLogSumExp } from './masked-log-sum-exp.js';
import { concatKeys, guideAbove, indexKeys, type Keys, type PairRule, sameKey } from './pair-rules.js';

/**
 * The similarities in each query's softmax: `qd` query → every document (always), `qq` query →
 * the other queries, `dq` its positive document → the other queries, `dd` its positive document →
 * the other documents. All four = GTE's improved contrastive loss.
 */
export type Direction = 'qd' | 'qq' | 'dq' | 'dd';

/** What infoNCE's false-negative masking reads: an id per query and per document. */
export interface PairIds {
  queries: readonly number[] | tf.Tensor1D;
  documents: readonly number[] | tf.Tensor1D;
}

/** A guide model's reps of the same batch (GISTEmbed). */
export interface Guide {
  queries: tf.Tensor2D;
  documents: tf.Tensor2D;
  /** A candidate is left out when the guide scores it above the positive's guide score − margin. Default 0. */
  margin?: number;
}

/** One block of candidates: reps, their position in the anchor's candidate list, ids, guide reps. */
interface Segment {
  reps: tf.Tensor2D;
  ids: Keys | undefined;
  guide: tf.Tensor2D | undefined;
}

/** The mask and candidates of one kind of anchor (queries, or positive documents). */
function anchorLogSumExp(
  anchors: Segment,
  segments: Segment[],
  leaveOut: Keys[],
  keep: Keys | undefined,
  threshold: tf.Tensor1D | undefined,
  scale: tf.Scalar,
  tileSize: number | undefined,
): tf.Tensor1D {
  const candidates = segments.length === 1 ? (segments[0] as Segment).reps : tf.concat(segments.map((s) => s.reps));
  const index = indexKeys(candidates.shape[0]);
  const exclude: PairRule[] = leaveOut.map((k) => sameKey(k, index));
  if (anchors.ids) exclude.push(sameKey(anchors.ids, concatKeys(segments.map((s) => s.ids as Keys))));
  if (anchors.guide && threshold)
    exclude.push(guideAbove(anchors.guide, tf.concat(segments.map((s) => s.guide as tf.Tensor2D)), threshold));
  return maskedLogSumExp(anchors.reps, candidates, scale, keep ? { exclude, keep: sameKey(keep, index) } : { exclude }, tileSize);
}

/**
 * infoNCE with more directions and false-negative masking:
 * `mean_i [ log(Σ_{kept pairs} e^{s·x·y}) − s·q_i·d_pos(i) ]`, where the pairs are the
 * `directions`' (q_i with every d_j and, with `qq`, every q_{j≠i}; d_pos(i) with every q_{j≠i} (`dq`)
 * and every d_{j≠pos(i)} (`dd`)), less those sharing an id with the query (except its positive)
 * and those the guide scores above the positive. The positive pair is counted once.
 */
export function maskedInfoNCE(
  q: tf.Tensor2D,
  d: tf.Tensor2D,
  scale: tf.Scalar,
  group: number,
  directions: readonly Direction[],
  ids: PairIds | undefined,
  guide: Guide | undefined,
  tileSize: number | undefined,
): tf.Scalar {
  return tf.tidy(() => {
    const b = q.shape[0];
    const n = d.shape[0];
    const [qIds, dIds] = ids ? [ids.queries, ids.documents] : [undefined, undefined];
    const heads = groupHeads(d, group); // each query's positive document
    const queries: Segment = { reps: q, ids: qIds, guide: guide?.queries };
    const documents: Segment = { reps: d, ids: dIds, guide: guide?.documents };
    const positives: Segment = {
      reps: heads,
      ids:
        dIds === undefined
          ? undefined
          : dIds instanceof tf.Tensor
            ? (tf.reshape(groupHeads(tf.reshape(dIds, [n, 1]), group), [b]) as tf.Tensor1D)
            : indexKeys(b, 0, group).map((j) => dIds[j] as number),
      guide: guide && groupHeads(guide.documents, group),
    };
    const threshold = guide && tf.sub<tf.Tensor1D>(tf.sum(tf.mul(guide.queries, positives.guide as tf.Tensor2D), 1), guide.margin ?? 0);
    const positiveIndex = indexKeys(b, 0, group); // of the query's positive among the documents
    // Query anchors: candidates [d; q] (q only with qq), leaving out itself at n + i; the positive is kept.
    const withQueries = directions.includes('qq');
    let lse = anchorLogSumExp(
      queries,
      withQueries ? [documents, queries] : [documents],
      withQueries ? [indexKeys(b, n)] : [],
      positiveIndex,
      threshold,
      scale,
      tileSize,
    );
    // Positive-document anchors: candidates [q; d] as chosen, leaving out its own query (the positive
    // pair, already in the query's row) and itself.
    const segments = [...(directions.includes('dq') ? [queries] : []), ...(directions.includes('dd') ? [documents] : [])];
    if (segments.length > 0) {
      const leaveOut = [];
      if (directions.includes('dq')) leaveOut.push(indexKeys(b));
      if (directions.includes('dd')) leaveOut.push(positiveIndex.map((j) => j + (directions.includes('dq') ? b : 0)));
      const lseD = anchorLogSumExp(positives, segments, leaveOut, undefined, threshold, scale, tileSize);
      const max = tf.maximum(lse, lseD);
      lse = tf.add(max, tf.log(tf.add(tf.exp(tf.sub(lse, max)), tf.exp(tf.sub(lseD, max)))));
    }
    const positive = tf.mul(tf.sum(tf.mul(q, heads), 1), scale);
    return tf.mean(tf.sub(lse, positive));
  });
}
