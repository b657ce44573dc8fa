import * as tf from '@tensorflow/tfjs-core';
import { check } from './errors.js';
import { l2Normalize } from './ops.js';

/** Options of matryoshka. */
export interface MatryoshkaOptions {
  /** The nested prefix widths, e.g. [64, 128, 256, 768]; each must fit every rep. */
  dims: readonly number[];
  /** One weight per prefix. Default 1 each (the paper's choice). */
  weights?: readonly number[];
  /** L2-normalise each prefix before the loss (for cosine losses that do not normalise inside). Default false. */
  normalize?: boolean;
}

/**
 * Matryoshka representation learning (Kusupati et al. 2022) around any loss: the loss of the first
 * m dimensions of every rep, for each m in `dims`, weighted and summed — so a prefix of the
 * embedding is a usable smaller embedding. Dimensions past the largest prefix get no gradient.
 * Reads only the reps, so under GradCache it is exact and costs one loss phase per prefix.
 *
 * ```ts
 * const loss = matryoshka(([q, d]) => infoNCE(q!, d!, { temperature: 0.05 }), { dims: [32, 64, 128] });
 * new GradCache({ encoders: [query, doc], chunkSize: 64, loss });
 * ```
 */
export function matryoshka<E>(
  loss: (reps: tf.Tensor2D[], extra: E | undefined) => tf.Scalar,
  options: MatryoshkaOptions,
): (reps: tf.Tensor2D[], extra: E | undefined) => tf.Scalar {
  check(
    typeof loss === 'function',
    'INVALID_OPTION',
    () => `matryoshka: loss must be a function (reps, extra) => tf.Scalar, got ${String(loss)}.`,
  );
  const { dims, weights = dims?.map(() => 1), normalize = false } = options ?? ({} as MatryoshkaOptions);
  check(
    Array.isArray(dims) && dims.length > 0 && dims.every((m) => Number.isInteger(m) && m > 0),
    'INVALID_OPTION',
    () => `matryoshka: dims must be a non-empty list of positive integers (prefix widths), got ${String(dims)}.`,
  );
  check(
    Array.isArray(weights) && weights.length === dims.length && weights.every((w) => Number.isFinite(w)),
    'INVALID_OPTION',
    () => `matryoshka: weights must hold one finite number per prefix (${dims.length}), got ${String(weights)}.`,
  );
  return (reps, extra) => {
    const width = Math.min(...reps.map((r) => r.shape[1]));
    check(
      dims.every((m) => m <= width),
      'WIDTH_MISMATCH',
      () => `matryoshka: a prefix of ${Math.max(...dims)} dimensions does not fit reps ${width} wide; lower dims.`,
    );
    return tf.tidy(() =>
      tf.addN(
        dims.map((m, k) => {
          const prefixes = reps.map((r) => {
            const prefix = tf.slice(r, [0, 0], [r.shape[0], m]) as tf.Tensor2D;
            return normalize ? l2Normalize(prefix) : prefix;
          });
          return tf.mul(loss(prefixes, extra), weights[k] as number);
        }),
      ),
    ) as tf.Scalar;
  };
}
