import type * as tf from '@tensorflow/tfjs-core';
import type { Batch, EncodeContext, Encoder, EncoderOutput } from './types.js';

/** The pieces of an encoder written as a plain function. */
export interface FunctionEncoderSpec<I extends Batch = Batch> {
  /** A name for messages and reports. */
  name: string;
  /** The trainable variables `encode` reads. */
  variables: readonly tf.Variable[];
  /** Variables `encode` writes as a side effect (moving statistics). */
  stateVariables?: readonly tf.Variable[];
  /** Maps a chunk to its output; synchronous, randomness only through `Math.random`. */
  encode: (input: I, context: EncodeContext) => EncoderOutput;
}

/**
 * Makes an Encoder from a function and the variables it reads.
 *
 * ```ts
 * const w = tf.variable(tf.randomNormal([16, 8]), true, 'w');
 * const encoder = functionEncoder({ name: 'linear', variables: [w], encode: (x) => tf.matMul(x as tf.Tensor2D, w) });
 * ```
 */
export function functionEncoder<I extends Batch = Batch>(spec: FunctionEncoderSpec<I>): Encoder<I> {
  const encoder: Encoder<I> = {
    name: spec.name,
    trainableVariables: spec.variables,
    encode: spec.encode,
  };
  return spec.stateVariables === undefined ? encoder : { ...encoder, stateVariables: spec.stateVariables };
}
