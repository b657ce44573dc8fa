import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { loadModel } from '@gradcache/encoders/node';
import { infoNCE, ntXent } from '@gradcache/losses';
import { choice, UsageError } from './args.js';

/** The two-view losses `verify` and `bench` offer. */
export const TWO_VIEW_LOSSES = ['ntxent', 'infonce'] as const;

/** A two-view loss by name (`--loss`). */
export function twoViewLoss(value: string | boolean | undefined): (reps: tf.Tensor2D[]) => tf.Scalar {
  const name = choice('loss', value, TWO_VIEW_LOSSES, 'ntxent');
  return ([a, b]) =>
    name === 'ntxent'
      ? ntXent(a as tf.Tensor2D, b as tf.Tensor2D, { temperature: 0.5 })
      : infoNCE(a as tf.Tensor2D, b as tf.Tensor2D, { temperature: 0.1 });
}

/** A saved tfjs layers model (`--model`); a folder that does not hold one is a usage error. */
export async function loadUserModel(dir: string): Promise<tfl.LayersModel> {
  try {
    return await loadModel(dir);
  } catch (error) {
    throw new UsageError(`--model: ${(error as Error).message}`);
  }
}

/** Two views of `rows` random inputs of the model's shape: N(0, 1) floats and a 0.1 noise per view; token ids in [1, 100). */
export function modelViews(model: tfl.LayersModel, rows: number, seed: number): (tf.Tensor | tf.Tensor[])[] {
  const view = (k: number): tf.Tensor[] =>
    model.inputs.map((input, j) => {
      const shape = [rows, ...input.shape.slice(1).map((d) => d ?? 8)];
      return input.dtype === 'int32'
        ? tf.randomUniform(shape, 1, 100, 'int32', seed + j)
        : tf.tidy(() =>
            tf.add(tf.randomNormal(shape, 0, 1, 'float32', seed + j), tf.randomNormal(shape, 0, 0.1, 'float32', seed + 100 * (k + 1) + j)),
          );
    });
  return [view(0), view(1)].map((v) => (v.length === 1 ? (v[0] as tf.Tensor) : v));
}
