import * as tf from '@tensorflow/tfjs-core';

/** A tensor, or its values already read (with `await t.data()`, say, on a backend that reads only asynchronously). */
type Values = tf.Tensor | { shape: number[]; values: ArrayLike<number> };

function read(t: Values): ArrayLike<number> {
  return t instanceof tf.Tensor ? t.dataSync() : t.values;
}

/** max|a − b| and max|b| of two same-shaped tensors. */
function diffAndScale(actual: Values, expected: Values): { diff: number; scale: number } {
  if (!tf.util.arraysEqual(actual.shape, expected.shape)) {
    throw new Error(`shapes differ: [${actual.shape}] vs expected [${expected.shape}].`);
  }
  const a = read(actual);
  const b = read(expected);
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < b.length; i++) {
    const x = a[i] as number;
    const y = b[i] as number;
    // NaN fails every comparison below, so a NaN anywhere makes the error NaN.
    diff = Number.isNaN(x) || Number.isNaN(y) ? NaN : Math.max(diff, Math.abs(x - y));
    if (Number.isNaN(diff)) break;
    scale = Math.max(scale, Math.abs(y));
  }
  return { diff, scale };
}

/** max|a − b| / max|b|: the largest error relative to the reference's scale (max|a − b| when b is 0). */
export function relativeError(actual: Values, expected: Values): number {
  const { diff, scale } = diffAndScale(actual, expected);
  return scale === 0 ? diff : diff / scale;
}

/**
 * Throws unless `max|a − b| ≤ tol·max(max|b|, floor)`: element-wise relative error is meaningless on
 * entries near zero, so errors are measured against the reference's largest magnitude — or against
 * `floor`, the size of the terms float32 had to cancel to get a result near zero (default 0).
 */
export function expectClose(actual: Values, expected: Values, tol: number, what = 'tensor', floor = 0): void {
  const { diff, scale } = diffAndScale(actual, expected);
  const bound = tol * Math.max(scale, floor);
  if (!(diff <= bound) && !(diff === 0)) {
    throw new Error(
      `${what}: max|Δ| = ${diff.toExponential(3)} exceeds ${tol}·max(max|ref| = ${scale.toExponential(3)}, floor = ${floor.toExponential(3)}).`,
    );
  }
}

/**
 * Checks every variable's gradient: `max|Δ| ≤ max(tol·max(max|g|, floor·G), atol)` where G is the
 * largest |g| over all variables.
 * - `floor` (default 1e-2, so an absolute bound of 1e-6·G at tol 1e-4) matters only for a gradient
 *   that is (nearly) zero in exact arithmetic — the output bias of an encoder under InfoNCE, whose
 *   softmax rows sum to one — where what is left is float32 rounding of sums of terms of size G: about
 *   1e-7·G·√B, seen up to 3e-8 with G = 0.19 (fast-check, 1,500 runs).
 * - `atol` (default 1e-6) matters only when every gradient is that small: then the loss is flat in
 *   exact arithmetic (a dead ReLU tower gives every row the same rep, so InfoNCE is exactly log B) and
 *   each "gradient" is rounding of the O(1) loss terms; two chunkings differed by up to 1.6e-7
 *   (fast-check, 3,000 runs; 1.3e-7 over 10 such towers at B = 64).
 */
export function expectGradsClose(
  actual: Record<string, Values>,
  expected: Record<string, Values>,
  tol: number,
  floor = 1e-2,
  atol = 1e-6,
): void {
  const keys = Object.keys(expected).sort();
  const got = Object.keys(actual).sort();
  if (keys.join('|') !== got.join('|')) {
    throw new Error(`expectGradsClose: variables differ: got [${got}], expected [${keys}].`);
  }
  const stats = keys.map((key) => diffAndScale(actual[key] as Values, expected[key] as Values));
  const global = Math.max(...stats.map((s) => s.scale));
  keys.forEach((key, k) => {
    const { diff, scale } = stats[k] as { diff: number; scale: number };
    const bound = Math.max(tol * Math.max(scale, floor * global), atol);
    if (!(diff <= bound)) {
      throw new Error(
        `grad of ${key}: max|Δ| = ${diff.toExponential(3)} exceeds max(${tol}·max(${scale.toExponential(3)}, ` +
          `${floor}·${global.toExponential(3)}), ${atol.toExponential(3)}).`,
      );
    }
  });
}

/**
 * Reads every tensor of a map with `await data()` — the only read WebGPU allows in Node — into the
 * `{ shape, values }` form `expectGradsClose` also takes. Disposes nothing.
 */
export async function readValues(map: tf.NamedTensorMap): Promise<Record<string, { shape: number[]; values: Float32Array }>> {
  const entries = await Promise.all(
    Object.entries(map).map(
      async ([name, t]): Promise<[string, { shape: number[]; values: Float32Array }]> => [
        name,
        { shape: [...t.shape], values: (await t.data()) as Float32Array },
      ],
    ),
  );
  return Object.fromEntries(entries);
}
