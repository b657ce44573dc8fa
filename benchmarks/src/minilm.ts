import * as tf from '@tensorflow/tfjs-core';
import { type ModelSource, parameterSpecs, parseConfig, serializeSafetensors } from '@gradcache/pretrained';

/** all-MiniLM-L6-v2's shape: 6 layers, width 384, 12 heads, feed-forward 1536, BERT's 30,522-token vocabulary. */
export const MINILM_CONFIG = {
  model_type: 'bert',
  vocab_size: 30522,
  hidden_size: 384,
  num_hidden_layers: 6,
  num_attention_heads: 12,
  intermediate_size: 1536,
  hidden_act: 'gelu',
  hidden_dropout_prob: 0.1,
  attention_probs_dropout_prob: 0.1,
  max_position_embeddings: 512,
  type_vocab_size: 2,
  layer_norm_eps: 1e-12,
  pad_token_id: 0,
};

/**
 * A MiniLM-sized BERT in Hugging Face's layout, in memory: random weights (seeded) in a
 * model.safetensors, the config, a vocab.txt of placeholder tokens, mean pooling — what a
 * sentence-transformers folder of that size holds, without a download.
 */
export function miniLmSource(seed = 0): ModelSource {
  const config = parseConfig(MINILM_CONFIG);
  const tensors = parameterSpecs(config).map((spec, k) => {
    const values = tf.tidy(
      () =>
        tf
          .randomNormal(
            [...spec.shape],
            spec.name.includes('LayerNorm.weight') ? 1 : 0,
            spec.name.includes('LayerNorm') ? 0 : 0.02,
            'float32',
            seed + k,
          )
          .dataSync() as Float32Array,
    );
    return { name: spec.name, dtype: 'F32' as const, shape: spec.shape, bytes: new Uint8Array(values.buffer) };
  });
  const vocab = ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]', ...Array.from({ length: MINILM_CONFIG.vocab_size - 5 }, (_, i) => `t${i}`)];
  const files = new Map<string, Uint8Array>([
    ['config.json', new TextEncoder().encode(JSON.stringify(MINILM_CONFIG))],
    ['model.safetensors', serializeSafetensors(tensors)],
    ['vocab.txt', new TextEncoder().encode(vocab.join('\n'))],
  ]);
  return { name: 'MiniLM-sized (random weights)', read: async (path) => files.get(path) };
}

/** `rows` rows of random token ids of `length` tokens ([CLS] first, [SEP] last, no padding). */
export function randomTokens(rows: number, length: number, seed: number): { inputIds: tf.Tensor2D; attentionMask: tf.Tensor2D } {
  return tf.tidy(() => {
    const body = tf.randomUniform([rows, length - 2], 5, MINILM_CONFIG.vocab_size, 'int32', seed);
    const inputIds = tf.concat([tf.fill([rows, 1], 2, 'int32'), body, tf.fill([rows, 1], 3, 'int32')], 1) as tf.Tensor2D;
    return { inputIds, attentionMask: tf.ones([rows, length], 'int32') as tf.Tensor2D };
  });
}
