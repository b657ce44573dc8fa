import * as tf from '@tensorflow/tfjs-core';
import { check } from './errors.js';

/** How token states become one vector per text, as sentence-transformers' Pooling module computes it. */
export type PoolingMode = 'cls' | 'max' | 'mean' | 'mean_sqrt_len';

/** The pooling of a model: one or more modes (concatenated in this order: cls, max, mean, mean_sqrt_len) and an optional L2 normalisation. */
export interface Pooling {
  readonly modes: readonly PoolingMode[];
  readonly normalize: boolean;
}

const ORDER: readonly PoolingMode[] = ['cls', 'max', 'mean', 'mean_sqrt_len'];
const FLAGS: Record<PoolingMode, string> = {
  cls: 'pooling_mode_cls_token',
  max: 'pooling_mode_max_tokens',
  mean: 'pooling_mode_mean_tokens',
  mean_sqrt_len: 'pooling_mode_mean_sqrt_len_tokens',
};

/** A module of a sentence-transformers folder (`modules.json`). */
export interface SentenceTransformersModule {
  idx: number;
  name: string;
  path: string;
  type: string;
}

/**
 * The pooling a sentence-transformers folder was trained with: `modules.json` lists the modules
 * (Transformer, Pooling, Normalize; a Dense or other module is refused, naming it), and the Pooling
 * module's `config.json` its modes. Weighted-mean and last-token pooling are refused (UNSUPPORTED_MODEL).
 */
export function parseSentenceTransformers(modules: unknown, poolingConfig: (path: string) => unknown, file = 'modules.json'): Pooling {
  check(Array.isArray(modules), 'INVALID_CONFIG', () => `loadPretrained: ${file} is not a list of modules.`);
  let modes: PoolingMode[] = ['mean'];
  let normalize = false;
  for (const m of modules as SentenceTransformersModule[]) {
    const type = String(m?.type ?? '');
    if (type.endsWith('.Transformer')) continue;
    if (type.endsWith('.Normalize')) {
      normalize = true;
      continue;
    }
    check(
      type.endsWith('.Pooling'),
      'UNSUPPORTED_MODEL',
      () => `loadPretrained: ${file} lists a ${type} module; only Transformer, Pooling and Normalize modules are supported.`,
    );
    const path = `${m.path}/config.json`;
    const c = poolingConfig(path) as Record<string, unknown> | undefined;
    check(typeof c === 'object' && c !== null, 'INVALID_CONFIG', () => `loadPretrained: ${path} is missing or not a JSON object.`);
    for (const flag of ['pooling_mode_weightedmean_tokens', 'pooling_mode_lasttoken']) {
      check(c[flag] !== true, 'UNSUPPORTED_MODEL', () => `loadPretrained: ${path} sets ${flag}; supported pooling: ${ORDER.join(', ')}.`);
    }
    modes = ORDER.filter((mode) => c[FLAGS[mode]] === true);
    check(modes.length > 0, 'INVALID_CONFIG', () => `loadPretrained: ${path} sets no pooling mode.`);
  }
  return { modes, normalize };
}

/** The sentence-transformers files that make a folder load with `pooling` (modules.json, the Pooling config, sentence_bert_config.json). */
export function sentenceTransformersFiles(pooling: Pooling, hiddenSize: number, maxLength: number): Record<string, unknown> {
  const modules: SentenceTransformersModule[] = [
    { idx: 0, name: '0', path: '', type: 'sentence_transformers.models.Transformer' },
    { idx: 1, name: '1', path: '1_Pooling', type: 'sentence_transformers.models.Pooling' },
    ...(pooling.normalize ? [{ idx: 2, name: '2', path: '2_Normalize', type: 'sentence_transformers.models.Normalize' }] : []),
  ];
  const flags = Object.fromEntries(ORDER.map((mode) => [FLAGS[mode], pooling.modes.includes(mode)]));
  return {
    'modules.json': modules,
    '1_Pooling/config.json': {
      word_embedding_dimension: hiddenSize,
      ...flags,
      pooling_mode_weightedmean_tokens: false,
      pooling_mode_lasttoken: false,
      include_prompt: true,
    },
    'sentence_bert_config.json': { max_seq_length: maxLength, do_lower_case: false },
  };
}

/** Checks a pooling given as an option. */
export function checkPooling(pooling: Pooling, where: string): void {
  check(
    Array.isArray(pooling?.modes) &&
      pooling.modes.length > 0 &&
      pooling.modes.every((m) => ORDER.includes(m)) &&
      typeof pooling.normalize === 'boolean',
    'INVALID_OPTION',
    () => `${where}: pooling must be { modes: (${ORDER.join(' | ')})[], normalize: boolean }, got ${JSON.stringify(pooling)}.`,
  );
}

/**
 * Token states [rows, length, d] → one vector per row, by `pooling`: the first token (CLS); the max,
 * mean or mean·√length over the tokens the mask keeps (padding never counts); then L2-normalised
 * (as torch's F.normalize, norm floored at 1e-12) if asked.
 */
export function pool(states: tf.Tensor3D, attentionMask: tf.Tensor2D, pooling: Pooling): tf.Tensor2D {
  return tf.tidy(() => {
    const [rows, , d] = states.shape;
    const m = tf.expandDims(tf.cast(attentionMask, 'float32'), 2);
    const count = tf.sum(m, 1);
    const parts = ORDER.filter((mode) => pooling.modes.includes(mode)).map((mode) => {
      if (mode === 'cls') return tf.reshape(tf.slice(states, [0, 0, 0], [rows, 1, d]), [rows, d]);
      // sentence-transformers sets padding to −1e9 before the max.
      if (mode === 'max') return tf.max(tf.add(tf.mul(states, m), tf.mul(tf.sub(1, m), -1e9)), 1);
      const sum = tf.sum(tf.mul(states, m), 1);
      return mode === 'mean' ? tf.div(sum, tf.maximum(count, 1e-9)) : tf.div(sum, tf.sqrt(tf.maximum(count, 1e-9)));
    });
    const pooled = (parts.length === 1 ? parts[0] : tf.concat(parts, 1)) as tf.Tensor2D;
    if (!pooling.normalize) return pooled;
    return tf.div(pooled, tf.maximum(tf.norm(pooled, 2, 1, true), 1e-12)) as tf.Tensor2D;
  });
}
