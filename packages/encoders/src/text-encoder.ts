import * as tfl from '@tensorflow/tfjs-layers';
import { check } from './errors.js';
import { MaskedPooling } from './layers/masked-pooling.js';
import { MaskedSelfAttention } from './layers/masked-self-attention.js';
import { PositionEmbedding } from './layers/position-embedding.js';
import { l2NormalizeLayer } from './layers/l2-normalize.js';
import { layersEncoder, type LayersEncoder } from './layers-encoder.js';
import { buildSeeded } from './seeded.js';

/** Options of textEncoder. */
export interface TextEncoderOptions {
  /** Vocabulary size (the tokenizer's `vocab.length`). */
  vocabSize: number;
  /** Longest sequence, in tokens. */
  maxLength: number;
  /** Model width. Default 64. */
  dim?: number;
  /** Attention heads. Default 4. */
  heads?: number;
  /** Transformer blocks. Default 2. */
  layers?: number;
  /** Feed-forward width. Default 4·dim. */
  ffDim?: number;
  /** Dropout on embeddings, attention output and feed-forward output. Default 0.1. */
  dropout?: number;
  /** 'cls': the first position (the tokenizer's [CLS]); 'mean': the mean over real tokens. Default 'mean'. */
  pooling?: 'cls' | 'mean';
  /** Width of the projection head's output (the rep). Default dim. */
  outputDim?: number;
  /** L2-normalise the reps. Default false. */
  normalize?: boolean;
  /** Seeds the initial weights: one seed, bit-identical weights (no seeded scope needed around the call). */
  seed?: number;
  /** Model name. */
  name?: string;
}

/**
 * A reference Transformer text encoder as a tf.LayersModel with two inputs, `inputIds` (int32) and
 * `attentionMask` (1 for tokens, 0 for padding) — the record a WordPieceTokenizer returns — and its
 * GradCache Encoder: token + learned position embeddings, pre-LayerNorm blocks of masked multi-head
 * self-attention and a GELU feed-forward, CLS or masked-mean pooling, a projection head.
 *
 * ```ts
 * const tokenizer = WordPieceTokenizer.fromCorpus(texts, { vocabSize: 2000 });
 * const { encoder } = textEncoder({ vocabSize: tokenizer.vocab.length, maxLength: 32 });
 * const reps = encoder.encode(tokenizer.encode(['a query'], { maxLength: 32 }), { training: false });
 * ```
 */
export function textEncoder(options: TextEncoderOptions): { model: tfl.LayersModel; encoder: LayersEncoder } {
  const { vocabSize, maxLength, dim = 64, heads = 4, layers = 2, dropout = 0.1, pooling = 'mean', normalize = false } = options;
  const ffDim = options.ffDim ?? 4 * dim;
  const outputDim = options.outputDim ?? dim;
  for (const [name, value] of Object.entries({ vocabSize, maxLength, dim, heads, layers, ffDim, outputDim })) {
    check(Number.isInteger(value) && value > 0, 'INVALID_OPTION', () => `textEncoder: ${name} must be a positive integer, got ${value}.`);
  }
  check(dim % heads === 0, 'INVALID_OPTION', () => `textEncoder: dim (${dim}) must be a multiple of heads (${heads}).`);
  check(dropout >= 0 && dropout < 1, 'INVALID_OPTION', () => `textEncoder: dropout must be in [0, 1), got ${dropout}.`);

  return buildSeeded('textEncoder', options.seed, () => {
    const inputIds = tfl.input({ shape: [null], dtype: 'int32', name: 'inputIds' });
    const attentionMask = tfl.input({ shape: [null], dtype: 'float32', name: 'attentionMask' });
    const apply = (layer: tfl.layers.Layer, x: tfl.SymbolicTensor | tfl.SymbolicTensor[]): tfl.SymbolicTensor =>
      layer.apply(x) as tfl.SymbolicTensor;
    const drop = (x: tfl.SymbolicTensor): tfl.SymbolicTensor => (dropout > 0 ? apply(tfl.layers.dropout({ rate: dropout }), x) : x);

    let x = apply(tfl.layers.embedding({ inputDim: vocabSize, outputDim: dim, embeddingsInitializer: 'randomNormal' }), inputIds);
    x = drop(apply(new PositionEmbedding({ maxLength }), x));
    for (let block = 0; block < layers; block++) {
      const attended = apply(new MaskedSelfAttention({ heads }), [
        apply(tfl.layers.layerNormalization({ epsilon: 1e-6 }), x),
        attentionMask,
      ]);
      x = apply(tfl.layers.add(), [x, drop(attended)]);
      const hidden = apply(
        tfl.layers.dense({ units: ffDim, activation: 'gelu' }),
        apply(tfl.layers.layerNormalization({ epsilon: 1e-6 }), x),
      );
      x = apply(tfl.layers.add(), [x, drop(apply(tfl.layers.dense({ units: dim }), hidden))]);
    }
    x = apply(tfl.layers.layerNormalization({ epsilon: 1e-6 }), x);
    let rep = apply(tfl.layers.dense({ units: outputDim }), apply(new MaskedPooling({ mode: pooling }), [x, attentionMask]));
    if (normalize) rep = apply(l2NormalizeLayer(), rep);
    const model = tfl.model({ inputs: [inputIds, attentionMask], outputs: rep, name: options.name ?? 'text_encoder' });
    return { model, encoder: layersEncoder(model) };
  });
}
