import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';

/** Scales each row to unit L2 norm (eps 1e-12, no NaN gradient at zero rows). Serialisable. */
export class L2Normalize extends tfl.layers.Layer {
  static readonly className = 'GradCacheL2Normalize';

  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    return tf.tidy(() => {
      const x = Array.isArray(inputs) ? (inputs[0] as tf.Tensor) : inputs;
      return tf.mul(x, tf.rsqrt(tf.maximum(tf.sum(tf.square(x), -1, true), 1e-24)));
    });
  }
}
tf.serialization.registerClass(L2Normalize);

/** A new L2Normalize layer. */
export function l2NormalizeLayer(name?: string): L2Normalize {
  return new L2Normalize(name === undefined ? {} : { name });
}
