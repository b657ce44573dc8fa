import type * as tf from '@tensorflow/tfjs-core';

/**
 * One encoder's input: a tensor, an array of tensors or a record of tensors (e.g. token ids and
 * an attention mask). Every tensor's first dimension is the batch dimension.
 */
export type Batch = tf.Tensor | readonly tf.Tensor[] | Readonly<Record<string, tf.Tensor>>;

/**
 * What an encoder may return: its [rows, d] rep; or `{ rep, auxLoss }`, where `auxLoss` is a scalar
 * term of its own (an activation regulariser, a router loss) added to the loss; or anything that a
 * `GetRep` turns into the rep.
 */
export type EncoderOutput = tf.Tensor | readonly tf.Tensor[] | Readonly<Record<string, tf.Tensor>>;

/**
 * Turns an encoder's output for one chunk into its [rows, d] rep — picks a tensor, pools a sequence
 * output; `input` is the chunk it encoded (for its attention mask).
 */
export type GetRep = (output: EncoderOutput, input: Batch) => tf.Tensor2D;

/**
 * Cuts one encoder's batch into chunks of at most `chunkSize` rows that cover every row once, in
 * order. The default slices every tensor along its first dimension (`chunkBatch`).
 */
export type ChunkInput = (batch: Batch, chunkSize: number) => Batch[];

/** Passed to every `encode` call. */
export interface EncodeContext {
  /** True while training: dropout is active and stateful layers may update their state. */
  readonly training: boolean;
}

/** Anything that maps a chunk of inputs to a [rows, d] representation (its rep). */
export interface Encoder<I extends Batch = Batch> {
  /** A name for messages and reports. */
  readonly name: string;
  /** The variables whose gradients the engine accumulates. */
  readonly trainableVariables: readonly tf.Variable[];
  /** State the forward may write (BatchNorm moving statistics); snapshotted around the re-forward. */
  readonly stateVariables?: readonly tf.Variable[];
  /**
   * A frozen encoder (a locked image tower, a teacher) is forwarded once and never re-forwarded, and
   * gets no gradient; its reps still reach the loss. An encoder without trainable variables is frozen.
   */
  readonly frozen?: boolean;
  /**
   * Encodes one chunk. Must be synchronous and must take its randomness from `Math.random`
   * (as tfjs dropout does) so that the re-forward can replay it.
   */
  encode(input: I, context: EncodeContext): EncoderOutput;
}

/**
 * A loss over the whole batch's reps (one [B_i, d] tensor per encoder, in the order of the encoders)
 * returning a scalar. `extra` is whatever the caller handed to `computeGradients` or `step`.
 */
export type LossFunction<E = unknown> = (reps: tf.Tensor2D[], extra: E | undefined) => tf.Scalar;

/** An encoder the engine forwards once and never re-forwards: no trainable variables, or marked `frozen`. */
export function isFrozen(encoder: Encoder): boolean {
  return encoder.frozen === true || encoder.trainableVariables.length === 0;
}
