import * as tf from '@tensorflow/tfjs-core';
import { checkAtLeastTwoRows, checkOptions, checkPositive, checkTileSize, checkViews } from './checks.js';
import { tiledTwoView, twoViewLogits, type NTXentOptions } from './nt-xent.js';
import { diagonalMask, l2Normalize } from './ops.js';

/** Options of dcl: NT-Xent's (a temperature, an optional tile size). */
export interface DCLOptions extends NTXentOptions {}

/** Options of dclw. */
export interface DCLWOptions extends DCLOptions {
  /** σ of the positive weight's softmax. Default 0.5. */
  sigma?: number;
}

/**
 * Decoupled contrastive loss over the 2B anchors, positive weights `w` (one per anchor):
 * mean_i [ −w_i·s[i, pos(i)] + logsumexp_{j∉{i, pos(i)}} s[i, j] ].
 */
function decoupled(z1: tf.Tensor2D, z2: tf.Tensor2D, temperature: number, tileSize: number | undefined, weights?: tf.Tensor1D): tf.Scalar {
  if (tileSize !== undefined) return tiledTwoView(z1, z2, temperature, tileSize, true, weights);
  const { logits, positives } = twoViewLogits(z1, z2, temperature);
  const n = logits.shape[0];
  const negatives = tf.logSumExp(tf.add(logits, diagonalMask(n, [0, n / 2])), 1);
  const weighted = weights === undefined ? positives : tf.mul(positives, weights);
  return tf.mean(tf.sub(negatives, weighted));
}

/**
 * DCL (Yeh et al. 2021): NT-Xent with the positive removed from the denominator — the mean over
 * the 2B anchors of `−s[i, pos(i)] + logsumexp_{j∉{i, pos(i)}} s[i, j]` (cosine similarity,
 * normalised inside). The official code sums the two directions; this is their mean (½ of that).
 * With `tileSize`, computed block by block (memory O(B·d + tileSize²); same value and gradients).
 *
 * ```ts
 * const loss = dcl(view1Reps, view2Reps, { temperature: 0.1 });
 * ```
 */
export function dcl(z1: tf.Tensor2D, z2: tf.Tensor2D, options: DCLOptions): tf.Scalar {
  checkOptions('dcl', options, true);
  checkViews('dcl', z1, z2);
  checkAtLeastTwoRows('dcl', 'z1', z1);
  checkPositive('dcl', 'temperature', options.temperature);
  checkTileSize('dcl', options.tileSize);
  return tf.tidy(() => decoupled(z1, z2, options.temperature, options.tileSize));
}

/**
 * DCLW (Yeh et al. 2021): DCL with the positive term of anchor i weighted by
 * `w_i = 2 − B·softmax_k(ẑ1_k·ẑ2_k / σ)_i` (the same weight for both views of pair i), as in the
 * official code, gradient through the weight included. σ defaults to 0.5.
 */
export function dclw(z1: tf.Tensor2D, z2: tf.Tensor2D, options: DCLWOptions): tf.Scalar {
  checkOptions('dclw', options, true);
  const { temperature, sigma = 0.5, tileSize } = options;
  checkViews('dclw', z1, z2);
  checkAtLeastTwoRows('dclw', 'z1', z1);
  checkPositive('dclw', 'temperature', temperature);
  checkPositive('dclw', 'sigma', sigma);
  checkTileSize('dclw', tileSize);
  return tf.tidy(() => {
    const pairCosine = tf.sum(tf.mul(l2Normalize(z1), l2Normalize(z2)), 1);
    const w = tf.sub(2, tf.mul(tf.softmax(tf.div(pairCosine, sigma)), z1.shape[0])) as tf.Tensor1D;
    return decoupled(z1, z2, temperature, tileSize, tf.concat([w, w]));
  });
}
