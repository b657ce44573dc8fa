import * as tf from '@tensorflow/tfjs-core';
import { blockwiseGradients } from './blockwise-gradients.js';
import { excludedBlock, flatten, type PairMask, type PairRule } from './pair-rules.js';
import { type Tile, tiles } from './tiles.js';

/**
 * Each anchor's mean logit over its positives — the pairs of `positives` that the mask does not
 * exclude — and their count: `mean_i = Σ_{j∈P(i)} s·a_i·c_j / max(|P(i)|, 1)` (0 without a
 * positive). Untiled or tiled as maskedLogSumExp; the counts get no gradient.
 */
export function maskedMeanLogit(
  a: tf.Tensor2D,
  c: tf.Tensor2D,
  scale: tf.Scalar,
  positives: PairRule,
  mask: PairMask,
  tileSize?: number,
): { mean: tf.Tensor1D; count: tf.Tensor1D } {
  const rules = flatten([positives, ...mask.exclude, mask.keep]);
  const matched = (saved: readonly tf.Tensor[], rows: Tile, cols: Tile): tf.Tensor2D => {
    const [match, ...rest] = rules.blocks(saved, rows, cols);
    if (match === undefined) return tf.zeros([rows.size, cols.size]); // no positive here
    const out = excludedBlock(rest.slice(0, -1), rest.at(-1));
    return tf.cast(out === undefined ? match : tf.logicalAnd<tf.Tensor2D>(match, tf.logicalNot(out)), 'float32');
  };
  if (tileSize === undefined) {
    return tf.tidy(() => {
      const m = matched(rules.tensors, { begin: 0, size: a.shape[0] }, { begin: 0, size: c.shape[0] });
      const count = tf.sum(m, 1) as tf.Tensor1D;
      const logits = tf.mul(tf.matMul(a, c, false, true), scale);
      return { mean: tf.div(tf.sum(tf.mul(m, logits), 1), tf.maximum(count, 1)) as tf.Tensor1D, count };
    });
  }
  const rowTiles = tiles(a.shape[0], tileSize);
  const colTiles = tiles(c.shape[0], tileSize);
  // One output, [R, 2] = [mean, count]: work outside a custom gradient would be recorded on the
  // tape, which keeps every block it saw until the backward pass (O(R·N) memory).
  const f = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [a2, c2, s, save] = args as [tf.Tensor2D, tf.Tensor2D, tf.Scalar, tf.GradSaveFunc];
    // Per row [count, Σ matched raw scores], over column tiles in one pass: each block's mask is
    // built once, and only one block is alive at a time.
    const parts = rowTiles.map((rows) => {
      const aI = tf.slice(a2, rows.begin, rows.size);
      let total = tf.zeros([rows.size, 2]) as tf.Tensor2D;
      for (const cols of colTiles) {
        if (positives.mayMatch?.(rows, cols) === false) continue; // no positive in this block
        const next = tf.tidy(() => {
          const m = matched(rules.tensors, rows, cols);
          const raw = tf.matMul(aI, tf.slice(c2, cols.begin, cols.size), false, true);
          return tf.add(total, tf.stack([tf.sum(m, 1), tf.sum(tf.mul(m, raw), 1)], 1));
        }) as tf.Tensor2D;
        total.dispose();
        total = next;
      }
      aI.dispose();
      return total;
    });
    const [count, sums] = tf.tidy(() => {
      const both = tf.concat(parts);
      return [tf.reshape(tf.slice(both, [0, 0], [-1, 1]), [-1]), tf.reshape(tf.slice(both, [0, 1], [-1, 1]), [-1])] as [
        tf.Tensor1D,
        tf.Tensor1D,
      ];
    });
    tf.dispose(parts);
    const divisor = tf.maximum(count, 1) as tf.Tensor1D;
    const value = tf.tidy(() => tf.stack([tf.div(tf.mul(sums, s), divisor), count], 1)) as tf.Tensor2D;
    save([a2, c2, s, divisor, ...rules.tensors]);
    tf.dispose([sums, count, divisor]);
    return {
      value,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [as, cs, ss, div] = saved as [tf.Tensor2D, tf.Tensor2D, tf.Scalar, tf.Tensor1D];
        const ruleTensors = saved.slice(4);
        const rowWeight = tf.tidy(() => tf.div(tf.reshape(tf.slice(dy, [0, 0], [-1, 1]), [-1]), div)) as tf.Tensor1D; // counts: no gradient
        const out = blockwiseGradients(
          as,
          cs,
          ss,
          rowTiles,
          colTiles,
          (rows, cols) => tf.mul(matched(ruleTensors, rows, cols), tf.expandDims(tf.slice(rowWeight, rows.begin, rows.size), 1)),
          positives.mayMatch,
        );
        rowWeight.dispose();
        (out[3] as tf.Tensor).dispose();
        return out.slice(0, 3);
      },
    };
  });
  return tf.tidy(() => {
    const both = f(a, c, scale) as tf.Tensor2D;
    return {
      mean: tf.reshape(tf.slice(both, [0, 0], [-1, 1]), [-1]) as tf.Tensor1D,
      count: tf.reshape(tf.slice(both, [0, 1], [-1, 1]), [-1]) as tf.Tensor1D,
    };
  });
}
