import type { TransformerConfig } from './config.js';
import { check } from './errors.js';
import { FLOAT_DTYPES, type SafetensorsTensor } from './safetensors.js';

/** One trainable parameter of the encoder, by its checkpoint name (without the model's prefix). */
export interface ParameterSpec {
  readonly name: string;
  /** The shape in the checkpoint (PyTorch's: a Linear weight is [out, in]). */
  readonly shape: readonly number[];
  /** A Linear weight: kept transposed ([in, out]) as a tfjs matMul operand, transposed back on save. */
  readonly transpose: boolean;
}

/** Every trainable parameter of a BERT/RoBERTa encoder with this config, in a fixed order. */
export function parameterSpecs(config: TransformerConfig): ParameterSpec[] {
  const { hiddenSize: d, intermediateSize: f, vocabSize, maxPositions, typeVocabSize } = config;
  const specs: ParameterSpec[] = [];
  const add = (name: string, shape: number[], transpose = false) => specs.push({ name, shape, transpose });
  const linear = (name: string, out: number, inputs: number) => {
    add(`${name}.weight`, [out, inputs], true);
    add(`${name}.bias`, [out]);
  };
  const layerNorm = (name: string) => {
    add(`${name}.weight`, [d]);
    add(`${name}.bias`, [d]);
  };
  add('embeddings.word_embeddings.weight', [vocabSize, d]);
  add('embeddings.position_embeddings.weight', [maxPositions, d]);
  add('embeddings.token_type_embeddings.weight', [typeVocabSize, d]);
  layerNorm('embeddings.LayerNorm');
  for (let i = 0; i < config.layers; i++) {
    const p = `encoder.layer.${i}`;
    for (const n of ['query', 'key', 'value']) linear(`${p}.attention.self.${n}`, d, d);
    linear(`${p}.attention.output.dense`, d, d);
    layerNorm(`${p}.attention.output.LayerNorm`);
    linear(`${p}.intermediate.dense`, f, d);
    linear(`${p}.output.dense`, d, f);
    layerNorm(`${p}.output.LayerNorm`);
  }
  return specs;
}

/** Names under the prefix that are the model's but not trained here: written back unchanged. */
const KNOWN_EXTRAS = /^(embeddings\.position_ids|pooler\.dense\.(weight|bias))$/;

/** How a checkpoint's tensors map onto the encoder. */
export interface WeightPlan {
  /** What the checkpoint's names start with before `embeddings.` (`bert.`, `roberta.`, or ''). */
  readonly prefix: string;
  /** Each parameter's tensor, by parameter name. */
  readonly parameters: ReadonlyMap<string, SafetensorsTensor>;
  /** Every other tensor of the checkpoint (pooler, buffers, heads), written back unchanged on save. */
  readonly carried: readonly SafetensorsTensor[];
  /** Tensors outside the encoder (heads such as `cls.*`, `lm_head.*`): not used. */
  readonly heads: readonly string[];
  /** Tensors under the encoder's prefix that it does not know: not used, reported. */
  readonly unexpected: readonly string[];
}

/**
 * Maps a checkpoint's tensors onto the encoder's parameters: finds the prefix (`bert.`, `roberta.`,
 * none, …) from the word embeddings' name, accepts LayerNorm's old `gamma`/`beta` names, and checks
 * every parameter is there with its shape and a float dtype. Missing parameters are one
 * MISSING_WEIGHTS error listing them; a wrong shape or dtype an INVALID_WEIGHTS error naming the
 * tensor. Heads and unknown tensors are reported, not refused.
 */
export function planWeights(config: TransformerConfig, tensors: readonly SafetensorsTensor[], file: string): WeightPlan {
  const byName = new Map(tensors.map((t) => [t.name, t]));
  const anchor = tensors.find((t) => t.name.endsWith('embeddings.word_embeddings.weight'));
  check(
    anchor !== undefined,
    'MISSING_WEIGHTS',
    () =>
      `loadPretrained: ${file} holds no '…embeddings.word_embeddings.weight'; it is not a ${config.modelType} checkpoint (its tensors: ${tensors
        .slice(0, 5)
        .map((t) => t.name)
        .join(', ')}${tensors.length > 5 ? ', …' : ''}).`,
  );
  const prefix = anchor.name.slice(0, -'embeddings.word_embeddings.weight'.length);
  const parameters = new Map<string, SafetensorsTensor>();
  const missing: string[] = [];
  for (const spec of parameterSpecs(config)) {
    const old = spec.name.replace(/LayerNorm\.weight$/, 'LayerNorm.gamma').replace(/LayerNorm\.bias$/, 'LayerNorm.beta');
    const tensor = byName.get(prefix + spec.name) ?? byName.get(prefix + old);
    if (tensor === undefined) {
      missing.push(prefix + spec.name);
      continue;
    }
    check(
      FLOAT_DTYPES.includes(tensor.dtype),
      'INVALID_WEIGHTS',
      () => `loadPretrained: ${file} stores '${tensor.name}' as ${tensor.dtype}; a parameter must be F32, F16, BF16 or F64.`,
    );
    check(
      tensor.shape.length === spec.shape.length && tensor.shape.every((n, k) => n === spec.shape[k]),
      'INVALID_WEIGHTS',
      () => `loadPretrained: ${file} has '${tensor.name}' of shape [${tensor.shape}], but config.json implies [${spec.shape}].`,
    );
    parameters.set(spec.name, tensor);
  }
  check(
    missing.length === 0,
    'MISSING_WEIGHTS',
    () =>
      `loadPretrained: ${file} lacks ${missing.length} of the encoder's tensors: ${missing.slice(0, 8).join(', ')}${missing.length > 8 ? ', …' : ''}. ` +
      'The checkpoint does not match its config.json (another architecture or size?).',
  );
  const used = new Set([...parameters.values()]);
  const carried = tensors.filter((t) => !used.has(t));
  return {
    prefix,
    parameters,
    carried,
    heads: carried.filter((t) => !t.name.startsWith(prefix)).map((t) => t.name),
    unexpected: carried.filter((t) => t.name.startsWith(prefix) && !KNOWN_EXTRAS.test(t.name.slice(prefix.length))).map((t) => t.name),
  };
}
