import * as tf from '@tensorflow/tfjs-core';

/**
 * The definition InfoNCE, CLIP and their tiled variants share:
 *
 *   mean_i [ logsumexp_j (s·q_i·d_j) − s·q_i·d_{g·i} ],  q: [B, k], d: [g·B, k], s a scalar,
 *
 * a cross-entropy of each query against every row of d whose target is the first row of its group
 * of g rows (g = 1 + hard negatives). Written once untiled (plain ops, autodiff) and once tiled.
 */
export function contrastiveCrossEntropy(q: tf.Tensor2D, d: tf.Tensor2D, scale: tf.Scalar, group: number): tf.Scalar {
  return tf.tidy(() => {
    const logits = tf.mul(tf.matMul(q, d, false, true), scale);
    const positives = tf.mul(tf.sum(tf.mul(q, groupHeads(d, group)), 1), scale);
    return tf.mean(tf.sub(tf.logSumExp(logits, 1), positives));
  });
}

/** Row g·i of d for every i: [g·B, k] → [B, k], by reshape and slice (no gather, whose gradient wasm lacks). */
export function groupHeads(d: tf.Tensor2D, group: number): tf.Tensor2D {
  if (group === 1) return d;
  const [rows, width] = d.shape;
  const grouped = tf.reshape(d, [rows / group, group, width]);
  return tf.reshape(tf.slice(grouped, [0, 0, 0], [rows / group, 1, width]), [rows / group, width]);
}

/** The transpose of groupHeads: x's rows placed at rows g·i of a [g·B, k] tensor of zeros. */
function spreadToGroupHeads(x: tf.Tensor2D, group: number): tf.Tensor2D {
  if (group === 1) return x;
  const [rows, width] = x.shape;
  const padded = tf.concat([tf.expandDims(x, 1), tf.zeros([rows, group - 1, width])], 1);
  return tf.reshape(padded, [rows * group, width]);
}

/** Consecutive [begin, size) tiles of n rows. */
export function tiles(n: number, size: number): [number, number][] {
  const out: [number, number][] = [];
  for (let begin = 0; begin < n; begin += size) out.push([begin, Math.min(size, n - begin)]);
  return out;
}

/**
 * contrastiveCrossEntropy computed tile by tile: a streaming log-sum-exp over [tileSize, tileSize]
 * blocks of logits in the forward pass, and a custom gradient that recomputes each block from q, d
 * and the saved row log-sum-exps. Never holds more than a few tile×tile blocks: memory is
 * O((B + N)·k + tileSize²) instead of O(B·N). Gradients flow to q, d and the scale.
 */
