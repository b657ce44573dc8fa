import * as tf from '@tensorflow/tfjs-core';
import type { TransformerConfig } from './config.js';

/** A batch of token ids as the encoder takes it (what `PretrainedTokenizer.encode` returns). */
export type TokenBatch = {
  /** int32 [rows, length]. */
  readonly inputIds: tf.Tensor2D;
  /** [rows, length]: 1 for tokens, 0 for padding. */
  readonly attentionMask: tf.Tensor2D;
  /** int32 [rows, length], the segment of each token; default all 0. */
  readonly tokenTypeIds?: tf.Tensor2D;
};

/** Added to the attention scores of padding: exp underflows to exactly 0, as Hugging Face's finfo.min does. */
const MASKED = -1e9;

/** A parameter by its checkpoint name, in tfjs layout (Linear weights [in, out]). */
export type Weights = (name: string) => tf.Tensor;

function layerNorm(x: tf.Tensor2D, w: Weights, name: string, eps: number): tf.Tensor2D {
  const { mean, variance } = tf.moments(x, -1, true);
  const normalized = tf.div(tf.sub(x, mean), tf.sqrt(tf.add(variance, eps)));
  return tf.add(tf.mul(normalized, w(`${name}.weight`)), w(`${name}.bias`)) as tf.Tensor2D;
}

function linear(x: tf.Tensor2D, w: Weights, name: string): tf.Tensor2D {
  return tf.fused.matMul({ a: x, b: w(`${name}.weight`) as tf.Tensor2D, bias: w(`${name}.bias`) }) as tf.Tensor2D;
}

function activate(x: tf.Tensor2D, act: TransformerConfig['hiddenAct']): tf.Tensor2D {
  if (act === 'relu') return tf.relu(x);
  if (act === 'gelu') return tf.mul(tf.mul(x, 0.5), tf.add(1, tf.erf(tf.mul(x, Math.SQRT1_2))));
  // gelu_new / gelu_pytorch_tanh: 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³)))
  const inner = tf.mul(tf.add(x, tf.mul(tf.pow(x, 3), 0.044715)), Math.sqrt(2 / Math.PI));
  return tf.mul(tf.mul(x, 0.5), tf.add(1, tf.tanh(inner)));
}

function dropout<T extends tf.Tensor>(x: T, rate: number, training: boolean): T {
  // No seed: tf.dropout draws from Math.random, which GradCache replays in the re-forward.
  return training && rate > 0 ? (tf.dropout(x, rate) as T) : x;
}

/** The ids of each token's position: 0, 1, 2, … (BERT); pad + 1, pad + 2, … for tokens and pad for padding (RoBERTa). */
function positionIds(ids: tf.Tensor2D, config: TransformerConfig): tf.Tensor2D {
  const [rows, length] = ids.shape;
  if (!config.roberta) return tf.tile(tf.expandDims(tf.range(0, length, 1, 'int32'), 0), [rows, 1]) as tf.Tensor2D;
  const real = tf.cast(tf.notEqual(ids, tf.scalar(config.padTokenId, 'int32')), 'int32');
  return tf.cast(tf.add(tf.mul(tf.cumsum(real, 1), real), tf.scalar(config.padTokenId, 'int32')), 'int32') as tf.Tensor2D;
}

/**
 * The encoder's final token states [rows, length, d]: embeddings (word + position + segment,
 * LayerNorm, dropout), then `layers` post-LayerNorm blocks — multi-head self-attention with padding
 * masked out, scaled by 1/√(head size), then the feed-forward with GELU — as Hugging Face's
 * `BertModel` / `RobertaModel` compute them. Dropout is active when `training` (and replayable:
 * its randomness comes from Math.random).
 */
export function transformerForward(w: Weights, config: TransformerConfig, batch: TokenBatch, training: boolean): tf.Tensor3D {
  return tf.tidy(() => {
    const { hiddenSize: d, heads, layerNormEps: eps } = config;
    const ids = tf.cast(batch.inputIds, 'int32') as tf.Tensor2D;
    const [rows, length] = ids.shape;
    const flat = (t: tf.Tensor): tf.Tensor1D => tf.reshape(t, [rows * length]);
    const types = batch.tokenTypeIds === undefined ? tf.zeros([rows * length], 'int32') : flat(tf.cast(batch.tokenTypeIds, 'int32'));
    const embedded = tf.addN([
      tf.gather(w('embeddings.word_embeddings.weight'), flat(ids)),
      tf.gather(w('embeddings.position_embeddings.weight'), flat(positionIds(ids, config))),
      tf.gather(w('embeddings.token_type_embeddings.weight'), types),
    ]) as tf.Tensor2D;
    let x = dropout(layerNorm(embedded, w, 'embeddings.LayerNorm', eps), config.hiddenDropout, training);
    const dh = d / heads;
    const mask = tf.reshape(tf.mul(tf.sub(1, tf.cast(batch.attentionMask, 'float32')), MASKED), [rows, 1, 1, length]);
    // [rows·length, d] → [rows, heads, length, dh]; keys straight to [rows, heads, dh, length] (no transposed matMul).
    const heads4 = (t: tf.Tensor2D, order: number[]) => tf.transpose(tf.reshape(t, [rows, length, heads, dh]), order);
    for (let i = 0; i < config.layers; i++) {
      const p = `encoder.layer.${i}`;
      const q = heads4(tf.mul(linear(x, w, `${p}.attention.self.query`), 1 / Math.sqrt(dh)), [0, 2, 1, 3]);
      const k = heads4(linear(x, w, `${p}.attention.self.key`), [0, 2, 3, 1]);
      const v = heads4(linear(x, w, `${p}.attention.self.value`), [0, 2, 1, 3]);
      const probs = dropout(tf.softmax(tf.add(tf.matMul(q as tf.Tensor4D, k as tf.Tensor4D), mask)), config.attentionDropout, training);
      const context = tf.reshape(tf.transpose(tf.matMul(probs, v as tf.Tensor4D), [0, 2, 1, 3]), [rows * length, d]) as tf.Tensor2D;
      const attended = dropout(linear(context, w, `${p}.attention.output.dense`), config.hiddenDropout, training);
      const a = layerNorm(tf.add(attended, x), w, `${p}.attention.output.LayerNorm`, eps);
      const hidden = activate(linear(a, w, `${p}.intermediate.dense`), config.hiddenAct);
      const out = dropout(linear(hidden, w, `${p}.output.dense`), config.hiddenDropout, training);
      x = layerNorm(tf.add(out, a), w, `${p}.output.LayerNorm`, eps);
    }
    return tf.reshape(x, [rows, length, d]) as tf.Tensor3D;
  });
}
