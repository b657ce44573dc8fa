import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import type { Batch, EncodeContext, Encoder, GetRep } from '@gradcache/core';
import { check } from './errors.js';

/** Options of layersEncoder. */
export interface LayersEncoderOptions {
  /** A name for messages; default the model's name. */
  name?: string;
  /**
   * Turns the model's output into the [rows, d] rep, e.g. the CLS position or a masked mean over a
   * sequence output; it also gets the chunk's input (for its attention mask). Default: the output.
   */
  getRep?: GetRep;
}

/** An Encoder that also exposes its model. */
export interface LayersEncoder extends Encoder {
  /** The wrapped model: save, inspect and fine-tune it with plain tfjs. */
  readonly model: tfl.LayersModel;
  /** `model.apply(input, context)`, through getRep: always a [rows, d] tensor. */
  encode(input: Batch, context: EncodeContext): tf.Tensor2D;
}

const shapeOf = (t: tf.Tensor): string => `[${t.shape.join(', ')}]`;

/** The model's input names (a Sequential model leaves inputNames empty; its inputs have names). */
function inputNamesOf(model: tfl.LayersModel): string[] {
  return model.inputNames.length > 0 ? model.inputNames : model.inputs.map((t) => t.name);
}

/** The model's inputs for a batch: a tensor, an array by input order, or a record by input name. */
function modelInputs(model: tfl.LayersModel, batch: Batch, name: string): tf.Tensor | tf.Tensor[] {
  const inputNames = inputNamesOf(model);
  const expected = inputNames.length;
  if (batch instanceof tf.Tensor) {
    check(
      expected === 1,
      'INPUT_COUNT',
      () =>
        `layersEncoder('${name}'): the model takes ${expected} inputs (${inputNames.join(', ')}) but got one tensor; pass an array or a record.`,
    );
    return batch;
  }
  if (Array.isArray(batch)) {
    check(
      batch.length === expected,
      'INPUT_COUNT',
      () => `layersEncoder('${name}'): the model takes ${expected} inputs (${inputNames.join(', ')}) but got ${batch.length} tensors.`,
    );
    return expected === 1 ? (batch[0] as tf.Tensor) : [...(batch as readonly tf.Tensor[])];
  }
  const record = batch as Readonly<Record<string, tf.Tensor>>;
  for (const key of Object.keys(record)) {
    check(
      inputNames.includes(key),
      'UNKNOWN_INPUT',
      () =>
        `layersEncoder('${name}'): the batch key "${key}" names no model input; the inputs are ${inputNames.map((n) => `"${n}"`).join(', ')}.`,
    );
  }
  const ordered = inputNames.map((input) => {
    const t = record[input];
    check(
      t !== undefined,
      'INPUT_COUNT',
      () => `layersEncoder('${name}'): the batch has no "${input}" (the model's inputs are ${inputNames.join(', ')}).`,
    );
    return t;
  });
  return expected === 1 ? (ordered[0] as tf.Tensor) : ordered;
}

/**
 * Wraps any tf.LayersModel (Sequential or functional, with BatchNorm and Dropout) as a GradCache
 * Encoder: its trainable weights are the trainable variables, its non-trainable weights (BatchNorm
 * moving statistics) the state variables, and `encode` is `model.apply(input, { training })`.
 * Array batches map onto the model's inputs by order, record batches by input name. A model with no
 * trainable weights (`model.trainable = false`: a locked tower, a teacher) is a frozen encoder:
 * GradCache forwards it once per chunk and never re-forwards it.
 *
 * ```ts
 * const model = tfl.sequential({ layers: [tfl.layers.dense({ inputShape: [32], units: 16 })] });
 * const gradCache = new GradCache({ encoders: [layersEncoder(model), layersEncoder(model)], chunkSize: 64, loss });
 * ```
 */
export function layersEncoder(model: tfl.LayersModel, options: LayersEncoderOptions = {}): LayersEncoder {
  const name = options.name ?? model.name;
  const trainableVariables = model.trainableWeights.map((w) => w.read() as tf.Variable);
  const stateVariables = model.nonTrainableWeights.map((w) => w.read() as tf.Variable);
  const getRep = options.getRep;
  return {
    name,
    model,
    trainableVariables,
    stateVariables,
    encode(input: Batch, context: EncodeContext): tf.Tensor2D {
      const output = model.apply(modelInputs(model, input, name), { training: context.training }) as tf.Tensor | tf.Tensor[];
      const rep = getRep === undefined ? output : getRep(output, input);
      check(
        rep instanceof tf.Tensor && rep.rank === 2,
        'INVALID_REP',
        () =>
          `layersEncoder('${name}'): the rep must be a [rows, d] tensor, got ` +
          `${Array.isArray(rep) ? `${rep.length} outputs (pass getRep to pick one)` : `shape ${shapeOf(rep as tf.Tensor)}${getRep === undefined ? ' (pass getRep to pool it)' : ''}`}.`,
      );
      return rep as tf.Tensor2D;
    },
  };
}
