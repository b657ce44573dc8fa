import { check } from './errors.js';

/** The architectures this package builds: the BERT family (BERT, MiniLM, BGE, E5, GTE) and the RoBERTa family. */
export const SUPPORTED_MODEL_TYPES = ['bert', 'roberta', 'xlm-roberta', 'camembert'] as const;

/** A `model_type` this package builds. */
export type ModelType = (typeof SUPPORTED_MODEL_TYPES)[number];

/** The feed-forward activations of the supported checkpoints: GELU (erf, as BERT), its tanh approximation, ReLU. */
export const ACTIVATIONS = ['gelu', 'gelu_new', 'gelu_pytorch_tanh', 'relu'] as const;

/** What the model needs of a Hugging Face `config.json`, checked. */
export interface TransformerConfig {
  readonly modelType: ModelType;
  readonly vocabSize: number;
  readonly hiddenSize: number;
  readonly layers: number;
  readonly heads: number;
  readonly intermediateSize: number;
  readonly hiddenAct: (typeof ACTIVATIONS)[number];
  readonly hiddenDropout: number;
  readonly attentionDropout: number;
  readonly maxPositions: number;
  readonly typeVocabSize: number;
  readonly layerNormEps: number;
  readonly padTokenId: number;
  /**
   * RoBERTa's position ids: `cumsum(ids ≠ pad) · (ids ≠ pad) + pad`, so real tokens start at pad + 1
   * and the longest input is `maxPositions − pad − 1`. BERT's are 0, 1, 2, ….
   */
  readonly roberta: boolean;
  /** The longest input the position table allows. */
  readonly maxLength: number;
  /** The file as read: written back unchanged on save. */
  readonly json: Readonly<Record<string, unknown>>;
}

/**
 * Parses and checks a Hugging Face `config.json`. A `model_type` this package does not build is an
 * UNSUPPORTED_MODEL error naming it and the supported ones; a malformed field an INVALID_CONFIG
 * error naming the field. Missing fields take Hugging Face's `BertConfig` defaults.
 */
export function parseConfig(json: unknown, file = 'config.json'): TransformerConfig {
  check(
    typeof json === 'object' && json !== null && !Array.isArray(json),
    'INVALID_CONFIG',
    () => `parseConfig: ${file} is not a JSON object.`,
  );
  const c = json as Record<string, unknown>;
  const modelType = c['model_type'];
  check(
    typeof modelType === 'string' && (SUPPORTED_MODEL_TYPES as readonly string[]).includes(modelType),
    'UNSUPPORTED_MODEL',
    () =>
      `parseConfig: ${file} has model_type ${JSON.stringify(modelType)}; @gradcache/pretrained builds ${SUPPORTED_MODEL_TYPES.join(', ')} ` +
      '(the BERT family — BERT, MiniLM, BGE, E5, GTE — and the RoBERTa family). Pick a checkpoint of one of those.',
  );
  const integer = (name: string, fallback: number, min = 1): number => {
    const v = c[name] ?? fallback;
    check(
      Number.isSafeInteger(v) && (v as number) >= min,
      'INVALID_CONFIG',
      () => `parseConfig: ${file} has ${name} ${JSON.stringify(v)}; it must be an integer ≥ ${min}.`,
    );
    return v as number;
  };
  const rate = (name: string, fallback: number): number => {
    const v = c[name] ?? fallback;
    check(
      typeof v === 'number' && v >= 0 && v < 1,
      'INVALID_CONFIG',
      () => `parseConfig: ${file} has ${name} ${JSON.stringify(v)}; it must be a number in [0, 1).`,
    );
    return v;
  };
  const hiddenSize = integer('hidden_size', 768);
  const heads = integer('num_attention_heads', 12);
  check(
    hiddenSize % heads === 0,
    'INVALID_CONFIG',
    () => `parseConfig: ${file} has hidden_size ${hiddenSize}, not a multiple of num_attention_heads ${heads}.`,
  );
  const hiddenAct = c['hidden_act'] ?? 'gelu';
  check(
    typeof hiddenAct === 'string' && (ACTIVATIONS as readonly string[]).includes(hiddenAct),
    'UNSUPPORTED_MODEL',
    () => `parseConfig: ${file} has hidden_act ${JSON.stringify(hiddenAct)}; supported: ${ACTIVATIONS.join(', ')}.`,
  );
  const positionType = c['position_embedding_type'] ?? 'absolute';
  check(
    positionType === 'absolute',
    'UNSUPPORTED_MODEL',
    () =>
      `parseConfig: ${file} has position_embedding_type ${JSON.stringify(positionType)}; only 'absolute' position embeddings are supported.`,
  );
  const eps = c['layer_norm_eps'] ?? 1e-12;
  check(
    typeof eps === 'number' && eps > 0 && eps < 1,
    'INVALID_CONFIG',
    () => `parseConfig: ${file} has layer_norm_eps ${JSON.stringify(eps)}; it must be a small positive number.`,
  );
  const roberta = modelType !== 'bert';
  const maxPositions = integer('max_position_embeddings', 512);
  const padTokenId = integer('pad_token_id', roberta ? 1 : 0, 0);
  const maxLength = roberta ? maxPositions - padTokenId - 1 : maxPositions;
  check(
    maxLength >= 1,
    'INVALID_CONFIG',
    () => `parseConfig: ${file} has max_position_embeddings ${maxPositions}, too few for pad_token_id ${padTokenId}.`,
  );
  return {
    modelType: modelType as ModelType,
    vocabSize: integer('vocab_size', 30522),
    hiddenSize,
    layers: integer('num_hidden_layers', 12),
    heads,
    intermediateSize: integer('intermediate_size', 3072),
    hiddenAct: hiddenAct as TransformerConfig['hiddenAct'],
    hiddenDropout: rate('hidden_dropout_prob', 0.1),
    attentionDropout: rate('attention_probs_dropout_prob', 0.1),
    maxPositions,
    typeVocabSize: integer('type_vocab_size', 2),
    layerNormEps: eps,
    padTokenId,
    roberta,
    maxLength,
    json: { ...c },
  };
}
