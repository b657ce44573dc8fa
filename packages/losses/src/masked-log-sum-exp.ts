import * as tf from '@tensorflow/tfjs-core';
import { blockwiseGradients } from './blockwise-gradients.js';
import { applyMask, excludedBlock, flatten, type PairMask, type PairRule } from './pair-rules.js';
import { tiles } from './tiles.js';

/**
 * Each anchor's log-sum-exp over its candidates, `lse_i = log Σ_{j not excluded} exp(s·a_i·c_j)`,
 * minus its `target` logits `Σ_{j: target(i, j)} s·a_i·c_j` when given (one target per anchor: a
 * cross-entropy; DCL's target may be excluded from the log-sum-exp) — as a [R] tensor. Untiled (no
 * `tileSize`): plain ops on the [R, N] logits. Tiled: a streaming log-sum-exp over tile×tile blocks
 * (running max and rescaled sum) and a custom gradient that recomputes each block's softmax from the
 * saved lse, `G_IJ = dy_I ⊙ (P_IJ − T_IJ)` — memory O((R + N)·k + tile²), never R×N. Gradients reach
 * a, c and s (a and c may be one tensor: NT-Xent's anchors are its candidates). Every anchor needs
 * at least one candidate left.
 */
export function maskedLogSumExp(
  a: tf.Tensor2D,
  c: tf.Tensor2D,
  scale: tf.Scalar,
  mask: PairMask,
  tileSize?: number,
  target?: PairRule,
): tf.Tensor1D {
  const rules = flatten([...mask.exclude, mask.keep, target]);
  const excluded = (blocks: (tf.Tensor2D | undefined)[]): tf.Tensor2D | undefined => excludedBlock(blocks.slice(0, -2), blocks.at(-2));
  if (tileSize === undefined) {
    return tf.tidy(() => {
      const blocks = rules.blocks(rules.tensors, { begin: 0, size: a.shape[0] }, { begin: 0, size: c.shape[0] });
      const logits = tf.mul<tf.Tensor2D>(tf.matMul(a, c, false, true), scale);
      const lse = tf.logSumExp<tf.Tensor1D>(applyMask(logits, excluded(blocks)), 1);
      const picked = blocks.at(-1);
      return picked === undefined ? lse : tf.sub<tf.Tensor1D>(lse, tf.sum(tf.mul(tf.cast(picked, 'float32'), logits), 1));
    });
  }
  const rowTiles = tiles(a.shape[0], tileSize);
  const colTiles = tiles(c.shape[0], tileSize);
  const f = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [a2, c2, s, save] = args as [tf.Tensor2D, tf.Tensor2D, tf.Scalar, tf.GradSaveFunc];
    const parts = rowTiles.map((rows) =>
      tf.tidy(() => {
        const aI = tf.slice(a2, rows.begin, rows.size);
        let max: tf.Tensor1D | undefined;
        let sum: tf.Tensor1D | undefined;
        let picked = tf.zeros([rows.size]) as tf.Tensor1D; // Σ target logits (stays 0 without a target)
        for (const cols of colTiles) {
          [max, sum, picked] = tf.tidy((): [tf.Tensor1D, tf.Tensor1D, tf.Tensor1D] => {
            const blocks = rules.blocks(rules.tensors, rows, cols);
            const scaled = tf.mul<tf.Tensor2D>(tf.matMul(aI, tf.slice(c2, cols.begin, cols.size), false, true), s);
            const logits = applyMask(scaled, excluded(blocks));
            const tileMax = tf.max(logits, 1);
            const newMax = max === undefined ? tileMax : tf.maximum(max, tileMax);
            const tileSum = tf.sum(tf.exp(tf.sub(logits, tf.expandDims(newMax, 1))), 1);
            const newSum = sum === undefined ? tileSum : tf.add(tf.mul(sum, tf.exp(tf.sub(max as tf.Tensor1D, newMax))), tileSum);
            const t = blocks.at(-1);
            return [newMax, newSum, t === undefined ? picked : tf.add(picked, tf.sum(tf.mul(tf.cast(t, 'float32'), scaled), 1))] as [
              tf.Tensor1D,
              tf.Tensor1D,
              tf.Tensor1D,
            ];
          });
        }
        const lse = tf.add(max as tf.Tensor1D, tf.log(sum as tf.Tensor1D));
        return [lse, picked] as [tf.Tensor1D, tf.Tensor1D];
      }),
    );
    const lse = tf.concat(parts.map(([l]) => l)) as tf.Tensor1D;
    const value = tf.tidy(() => tf.sub(lse, tf.concat(parts.map(([, p]) => p)))) as tf.Tensor1D;
    tf.dispose(parts.flat());
    save([a2, c2, s, lse, ...rules.tensors]);
    lse.dispose();
    return {
      value,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [as, cs, ss, lses] = saved as [tf.Tensor2D, tf.Tensor2D, tf.Scalar, tf.Tensor1D];
        const ruleTensors = saved.slice(4);
        // d lse_i / d logit_ij = softmax_ij, less 1 at the target: G_IJ = dy_I ⊙ (P_IJ − T_IJ).
        const [da, dc, ds, sumG] = blockwiseGradients(as, cs, ss, rowTiles, colTiles, (rows, cols, raw) => {
          const blocks = rules.blocks(ruleTensors, rows, cols);
          const p = tf.exp(tf.sub(applyMask(tf.mul(raw, ss), excluded(blocks)), tf.expandDims(tf.slice(lses, rows.begin, rows.size), 1)));
          const t = blocks.at(-1);
          return tf.mul(
            t === undefined ? p : tf.sub(p, tf.cast(t, 'float32')),
            tf.expandDims(tf.slice(dy as tf.Tensor1D, rows.begin, rows.size), 1),
          );
        });
        sumG.dispose();
        return [da, dc, ds];
      },
    };
  });
  return f(a, c, scale) as tf.Tensor1D;
}
