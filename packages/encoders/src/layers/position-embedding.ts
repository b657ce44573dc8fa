import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';

/** Adds a learned embedding of each position (up to maxLength) to a [batch, time, d] input. Serialisable. */
export class PositionEmbedding extends tfl.layers.Layer {
  static readonly className = 'GradCachePositionEmbedding';
  readonly maxLength: number;
  private positions: tfl.LayerVariable | undefined;

  constructor(args: { maxLength: number; name?: string }) {
    super(args.name === undefined ? {} : { name: args.name });
    this.maxLength = args.maxLength;
  }

  override build(inputShape: tfl.Shape | tfl.Shape[]): void {
    const d = (inputShape as tfl.Shape)[2] as number;
    this.positions = this.addWeight('positions', [this.maxLength, d], 'float32', tfl.initializers.randomNormal({ stddev: 0.02 }));
    this.built = true;
  }

  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    return tf.tidy(() => {
      const x = (Array.isArray(inputs) ? inputs[0] : inputs) as tf.Tensor3D;
      const positions = (this.positions as tfl.LayerVariable).read() as tf.Tensor2D;
      return tf.add(x, tf.slice(positions, [0, 0], [x.shape[1], x.shape[2]]));
    });
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), maxLength: this.maxLength };
  }
}
tf.serialization.registerClass(PositionEmbedding);
