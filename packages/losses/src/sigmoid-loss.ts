import * as tf from '@tensorflow/tfjs-core';
import { check } from './errors.js';
import { checkOptions, checkReps, checkTileSize, shapeOf } from './checks.js';
import { blockwiseGradients } from './blockwise-gradients.js';
import { type Tile, tiles } from './tiles.js';

/** Options of sigmoidLoss. */
export interface SigmoidLossOptions {
  /** log of the logit scale t′ (logits = exp(t′)·q·dᵀ + b): a number, or a scalar variable to learn it. Default log 10, the paper's init. */
  logitScale?: number | tf.Scalar;
  /** The logit bias b: a number, or a scalar variable. Default −10, the paper's init (against the B − 1 negatives). */
  bias?: number | tf.Scalar;
  /** Compute in tileSize × tileSize blocks, never materialising the B×B logits (same value and gradients). */
  tileSize?: number;
}

/** The label of pair (i, j): +1 on the diagonal (the matching pair), −1 elsewhere, for rows `r` and columns `c` of the full matrix. */
function labels(r: Tile, c: Tile): tf.Tensor2D {
  return tf.tidy(() => {
    const rows = tf.expandDims(tf.range(r.begin, r.begin + r.size, 1, 'int32'), 1);
    const cols = tf.expandDims(tf.range(c.begin, c.begin + c.size, 1, 'int32'), 0);
    return tf.sub(tf.mul(tf.cast(tf.equal(rows, cols), 'float32'), 2), 1) as tf.Tensor2D;
  });
}

/**
 * log σ(x) = −softplus(−x), stable for large |x|. (tfjs 4.22's own `tf.logSigmoid` has a gradient that
 * reads a disposed tensor: "Cannot read properties of undefined (reading 'backend')".)
 */
function logSigmoid(x: tf.Tensor): tf.Tensor {
  return tf.neg(tf.softplus(tf.neg(x)));
}

/** −Σ log σ(z ⊙ (s·q·dᵀ + b)) / B, untiled (autodiff). */
function sigmoidLossPlain(q: tf.Tensor2D, d: tf.Tensor2D, t: tf.Scalar, b: tf.Scalar): tf.Scalar {
  return tf.tidy(() => {
    const logits = tf.add(tf.mul(tf.matMul(q, d, false, true), tf.exp(t)), b);
    const z = labels({ begin: 0, size: q.shape[0] }, { begin: 0, size: d.shape[0] });
    return tf.div(tf.neg(tf.sum(logSigmoid(tf.mul(z, logits)))), q.shape[0]) as tf.Scalar;
  });
}

/**
 * The same, block by block: the forward sums −log σ over [tile, tile] blocks; the gradient recomputes
 * each block — ∂/∂logit = −z·σ(−z·logit)/B — in `blockwiseGradients`, as the softmax losses do.
 * Memory O(B·k + tileSize²).
 */
