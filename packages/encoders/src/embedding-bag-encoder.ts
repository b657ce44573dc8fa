import * as tfl from '@tensorflow/tfjs-layers';
import { check } from './errors.js';
import { MaskedPooling } from './layers/masked-pooling.js';
import { l2NormalizeLayer } from './layers/l2-normalize.js';
import { layersEncoder, type LayersEncoder } from './layers-encoder.js';
import { buildSeeded } from './seeded.js';

/** Options of embeddingBagEncoder. */
export interface EmbeddingBagEncoderOptions {
  /** Number of ids (hash buckets or vocabulary size); id 0 is padding. */
  vocabSize: number;
  /** Embedding width. Default 128. */
  dim?: number;
  /** Widths of hidden dense layers after the pooled embedding. Default []. */
  hidden?: readonly number[];
  /** Width of the rep. Default dim. */
  outputDim?: number;
  /** L2-normalise the reps. Default false. */
  normalize?: boolean;
  /** Seeds the initial weights: one seed, bit-identical weights. */
  seed?: number;
  /** Model name. */
  name?: string;
}

/**
 * A bag-of-features text encoder (fastText's): embeddings of the ids, averaged over the attention
 * mask, then dense layers to the rep. Takes the `{ inputIds, attentionMask }` record of
 * `hashedNgrams` (from @gradcache/data) or a WordPieceTokenizer. Cheap per row, so it trains on the
 * whole of WordNet in minutes on a CPU.
 *
 * ```ts
 * const { encoder } = embeddingBagEncoder({ vocabSize: 1 << 15, dim: 128, normalize: true, seed: 1 });
 * ```
 */
export function embeddingBagEncoder(options: EmbeddingBagEncoderOptions): { model: tfl.LayersModel; encoder: LayersEncoder } {
  const { vocabSize, dim = 128, hidden = [], normalize = false } = options;
  const outputDim = options.outputDim ?? dim;
  for (const [name, value] of Object.entries({ vocabSize, dim, outputDim })) {
    check(
      Number.isInteger(value) && value > 0,
      'INVALID_OPTION',
      () => `embeddingBagEncoder: ${name} must be a positive integer, got ${value}.`,
    );
  }
  check(
    hidden.every((w) => Number.isInteger(w) && w > 0),
    'INVALID_OPTION',
    () => `embeddingBagEncoder: hidden must be positive integers, got [${hidden.join(', ')}].`,
  );
  return buildSeeded('embeddingBagEncoder', options.seed, () => {
    const inputIds = tfl.input({ shape: [null], dtype: 'int32', name: 'inputIds' });
    const attentionMask = tfl.input({ shape: [null], dtype: 'float32', name: 'attentionMask' });
    const embedded = tfl.layers
      .embedding({ inputDim: vocabSize, outputDim: dim, embeddingsInitializer: tfl.initializers.randomNormal({ stddev: 0.1 }) })
      .apply(inputIds) as tfl.SymbolicTensor;
    let x = new MaskedPooling({ mode: 'mean' }).apply([embedded, attentionMask]) as tfl.SymbolicTensor;
    for (const units of hidden) x = tfl.layers.dense({ units, activation: 'relu' }).apply(x) as tfl.SymbolicTensor;
    let rep = tfl.layers.dense({ units: outputDim }).apply(x) as tfl.SymbolicTensor;
    if (normalize) rep = l2NormalizeLayer().apply(rep) as tfl.SymbolicTensor;
    const model = tfl.model({ inputs: [inputIds, attentionMask], outputs: rep, name: options.name ?? 'embedding_bag_encoder' });
    return { model, encoder: layersEncoder(model) };
  });
}
