import * as tfl from '@tensorflow/tfjs-layers';
import { check } from './errors.js';
import { l2NormalizeLayer } from './layers/l2-normalize.js';
import { layersEncoder, type LayersEncoder } from './layers-encoder.js';
import { buildSeeded } from './seeded.js';

/** Options of mlpEncoder. */
export interface MlpEncoderOptions {
  /** Width of the input rows. */
  inputDim: number;
  /** Widths of the layers; the last is the rep width. */
  widths: readonly number[];
  /** Activation of the hidden layers. Default 'relu'. */
  activation?: 'relu' | 'gelu' | 'tanh' | 'elu' | 'swish';
  /** Dropout rate after each hidden layer. Default 0. */
  dropout?: number;
  /** L2-normalise the reps. Default false. */
  normalize?: boolean;
  /** Seeds the initial weights: one seed, bit-identical weights (no seeded scope needed around the call). */
  seed?: number;
  /** Model name. */
  name?: string;
}

/**
 * A reference MLP encoder as a plain tf.LayersModel (dense → activation → dropout …, a linear last
 * layer, optionally L2-normalised) and its GradCache Encoder.
 *
 * ```ts
 * const { model, encoder } = mlpEncoder({ inputDim: 128, widths: [256, 64], dropout: 0.1, normalize: true });
 * ```
 */
export function mlpEncoder(options: MlpEncoderOptions): { model: tfl.LayersModel; encoder: LayersEncoder } {
  const { inputDim, widths, activation = 'relu', dropout = 0, normalize = false } = options;
  check(
    Number.isInteger(inputDim) && inputDim > 0,
    'INVALID_OPTION',
    () => `mlpEncoder: inputDim must be a positive integer, got ${inputDim}.`,
  );
  check(
    widths.length > 0 && widths.every((w) => Number.isInteger(w) && w > 0),
    'INVALID_OPTION',
    () => `mlpEncoder: widths must be positive integers, got [${widths.join(', ')}].`,
  );
  check(dropout >= 0 && dropout < 1, 'INVALID_OPTION', () => `mlpEncoder: dropout must be in [0, 1), got ${dropout}.`);
  return buildSeeded('mlpEncoder', options.seed, () => {
    const model = tfl.sequential({ name: options.name ?? 'mlp_encoder' });
    widths.forEach((units, k) => {
      const last = k === widths.length - 1;
      model.add(tfl.layers.dense({ units, ...(k === 0 ? { inputShape: [inputDim] } : {}), activation: last ? 'linear' : activation }));
      if (!last && dropout > 0) model.add(tfl.layers.dropout({ rate: dropout }));
    });
    if (normalize) model.add(l2NormalizeLayer());
    return { model, encoder: layersEncoder(model) };
  });
}
