import * as tf from '@tensorflow/tfjs-core';
import type { Batch, Encoder } from '@gradcache/core';
import { check } from './errors.js';

/** Options of momentumEncoder. */
export interface MomentumEncoderOptions {
  /** m in `target ← m·target + (1 − m)·online`. Default 0.99 (BYOL: 0.996, MoCo: 0.999). */
  momentum?: number;
}

/** A frozen exponential moving average of an encoder, and the update that moves it. */
export interface MomentumEncoder<I extends Batch = Batch> {
  /** The target encoder: frozen (forwarded once per chunk, no gradient, not in the optimizer's variables). */
  readonly encoder: Encoder<I>;
  /** One EMA step, `target ← m·target + (1 − m)·online`: call it after each optimizer step. */
  update(): void;
}

/**
 * The momentum (EMA) target of MoCo and BYOL: `copy` — the same architecture as `online`, built a
 * second time — starts with online's weights and follows them by `update()`. Its variables are
 * marked not trainable (a tfjs optimizer's `minimize` skips them) and the returned encoder is frozen,
 * so GradCache forwards it once per chunk and never re-forwards it. `copy` stays the caller's to dispose.
 *
 * ```ts
 * const target = momentumEncoder(online, buildSameTower(), { momentum: 0.99 });
 * const gradCache = new GradCache({ encoders: [online, target.encoder], chunkSize: 32, loss });
 * await gradCache.stepAsync(optimizer, batch);
 * target.update();
 * ```
 */
export function momentumEncoder<I extends Batch>(
  online: Encoder<I>,
  copy: Encoder<I>,
  options: MomentumEncoderOptions = {},
): MomentumEncoder<I> {
  const { momentum = 0.99 } = options;
  check(
    typeof momentum === 'number' && momentum >= 0 && momentum <= 1,
    'INVALID_OPTION',
    () => `momentumEncoder: momentum must be a number in [0, 1], got ${String(momentum)}.`,
  );
  const [from, to] = [online.trainableVariables, copy.trainableVariables];
  check(
    from.length === to.length && from.every((v, k) => tf.util.arraysEqual(v.shape, (to[k] as tf.Variable).shape)),
    'INVALID_OPTION',
    () =>
      `momentumEncoder: copy must have online's architecture (variables of the same shapes, in order), got ` +
      `[${from.map((v) => `[${v.shape}]`).join(', ')}] and [${to.map((v) => `[${v.shape}]`).join(', ')}]; build the same encoder again for copy.`,
  );
  check(
    from.every((v) => !to.includes(v)),
    'INVALID_OPTION',
    () => 'momentumEncoder: copy shares variables with online; pass a second, separately built encoder.',
  );
  to.forEach((v, k) => {
    v.assign(from[k] as tf.Variable);
    v.trainable = false;
  });
  return {
    encoder: {
      name: `${copy.name} (momentum)`,
      trainableVariables: [],
      ...(copy.stateVariables ? { stateVariables: copy.stateVariables } : {}),
      frozen: true,
      encode: (input, context) => copy.encode(input, context),
    },
    update() {
      tf.tidy(() => {
        to.forEach((v, k) => v.assign(tf.add(tf.mul(v, momentum), tf.mul(from[k] as tf.Variable, 1 - momentum))));
      });
    },
  };
}
