export { EncoderError, type EncoderErrorCode } from './errors.js';
export { layersEncoder, type LayersEncoder, type LayersEncoderOptions } from './layers-encoder.js';
export { mlpEncoder, type MlpEncoderOptions } from './mlp-encoder.js';
export { convEncoder, type ConvEncoderOptions } from './conv-encoder.js';
export { textEncoder, type TextEncoderOptions } from './text-encoder.js';
export { embeddingBagEncoder, type EmbeddingBagEncoderOptions } from './embedding-bag-encoder.js';
export { WordPieceTokenizer, SPECIAL_TOKENS, type EncodeOptions, type TokenizedBatch, type WordPieceTrainingOptions } from './tokenizer.js';
export { L2Normalize, l2NormalizeLayer } from './layers/l2-normalize.js';
export { MaskedPooling, MaskedSelfAttention, PositionEmbedding } from './layers/attention.js';
