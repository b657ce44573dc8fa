import * as tf from '@tensorflow/tfjs-core';
import type { Tile } from './tiles.js';

/**
 * The gradients of `Σ_ij G_ij · s·a_i·c_j` for a, c and s, block by block, where `weights(rows,
 * cols, raw)` gives the block G_IJ from the raw scores a_I·c_Jᵀ: dA_I = s Σ_J G_IJ·c_J,
 * dC_J = s Σ_I G_IJᵀ·a_I, ds = Σ G ⊙ raw — and, as a fourth output, ΣG (the gradient of an
 * additive bias on every logit, SigLIP's). Holds one block at a time and the [R, k] / [N, k] sums.
 * Blocks where `mayMatter` says G is zero are skipped. The tiled losses' custom gradients all end here.
 */
export function blockwiseGradients(
  a: tf.Tensor2D,
  c: tf.Tensor2D,
  s: tf.Scalar,
  rowTiles: readonly Tile[],
  colTiles: readonly Tile[],
  weights: (rows: Tile, cols: Tile, raw: tf.Tensor2D) => tf.Tensor2D,
  mayMatter?: (rows: Tile, cols: Tile) => boolean,
): [tf.Tensor2D, tf.Tensor2D, tf.Scalar, tf.Scalar] {
  const dc = colTiles.map(({ size }) => tf.zeros([size, c.shape[1]]) as tf.Tensor2D);
  let ds: tf.Scalar = tf.scalar(0);
  let sumG: tf.Scalar = tf.scalar(0);
  const da = rowTiles.map((rows) => {
    const aI = tf.slice(a, rows.begin, rows.size);
    let daI = tf.zeros([rows.size, a.shape[1]]) as tf.Tensor2D;
    colTiles.forEach((cols, j) => {
      if (mayMatter?.(rows, cols) === false) return; // G is zero there
      const next = tf.tidy(() => {
        const cJ = tf.slice(c, cols.begin, cols.size);
        const raw = tf.matMul<tf.Tensor2D>(aI, cJ, false, true);
        const g = weights(rows, cols, raw);
        return [
          tf.add(daI, tf.matMul(g, cJ)),
          tf.add(dc[j] as tf.Tensor2D, tf.matMul(g, aI, true, false)),
          tf.add(ds, tf.sum(tf.mul(g, raw))),
          tf.add(sumG, tf.sum(g)),
        ] as [tf.Tensor2D, tf.Tensor2D, tf.Scalar, tf.Scalar];
      });
      tf.dispose([daI, dc[j] as tf.Tensor2D, ds, sumG]);
      [daI, dc[j], ds, sumG] = next;
    });
    aI.dispose();
    const finished = tf.mul(daI, s); // each tile finished when complete: no [R, k] intermediate outlives its use
    daI.dispose();
    return finished;
  });
  const outA = tf.concat(da, 0) as tf.Tensor2D;
  tf.dispose(da);
  const finishedC = dc.map((t) => {
    const finished = tf.mul(t, s);
    t.dispose();
    return finished;
  });
  const outC = tf.concat(finishedC, 0) as tf.Tensor2D;
  tf.dispose(finishedC);
  const outS = tf.reshape(ds, []) as tf.Scalar;
  ds.dispose();
  return [outA, outC, outS, sumG];
}
