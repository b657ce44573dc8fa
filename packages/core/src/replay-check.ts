import * as tf from '@tensorflow/tfjs-core';
import { check, describe } from './errors.js';

/** A chunk's re-forward drift, max|re-forward − first pass| / max|first pass|, to be read after phase 3. */
export interface Drift {
  encoder: number;
  chunk: number;
  value: tf.Scalar;
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

/** Where a drift was measured. */
export type DriftSite = Omit<Drift, 'value'>;

/**
 * The step's checks as one small tensor, so that they cost one read (sync or async): the loss, every
 * chunk's replay drift, and every gradient's finiteness (1 when finite). Frees nothing it is given.
 */
export function stepChecks(loss: tf.Scalar, drifts: Drift[], grads: tf.NamedTensorMap): tf.Tensor1D {
  return tf.tidy(
    () =>
      tf.concat([
        tf.reshape(loss, [1]),
        ...drifts.map((d) => tf.reshape(d.value, [1])),
        ...Object.values(grads).map((g) => (g.size === 0 ? tf.ones([1]) : tf.reshape(tf.min(tf.cast(tf.isFinite(g), 'float32')), [1]))),
      ]) as tf.Tensor1D,
  );
}

/**
 * Interprets the values of `stepChecks`: fails with LOSS_NOT_FINITE, then with REPLAY_DRIFT above
 * `tolerance`; returns the loss and the names of the non-finite gradients.
 */
export function readChecks(
  values: ArrayLike<number>,
  drifts: readonly DriftSite[],
  gradNames: readonly string[],
  tolerance: number | false,
  names: readonly string[],
): { lossValue: number; nonFinite: string[] } {
  const lossValue = values[0] as number;
  check(
    Number.isFinite(lossValue),
    'LOSS_NOT_FINITE',
    () =>
      `GradCache: the loss is ${lossValue}; no gradient was applied. Check the inputs for NaN, lower the ` +
      'learning rate or raise the temperature.',
  );
  drifts.forEach((d, k) => {
    const drift = values[1 + k] as number;
    check(
      tolerance === false || !(drift > tolerance),
      'REPLAY_DRIFT',
      () =>
        `GradCache: encoder ${d.encoder} ('${names[d.encoder]}') gave other values when re-encoding chunk ` +
        `${d.chunk} than the first time (max difference ${drift.toExponential(2)} of the largest |rep|, tolerance ` +
        `${tolerance}), so its gradient would be wrong. encode must be a function of its input, its variables and ` +
        'Math.random only (no hidden counters, no fixed-seed or crypto randomness); replayTolerance sets the limit.',
    );
  });
  return { lossValue, nonFinite: gradNames.filter((_, k) => values[1 + drifts.length + k] !== 1) };
}