export function tiledContrastiveCrossEntropy(q: tf.Tensor2D, d: tf.Tensor2D, scale: tf.Scalar, group: number, tileSize: number): tf.Scalar {
  const rowTiles = tiles(q.shape[0], tileSize);
  const colTiles = tiles(d.shape[0], tileSize);
  const f = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [q2, d2, s, save] = args as [tf.Tensor2D, tf.Tensor2D, tf.Scalar, tf.GradSaveFunc];
    const lse = tf.concat(
      rowTiles.map(([begin, size]) =>
        tf.tidy(() => {
          const qI = tf.slice(q2, begin, size);
          let max: tf.Tensor1D | undefined;
          let sum: tf.Tensor1D | undefined;
          for (const [colBegin, colSize] of colTiles) {
            [max, sum] = tf.tidy(() => {
              const logits = tf.mul(tf.matMul(qI, tf.slice(d2, colBegin, colSize), false, true), s);
              const tileMax = tf.max(logits, 1);
              const newMax = max === undefined ? tileMax : tf.maximum(max, tileMax);
              const tileSum = tf.sum(tf.exp(tf.sub(logits, tf.expandDims(newMax, 1))), 1);
              const newSum = sum === undefined ? tileSum : tf.add(tf.mul(sum, tf.exp(tf.sub(max as tf.Tensor1D, newMax))), tileSum);
              return [newMax, newSum] as [tf.Tensor1D, tf.Tensor1D];
            });
          }
          return tf.add(max as tf.Tensor1D, tf.log(sum as tf.Tensor1D));
        }),
      ),
    ) as tf.Tensor1D;
    save([q2, d2, s, lse]);
    const value = tf.tidy(() => tf.mean(tf.sub(lse, tf.mul(tf.sum(tf.mul(q2, groupHeads(d2, group)), 1), s))));
    return {
      value,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        // Memory: the [N, k] sums for d, the finished [B, k] tiles for q and one block — each tile is
        // finished (positive subtracted, scaled) as soon as it is complete, so that no [B, k] or
        // [N, k] intermediate outlives its use.
        const [qs, ds, ss, lses] = saved as [tf.Tensor2D, tf.Tensor2D, tf.Scalar, tf.Tensor1D];
        const weight = tf.div(dy, qs.shape[0]) as tf.Scalar; // d(mean)/d(row) · upstream
        const sw = tf.mul(ss, weight) as tf.Scalar;
        const dd = colTiles.map(([, size]) => tf.zeros([size, ds.shape[1]]) as tf.Tensor2D);
        let dScale: tf.Scalar = tf.scalar(0);
        const gradQ = rowTiles.map(([begin, size]) => {
          const qI = tf.slice(qs, begin, size);
          const lseI = tf.expandDims(tf.slice(lses, begin, size), 1);
          let dqI = tf.zeros([size, qs.shape[1]]) as tf.Tensor2D;
          colTiles.forEach(([colBegin, colSize], j) => {
            const [nextDq, nextDd, nextScale] = tf.tidy(() => {
              const dJ = tf.slice(ds, colBegin, colSize);
              const raw = tf.matMul(qI, dJ, false, true);
              const p = tf.exp(tf.sub(tf.mul(raw, ss), lseI)); // softmax probabilities of this block
              return [
                tf.add(dqI, tf.matMul(p, dJ)),
                tf.add(dd[j] as tf.Tensor2D, tf.matMul(p, qI, true, false)),
                tf.add(dScale, tf.sum(tf.mul(p, raw))),
              ] as [tf.Tensor2D, tf.Tensor2D, tf.Scalar];
            });
            tf.dispose([dqI, dd[j] as tf.Tensor2D, dScale]);
            dqI = nextDq;
            dd[j] = nextDd;
            dScale = nextScale;
          });
          // dL/dq_I = s·w·(Σ_J P_IJ·d_J − d_pos(I)); dL/ds collects −q_I·d_pos(I).
          const [finished, nextScale] = tf.tidy(() => {
            const heads = groupHeads(tf.slice(ds, begin * group, size * group), group);
            return [tf.mul(tf.sub(dqI, heads), sw), tf.sub(dScale, tf.sum(tf.mul(qI, heads)))] as [tf.Tensor2D, tf.Scalar];
          });
          tf.dispose([qI, lseI, dqI, dScale]);
          dScale = nextScale;
          return finished;
        });
        const outQ = tf.concat(gradQ, 0);
        tf.dispose(gradQ);
        // dL/dd_J = s·w·(Σ_I P_IJᵀ·q_I − q at d's positive rows).
        const spread = group === 1 ? qs : spreadToGroupHeads(qs, group);
        const gradD = colTiles.map(([begin, size], j) => {
          const finished = tf.tidy(() => tf.mul(tf.sub(dd[j] as tf.Tensor2D, tf.slice(spread, begin, size)), sw));
          (dd[j] as tf.Tensor2D).dispose();
          return finished;
        });
        if (spread !== qs) spread.dispose();
        const outD = tf.concat(gradD, 0);
        tf.dispose(gradD);
        const outScale = tf.mul(dScale, weight);
        tf.dispose([dScale, weight, sw]);
        return [outQ, outD, outScale];
      },
    };
  });
  return f(q, d, scale) as tf.Scalar;
}
