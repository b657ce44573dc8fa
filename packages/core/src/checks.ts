import * as tf from '@tensorflow/tfjs-core';
import { check, describe } from './errors.js';

/** Where a chunk's re-forward drift was measured: chunk `chunkIndex` of encoder `encoderIndex`. */
export interface DriftSite {
  encoderIndex: number;
  chunkIndex: number;
}

/** max|a − b| / max|b| (b's scale floored at the smallest normal float32), as a scalar tensor. */
export function relativeDrift(a: tf.Tensor, b: tf.Tensor): tf.Scalar {
  return tf.tidy(() => tf.div(tf.max(tf.abs(tf.sub(a, b))), tf.maximum(tf.max(tf.abs(b)), 1.2e-38)));
}

/** Phase 1: the rep of chunk j must be a live float32 [rows, d] tensor. */
export function checkRep(rep: tf.Tensor, rows: number, encoder: string, i: number, j: number): void {
  check(
    rep instanceof tf.Tensor && !rep.isDisposed && rep.rank === 2 && rep.shape[0] === rows && rep.dtype === 'float32',
    'INVALID_REP',
    () =>
      `GradCache: encoder ${i} ('${encoder}') returned ${describe(rep)} for chunk ${j} of ${rows} rows; ` +
      `the rep must be a float32 [${rows}, d] tensor (pass getRep to pick or pool it).`,
  );
}

/** Inside the re-forward's tape: a rep of another shape fails here, before back-propagation. */
export function checkReplayShape(rep: tf.Tensor2D, first: tf.Tensor2D, encoder: string, i: number, j: number): tf.Tensor2D {
  check(
    rep instanceof tf.Tensor && tf.util.arraysEqual(rep.shape, first.shape),
    'REPLAY_MISMATCH',
    () =>
      `GradCache: encoder ${i} ('${encoder}') returned ${describe(rep)} when re-encoding chunk ${j}, ` +
      `but [${first.shape.join(', ')}] the first time; encode must be deterministic given Math.random.`,
  );
  return rep;
}

/**
 * A batch's checks as one small tensor, so that they cost one read (sync or async): the loss, the
 * global squared gradient norm, every chunk's replay drift, and every gradient's finiteness (1 when
 * finite). Frees nothing it is given.
 */
export function batchChecks(loss: tf.Scalar, drifts: readonly tf.Scalar[], grads: tf.NamedTensorMap): tf.Tensor1D {
  // Each gradient's two numbers in their own tidy: the temporaries are gradient-sized, one at a time.
  const perGrad = Object.values(grads).map((g) =>
    tf.tidy(() => [tf.sum(tf.square(g)), g.size === 0 ? tf.scalar(1) : tf.min(tf.cast(tf.isFinite(g), 'float32'))] as const),
  );
  return tf.tidy(() => {
    const squared = perGrad.length === 0 ? tf.scalar(0) : tf.addN(perGrad.map(([sq]) => sq));
    const values = [loss, squared, ...drifts, ...perGrad.map(([, finite]) => finite)];
    const checks = tf.concat(values.map((v) => tf.reshape(v, [1]))) as tf.Tensor1D;
    tf.dispose(perGrad.flat());
    return checks;
  });
}

/**
 * Interprets the values of `batchChecks`: fails with LOSS_NOT_FINITE, then with REPLAY_DRIFT above
 * `tolerance`; returns the loss, the gradient norm and the names of the non-finite gradients.
 */
export function readChecks(
  values: ArrayLike<number>,
  drifts: readonly DriftSite[],
  gradNames: readonly string[],
  tolerance: number | false,
  names: readonly string[],
): { lossValue: number; gradNorm: number; nonFinite: string[] } {
  const lossValue = values[0] as number;
  check(
    Number.isFinite(lossValue),
    'LOSS_NOT_FINITE',
    () =>
      `GradCache: the loss is ${lossValue}; no gradient was applied. Check the inputs for NaN, lower the ` +
      'learning rate or raise the temperature.',
  );
  drifts.forEach((d, k) => {
    const drift = values[2 + k] as number;
    check(
      tolerance === false || !(drift > tolerance),
      'REPLAY_DRIFT',
      () =>
        `GradCache: encoder ${d.encoderIndex} ('${names[d.encoderIndex]}') gave other values when re-encoding chunk ` +
        `${d.chunkIndex} than the first time (max difference ${drift.toExponential(2)} of the largest |rep|, tolerance ` +
        `${tolerance}), so its gradient would be wrong. encode must be a function of its input, its variables and ` +
        'Math.random only (no hidden counters, no fixed-seed or crypto randomness); replayTolerance sets the limit.',
    );
  });
  const gradNorm = Math.sqrt(values[1] as number);
  return { lossValue, gradNorm, nonFinite: gradNames.filter((_, k) => values[2 + drifts.length + k] !== 1) };
}