function sigmoidLossTiled(q: tf.Tensor2D, d: tf.Tensor2D, t: tf.Scalar, b: tf.Scalar, tileSize: number): tf.Scalar {
  const rowTiles = tiles(q.shape[0], tileSize);
  const colTiles = tiles(d.shape[0], tileSize);
  const n = q.shape[0];
  const f = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [q2, d2, t2, b2, save] = args as [tf.Tensor2D, tf.Tensor2D, tf.Scalar, tf.Scalar, tf.GradSaveFunc];
    let total: tf.Scalar = tf.scalar(0);
    for (const r of rowTiles) {
      for (const c of colTiles) {
        const next = tf.tidy(() => {
          const logits = tf.add(
            tf.mul(tf.matMul(tf.slice(q2, r.begin, r.size), tf.slice(d2, c.begin, c.size), false, true), tf.exp(t2)),
            b2,
          );
          return tf.sub(total, tf.sum(logSigmoid(tf.mul(labels(r, c), logits)))) as tf.Scalar;
        });
        total.dispose();
        total = next;
      }
    }
    save([q2, d2, t2, b2]);
    const value = tf.div(total, n) as tf.Scalar;
    total.dispose();
    return {
      value,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [qs, ds, ts, bs] = saved as [tf.Tensor2D, tf.Tensor2D, tf.Scalar, tf.Scalar];
        const scale = tf.exp(ts);
        const weight = tf.div(dy, n);
        // ∂(−log σ(z·l))/∂l = −z·σ(−z·l), times the mean's 1/B and the upstream gradient; with
        // l = s·raw + b: the blockwise sums give dq, dd, d s (then ·s for t = log s) and db = ΣG.
        const [dq, dd, dScale, db] = blockwiseGradients(qs, ds, scale, rowTiles, colTiles, (r, c, raw) => {
          const z = labels(r, c);
          const logits = tf.add(tf.mul(raw, scale), bs);
          return tf.mul(tf.neg(tf.mul(z, tf.sigmoid(tf.neg(tf.mul(z, logits))))), weight) as tf.Tensor2D;
        });
        const dt = tf.mul(dScale, scale);
        tf.dispose([dScale, scale, weight]);
        return [dq, dd, dt, db];
      },
    };
  });
  return f(q, d, t, b) as tf.Scalar;
}

/**
 * SigLIP's pairwise sigmoid loss (Zhai et al. 2023): every (q_i, d_j) pair is its own binary
 * classification — match on the diagonal, not elsewhere — with logits `exp(t′)·q_i·d_j + b`:
 * `−(1/B) Σ_ij log σ(z_ij · logit_ij)`. No softmax over the batch, so no global normalisation; the
 * batch still matters through its B − 1 negatives per row. Pass scalar variables as `logitScale`
 * and `bias` to learn them (the paper's init: t′ = log 10, b = −10). Normalise the reps first.
 * With `tileSize`, memory is O(B·d + tileSize²) instead of O(B²).
 *
 * ```ts
 * const logitScale = tf.variable(tf.scalar(Math.log(10)));
 * const bias = tf.variable(tf.scalar(-10));
 * const loss = sigmoidLoss(imageReps, textReps, { logitScale, bias, tileSize: 1024 });
 * ```
 */
export function sigmoidLoss(q: tf.Tensor2D, d: tf.Tensor2D, options: SigmoidLossOptions = {}): tf.Scalar {
  checkOptions('sigmoidLoss', options, false);
  const { logitScale = Math.log(10), bias = -10, tileSize } = options;
  checkReps('sigmoidLoss', 'q', q);
  checkReps('sigmoidLoss', 'd', d);
  checkTileSize('sigmoidLoss', tileSize);
  for (const [name, value] of [
    ['logitScale', logitScale],
    ['bias', bias],
  ] as const) {
    check(
      value instanceof tf.Tensor ? !value.isDisposed && value.rank === 0 : typeof value === 'number' && Number.isFinite(value),
      'INVALID_OPTION',
      () =>
        `sigmoidLoss: ${name} must be a finite number or a live scalar tensor, got ${value instanceof tf.Tensor ? `shape ${shapeOf(value)}` : String(value)}.`,
    );
  }
  check(
    q.shape[1] === d.shape[1],
    'WIDTH_MISMATCH',
    () => `sigmoidLoss: q and d must have the same width, got q ${shapeOf(q)} and d ${shapeOf(d)}.`,
  );
  check(
    q.shape[0] === d.shape[0],
    'ROW_COUNT',
    () => `sigmoidLoss: q and d must hold the same number of rows (pair i is q[i], d[i]), got ${shapeOf(q)} and ${shapeOf(d)}.`,
  );
  return tf.tidy(() => {
    const t = logitScale instanceof tf.Tensor ? logitScale : tf.scalar(logitScale);
    const b = bias instanceof tf.Tensor ? bias : tf.scalar(bias);
    return tileSize === undefined ? sigmoidLossPlain(q, d, t, b) : sigmoidLossTiled(q, d, t, b, tileSize);
  });
}
