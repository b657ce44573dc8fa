import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';

/** Pools a [batch, time, d] sequence to [batch, d]: the first (CLS) position, or the mean over tokens the mask keeps. */
export class MaskedPooling extends tfl.layers.Layer {
  static readonly className = 'GradCacheMaskedPooling';
  readonly mode: 'cls' | 'mean';

  constructor(args: { mode: 'cls' | 'mean'; name?: string }) {
    super(args.name === undefined ? {} : { name: args.name });
    this.mode = args.mode;
  }

  override computeOutputShape(inputShape: tfl.Shape | tfl.Shape[]): tfl.Shape {
    const x = (inputShape as tfl.Shape[])[0] as tfl.Shape;
    return [x[0] ?? null, x[2] ?? null];
  }

  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    return tf.tidy(() => {
      const [x, mask] = inputs as [tf.Tensor3D, tf.Tensor2D];
      const [b, , d] = x.shape;
      if (this.mode === 'cls') return tf.reshape(tf.slice(x, [0, 0, 0], [b, 1, d]), [b, d]);
      const m = tf.expandDims(tf.cast(mask, 'float32'), 2);
      return tf.div(tf.sum(tf.mul(x, m), 1), tf.maximum(tf.sum(m, 1), 1));
    });
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), mode: this.mode };
  }
}
tf.serialization.registerClass(MaskedPooling);
