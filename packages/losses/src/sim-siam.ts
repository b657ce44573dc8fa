import * as tf from '@tensorflow/tfjs-core';
import { checkViews } from './checks.js';
import { l2Normalize, stopGradient } from './ops.js';

/** mean_i cos(p_i, sg(z_i)). */
function meanCosine(p: tf.Tensor2D, z: tf.Tensor2D): tf.Scalar {
  return tf.mean(tf.sum(tf.mul(l2Normalize(p), l2Normalize(stopGradient(z))), 1));
}

function checkFour(loss: string, [p1, z1, p2, z2]: tf.Tensor2D[]): void {
  checkViews(loss, p1 as tf.Tensor2D, z2 as tf.Tensor2D);
  checkViews(loss, p2 as tf.Tensor2D, z1 as tf.Tensor2D);
  checkViews(loss, p1 as tf.Tensor2D, p2 as tf.Tensor2D);
}

/**
 * SimSiam (Chen & He 2021): `−½ (mean cos(p1, sg(z2)) + mean cos(p2, sg(z1)))`, p the predictor's
 * output and z the projector's for each view; the stop-gradient is what prevents collapse. Each
 * sample's term reads only its own two views: nothing couples the batch but BatchNorm statistics.
 *
 * ```ts
 * const loss = simSiam(p1, z1, p2, z2); // each [B, d]; e.g. an encoder that outputs [z, p] side by side
 * ```
 */
export function simSiam(p1: tf.Tensor2D, z1: tf.Tensor2D, p2: tf.Tensor2D, z2: tf.Tensor2D): tf.Scalar {
  checkFour('simSiam', [p1, z1, p2, z2]);
  return tf.tidy(() => tf.mul(tf.add(meanCosine(p1, z2), meanCosine(p2, z1)), -0.5));
}

/**
 * BYOL (Grill et al. 2020): `mean (2 − 2 cos(p1, sg(t2))) + mean (2 − 2 cos(p2, sg(t1)))`, p the
 * online predictor's output for each view and t the momentum target's projection (from
 * `momentumEncoder` in @gradcache/encoders). Per sample, like SimSiam: no batch coupling but BatchNorm.
 */
export function byol(p1: tf.Tensor2D, t1: tf.Tensor2D, p2: tf.Tensor2D, t2: tf.Tensor2D): tf.Scalar {
  checkFour('byol', [p1, t1, p2, t2]);
  return tf.tidy(() => tf.sub(4, tf.mul(tf.add(meanCosine(p1, t2), meanCosine(p2, t1)), 2)));
}
