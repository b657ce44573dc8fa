import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { check } from '../errors.js';

/** Arguments of MaskedSelfAttention. */
export interface MaskedSelfAttentionArgs {
  /** Attention heads; the model width must be a multiple. */
  heads: number;
  /** Layer name. */
  name?: string;
}

/**
 * Multi-head self-attention over [batch, time, d] that honours a [batch, time] padding mask (1 for
 * tokens, 0 for padding): padded positions get no attention weight. Inputs: [x, mask]. Serialisable.
 */
export class MaskedSelfAttention extends tfl.layers.Layer {
  static readonly className = 'GradCacheMaskedSelfAttention';
  readonly heads: number;
  private weightsByName: Record<string, tfl.LayerVariable> = {};

  constructor(args: MaskedSelfAttentionArgs) {
    super(args.name === undefined ? {} : { name: args.name });
    this.heads = args.heads;
  }

  override build(inputShape: tfl.Shape | tfl.Shape[]): void {
    const shapes = inputShape as tfl.Shape[];
    const d = (shapes[0] as tfl.Shape)[2] as number;
    check(
      d % this.heads === 0,
      'INVALID_OPTION',
      () => `MaskedSelfAttention: width ${d} is not a multiple of ${this.heads} heads; pick heads that divide it.`,
    );
    for (const name of ['query', 'key', 'value', 'output']) {
      this.weightsByName[`${name}/kernel`] = this.addWeight(`${name}/kernel`, [d, d], 'float32', tfl.initializers.glorotUniform({}));
      this.weightsByName[`${name}/bias`] = this.addWeight(`${name}/bias`, [d], 'float32', tfl.initializers.zeros());
    }
    this.built = true;
  }

  override computeOutputShape(inputShape: tfl.Shape | tfl.Shape[]): tfl.Shape {
    return (inputShape as tfl.Shape[])[0] as tfl.Shape;
  }

  private weight(name: string): tf.Tensor {
    return (this.weightsByName[name] as tfl.LayerVariable).read();
  }

  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    return tf.tidy(() => {
      const [x, mask] = inputs as [tf.Tensor3D, tf.Tensor2D];
      const [b, t, d] = x.shape;
      const dh = d / this.heads;
      const rows = tf.reshape(x, [b * t, d]);
      const project = (name: string): tf.Tensor3D =>
        tf.reshape(tf.add(tf.matMul(rows, this.weight(`${name}/kernel`) as tf.Tensor2D), this.weight(`${name}/bias`)), [b, t, d]);
      const split = (y: tf.Tensor3D): tf.Tensor4D => tf.transpose(tf.reshape(y, [b, t, this.heads, dh]), [0, 2, 1, 3]);
      const [q, k, v] = [split(project('query')), split(project('key')), split(project('value'))];
      const scores = tf.div(tf.matMul(q, k, false, true), Math.sqrt(dh));
      // 0 for tokens, −1e9 for padding: exp underflows to exactly 0, so padding gets no weight.
      const padding = tf.reshape(tf.mul(tf.sub(1, tf.cast(mask, 'float32')), -1e9), [b, 1, 1, t]);
      const weights = tf.softmax(tf.add(scores, padding));
      const merged = tf.reshape(tf.transpose(tf.matMul(weights, v), [0, 2, 1, 3]), [b * t, d]);
      const out = tf.add(tf.matMul(merged, this.weight('output/kernel') as tf.Tensor2D), this.weight('output/bias'));
      return tf.reshape(out, [b, t, d]);
    });
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), heads: this.heads };
  }
}
tf.serialization.registerClass(MaskedSelfAttention);
