import * as tf from '@tensorflow/tfjs-core';
import type { EncodeContext, Encoder } from '@gradcache/core';
import { parseConfig, type TransformerConfig } from './config.js';
import { check, PretrainedError } from './errors.js';
import { checkPooling, parseSentenceTransformers, type Pooling, type PoolingMode, pool, sentenceTransformersFiles } from './pooling.js';
import { fromFloat32, parseSafetensors, type SafetensorsTensor, serializeSafetensors, toFloat32 } from './safetensors.js';
import { PretrainedTokenizer } from './tokenizer.js';
import { type TokenBatch, transformerForward } from './transformer.js';
import { parameterSpecs, planWeights, type WeightPlan } from './weights.js';

/** Where a model's files come from: a folder (Node), a base URL, File objects. */
export interface ModelSource {
  /** What to call it in messages: the folder, the URL. */
  readonly name: string;
  /**
   * The bytes of `path` ('/'-separated, relative to the model's root), or undefined when there is no
   * such file. With `maxBytes`, a larger file is refused (`tooLarge`) before it is read where the
   * source can tell its size first.
   */
  read(path: string, maxBytes?: number): Promise<Uint8Array | undefined>;
}

/** Options of `loadPretrained`. */
export interface LoadOptions {
  /** How token states become the rep: a mode, or modes and normalisation. Default: the sentence-transformers folder's, else mean, not normalised. */
  pooling?: PoolingMode | Pooling;
  /** Tokens per text, special tokens included. Default: sentence_bert_config.json's max_seq_length, else tokenizer_config.json's model_max_length, else what the position table allows. */
  maxLength?: number;
  /** The encoder's name, and the prefix of its variables' names (they must be unique). Default: the model type and a counter. */
  name?: string;
  /** Dropout while training, at the config's rates (replayed exactly by GradCache). Default true. */
  dropout?: boolean;
  /** Load it frozen (a teacher, a locked tower): variables not trainable, no gradient under GradCache. Default false. */
  frozen?: boolean;
}

/** What loading found in the checkpoint besides the encoder's parameters. */
export interface LoadReport {
  /** The tensors' name prefix (`bert.`, `roberta.`, or ''). */
  prefix: string;
  /** Tensors outside the encoder (heads such as `cls.*`, `lm_head.*`): not used, written back unchanged. */
  heads: string[];
  /** Tensors under the encoder's prefix it does not know: not used, written back unchanged. */
  unexpected: string[];
  /** The safetensors files read. */
  files: string[];
}

/** The encoder of a pretrained model, as GradCache takes it: token batches in, pooled reps out. */
export interface PretrainedEncoder extends Encoder<TokenBatch> {
  /** The pooled (and, if the model says so, normalised) rep of each row: [rows, d]. */
  encode(input: TokenBatch, context: EncodeContext): tf.Tensor2D;
}

/** The tokenizer and model files copied to a saved folder unchanged. */
const TOKENIZER_FILES = [
  'tokenizer.json',
  'tokenizer_config.json',
  'special_tokens_map.json',
  'vocab.txt',
  'vocab.json',
  'merges.txt',
  'added_tokens.json',
  'sentencepiece.bpe.model',
  'spiece.model',
];
const SENTENCE_TRANSFORMERS_FILES = ['modules.json', 'sentence_bert_config.json', 'config_sentence_transformers.json'];

let loaded = 0;

const decoder = new TextDecoder('utf-8');

/** No config or tokenizer file is this large (multilingual tokenizer.json files are ~20 MB). */
export const MAX_JSON_BYTES = 64 * 2 ** 20;

/** The error for a file over a source's `maxBytes`. */
export function tooLarge(where: string, size: number, maxBytes: number): PretrainedError {
  return new PretrainedError(
    'INVALID_CONFIG',
    `loadPretrained: ${where} is ${size} bytes, more than the ${maxBytes} a config or tokenizer file may have; it is not one.`,
  );
}

async function readJson(source: ModelSource, path: string): Promise<unknown> {
  const bytes = await source.read(path, MAX_JSON_BYTES);
  if (bytes === undefined) return undefined;
  try {
    return JSON.parse(decoder.decode(bytes));
  } catch (error) {
    throw new PretrainedError('INVALID_CONFIG', `loadPretrained: ${source.name}/${path} is not JSON (${(error as Error).message}).`);
  }
}

/** The checkpoint's tensors: model.safetensors, or the shards model.safetensors.index.json lists. */
async function readWeights(
  source: ModelSource,
): Promise<{ tensors: SafetensorsTensor[]; metadata: Record<string, string> | undefined; files: string[] }> {
  const single = await source.read('model.safetensors');
  if (single !== undefined) {
    const { tensors, metadata } = parseSafetensors(single, `${source.name}/model.safetensors`);
    return { tensors: [...tensors], metadata: metadata === undefined ? undefined : { ...metadata }, files: ['model.safetensors'] };
  }
  const index = (await readJson(source, 'model.safetensors.index.json')) as
    | { weight_map?: Record<string, string>; metadata?: unknown }
    | undefined;
  if (index !== undefined) {
    const map = index.weight_map;
    check(
      typeof map === 'object' && map !== null && Object.values(map).every((f) => typeof f === 'string' && /^[\w.-]+\.safetensors$/.test(f)),
      'INVALID_SAFETENSORS',
      () => `loadPretrained: ${source.name}/model.safetensors.index.json has no weight_map of tensor name → shard file name.`,
    );
    const files = [...new Set(Object.values(map))];
    const tensors: SafetensorsTensor[] = [];
    let metadata: Record<string, string> | undefined;
    for (const file of files) {
      const bytes = await source.read(file);
      check(
        bytes !== undefined,
        'MISSING_FILE',
        () => `loadPretrained: ${source.name}/model.safetensors.index.json names ${file}, which is not there.`,
      );
      const shard = parseSafetensors(bytes, `${source.name}/${file}`);
      metadata ??= shard.metadata === undefined ? undefined : { ...shard.metadata };
      tensors.push(...shard.tensors);
    }
    return { tensors, metadata, files };
  }
  for (const other of ['pytorch_model.bin', 'pytorch_model.bin.index.json', 'tf_model.h5', 'flax_model.msgpack']) {
    if ((await source.read(other)) !== undefined) {
      throw new PretrainedError(
        'NO_SAFETENSORS',
        `loadPretrained: ${source.name} has ${other} but no model.safetensors; this package reads safetensors only (a .bin is a pickle that can run code). ` +
          `Convert it once with Python: python -c "from transformers import AutoModel; AutoModel.from_pretrained('${source.name}').save_pretrained('${source.name}', safe_serialization=True)"`,
      );
    }
  }
  throw new PretrainedError(
    'MISSING_FILE',
    `loadPretrained: ${source.name} has no model.safetensors (nor model.safetensors.index.json); point at a Hugging Face model folder.`,
  );
}

/**
 * A Hugging Face text encoder (BERT family, RoBERTa family; sentence-transformers folders included)
 * as trainable tfjs variables: its `encoder` goes straight into GradCache (token batches in, pooled
 * reps out, dropout replayed exactly), its `tokenizer` makes those batches, and `toFiles()` writes it
 * back in the same layout — safetensors with the original tensor names and dtypes — so PyTorch and
 * sentence-transformers load the fine-tuned model unchanged.
 */
export class PretrainedModel {
  /** The checked config. */
  readonly config: TransformerConfig;
  readonly tokenizer: PretrainedTokenizer;
  readonly pooling: Pooling;
  /** Tokens per text the tokenizer keeps. */
  readonly maxLength: number;
  /** The encoder's parameters by checkpoint name (without the prefix), in tfjs layout: Linear weights [in, out]. */
  readonly variables: ReadonlyMap<string, tf.Variable>;
  /** For GradCache (and fit, verify, …): token batches in, [rows, d] reps out. */
  readonly encoder: PretrainedEncoder;
  readonly report: LoadReport;

  private constructor(
    parts: {
      config: TransformerConfig;
      tokenizer: PretrainedTokenizer;
      pooling: Pooling;
      maxLength: number;
      variables: Map<string, tf.Variable>;
      report: LoadReport;
    },
    private readonly plan: WeightPlan,
    private readonly metadata: Record<string, string> | undefined,
    /** Files copied to a saved folder unchanged, by path. */
    private readonly copied: ReadonlyMap<string, Uint8Array>,
    /** The sentence-transformers files to copy (the folder's own), or undefined to write them from `pooling`. */
    private readonly sentenceTransformers: ReadonlyMap<string, Uint8Array> | undefined,
    options: { name: string; dropout: boolean; frozen: boolean },
  ) {
    this.config = parts.config;
    this.tokenizer = parts.tokenizer;
    this.pooling = parts.pooling;
    this.maxLength = parts.maxLength;
    this.variables = parts.variables;
    this.report = parts.report;
    const variables = [...parts.variables.values()];
    const { dropout } = options;
    this.encoder = {
      name: options.name,
      trainableVariables: options.frozen ? [] : variables,
      ...(options.frozen ? { frozen: true } : {}),
      encode: (input, context) =>
        tf.tidy(() => pool(this.forward(input, { training: context.training && dropout }), input.attentionMask, this.pooling)),
    };
  }

  /** Builds a model from a source's files (see `loadPretrained`). */
  static async load(source: ModelSource, options: LoadOptions = {}): Promise<PretrainedModel> {
    const configJson = await readJson(source, 'config.json');
    check(
      configJson !== undefined,
      'MISSING_FILE',
      () =>
        `loadPretrained: ${source.name} has no config.json; point at a Hugging Face model folder (config.json, model.safetensors, tokenizer.json).`,
    );
    const config = parseConfig(configJson, `${source.name}/config.json`);
    const { tensors, metadata, files } = await readWeights(source);
    const plan = planWeights(config, tensors, `${source.name}/${files.join(', ')}`);

    // The sentence-transformers modules, if this is such a folder.
    const modules = await readJson(source, 'modules.json');
    const stFiles = new Map<string, Uint8Array>();
    let pooling: Pooling = { modes: ['mean'], normalize: false };
    let stMaxLength: number | undefined;
    if (modules !== undefined) {
      const configs = new Map<string, unknown>();
      for (const m of Array.isArray(modules) ? (modules as { path?: unknown; type?: unknown }[]) : []) {
        if (!String(m?.type ?? '').endsWith('.Pooling')) continue;
        const path = `${String(m.path)}/config.json`;
        check(
          /^[\w.-]+\/config\.json$/.test(path),
          'INVALID_CONFIG',
          () => `loadPretrained: ${source.name}/modules.json names the module path ${JSON.stringify(m.path)}.`,
        );
        configs.set(path, await readJson(source, path));
        const bytes = await source.read(path);
        if (bytes !== undefined) stFiles.set(path, bytes);
      }
      pooling = parseSentenceTransformers(modules, (path) => configs.get(path), `${source.name}/modules.json`);
      for (const file of SENTENCE_TRANSFORMERS_FILES) {
        const bytes = await source.read(file);
        if (bytes !== undefined) stFiles.set(file, bytes);
      }
      const st = (await readJson(source, 'sentence_bert_config.json')) as { max_seq_length?: unknown } | undefined;
      if (Number.isInteger(st?.max_seq_length)) stMaxLength = st?.max_seq_length as number;
    }
    const overridden = options.pooling !== undefined;
    if (options.pooling !== undefined) {
      pooling = typeof options.pooling === 'string' ? { modes: [options.pooling], normalize: false } : options.pooling;
      checkPooling(pooling, 'loadPretrained');
    }

    // The tokenizer: tokenizer.json, else a BERT vocab.txt.
    const tokenizerConfig = ((await readJson(source, 'tokenizer_config.json')) ?? {}) as Record<string, unknown>;
    const modelMax = tokenizerConfig['model_max_length'];
    const maxLength =
      options.maxLength ??
      stMaxLength ??
      (Number.isInteger(modelMax) && (modelMax as number) <= config.maxLength ? (modelMax as number) : config.maxLength);
    check(
      Number.isInteger(maxLength) && maxLength >= 2 && maxLength <= config.maxLength,
      'INVALID_OPTION',
      () => `loadPretrained: maxLength must be an integer in [2, ${config.maxLength}] (the position table's size), got ${maxLength}.`,
    );
    const tokenizerJson = await readJson(source, 'tokenizer.json');
    let tokenizer: PretrainedTokenizer;
    if (tokenizerJson !== undefined) {
      tokenizer = PretrainedTokenizer.fromJson(tokenizerJson, tokenizerConfig, {
        maxLength,
        padId: config.padTokenId,
        file: `${source.name}/tokenizer.json`,
      });
    } else {
      const vocab = await source.read('vocab.txt', MAX_JSON_BYTES);
      check(
        vocab !== undefined && config.modelType === 'bert',
        'MISSING_FILE',
        () =>
          `loadPretrained: ${source.name} has no tokenizer.json${config.modelType === 'bert' ? ' nor vocab.txt' : ''}; save the tokenizer with the model (tokenizer.save_pretrained).`,
      );
      tokenizer = PretrainedTokenizer.fromVocab(decoder.decode(vocab), {
        lowercase: tokenizerConfig['do_lower_case'] !== false,
        maxLength,
        padId: config.padTokenId,
        file: `${source.name}/vocab.txt`,
      });
    }
    const copied = new Map<string, Uint8Array>();
    for (const file of ['config.json', ...TOKENIZER_FILES]) {
      const bytes = await source.read(file);
      if (bytes !== undefined) copied.set(file, bytes);
    }

    // The variables: names unique in the engine, Linear weights transposed to tfjs's [in, out].
    const name = options.name ?? `${config.modelType}_${++loaded}`;
    const registered = tf.engine().registeredVariables;
    check(
      !Object.keys(registered).some((n) => n.startsWith(`${name}/`)),
      'INVALID_OPTION',
      () => `loadPretrained: variables named '${name}/…' exist already; give this model another name (options.name).`,
    );
    const frozen = options.frozen === true;
    const variables = new Map<string, tf.Variable>();
    try {
      for (const spec of parameterSpecs(config)) {
        const tensor = plan.parameters.get(spec.name) as SafetensorsTensor;
        const value = tf.tidy(() => {
          const t = tf.tensor(toFloat32(tensor), [...spec.shape], 'float32');
          return spec.transpose ? tf.transpose(t) : t;
        });
        variables.set(spec.name, tf.variable(value, !frozen, `${name}/${spec.name}`));
        value.dispose();
      }
    } catch (error) {
      tf.dispose([...variables.values()]);
      throw error;
    }
    const report: LoadReport = { prefix: plan.prefix, heads: [...plan.heads], unexpected: [...plan.unexpected], files };
    return new PretrainedModel(
      { config, tokenizer, pooling, maxLength, variables, report },
      plan,
      metadata,
      copied,
      modules !== undefined && !overridden ? stFiles : undefined,
      { name, dropout: options.dropout !== false, frozen },
    );
  }

  /** The final token states [rows, length, d] (no pooling); dropout only when `training`. */
  forward(input: TokenBatch, context: EncodeContext = { training: false }): tf.Tensor3D {
    check(
      input?.inputIds instanceof tf.Tensor && input.inputIds.rank === 2 && input.attentionMask instanceof tf.Tensor,
      'INVALID_OPTION',
      () =>
        `${this.encoder.name}: the batch must be { inputIds, attentionMask } of [rows, length] tensors (PretrainedTokenizer.encode makes it).`,
    );
    const length = input.inputIds.shape[1];
    check(
      length <= this.config.maxLength,
      'INVALID_OPTION',
      () =>
        `${this.encoder.name}: the batch has ${length} tokens per row; the position table holds ${this.config.maxLength}. Tokenize with a smaller maxLength.`,
    );
    const w = (name: string) => this.variables.get(name) as tf.Variable;
    return transformerForward(w, this.config, input, context.training);
  }

  /**
   * Texts → reps [texts, d] for inference (no dropout, no tape), `batchSize` texts at a time; the caller
   * owns the tensor.
   */
  embed(texts: readonly string[], options: { batchSize?: number } = {}): tf.Tensor2D {
    const { batchSize = 64 } = options;
    check(
      Number.isInteger(batchSize) && batchSize > 0,
      'INVALID_OPTION',
      () => `embed: batchSize must be a positive integer, got ${batchSize}.`,
    );
    const parts: tf.Tensor2D[] = [];
    for (let begin = 0; begin < texts.length; begin += batchSize) {
      parts.push(
        tf.tidy((): tf.Tensor2D => {
          const batch = this.tokenizer.encode(texts.slice(begin, begin + batchSize));
          return this.encoder.encode(batch, { training: false });
        }),
      );
    }
    const out = tf.concat(parts, 0) as tf.Tensor2D;
    tf.dispose(parts);
    return out;
  }

  /**
   * The model as the files of a Hugging Face folder, by path: `model.safetensors` with every tensor
   * of the checkpoint under its original name and dtype (the encoder's with their current values,
   * heads and buffers unchanged), `config.json` and the tokenizer files as they were read, and the
   * sentence-transformers files (the folder's own, or written from `pooling`). `folders` are the
   * empty folders sentence-transformers expects (`2_Normalize`). Reads the variables asynchronously.
   */
  async toFiles(): Promise<{ files: Map<string, Uint8Array>; folders: string[] }> {
    const specs = new Map(parameterSpecs(this.config).map((s) => [s.name, s]));
    const tensors: SafetensorsTensor[] = [...this.plan.carried];
    for (const [name, variable] of this.variables) {
      const original = this.plan.parameters.get(name) as SafetensorsTensor;
      const value = (specs.get(name) as { transpose: boolean }).transpose ? tf.transpose(variable) : variable;
      const values = (await value.data()) as Float32Array;
      if (value !== variable) value.dispose();
      tensors.push({ name: original.name, dtype: original.dtype, shape: original.shape, bytes: fromFloat32(values, original.dtype) });
    }
    const files = new Map(this.copied);
    files.set('model.safetensors', serializeSafetensors(tensors, this.metadata));
    const encoded = (value: unknown) => new TextEncoder().encode(`${JSON.stringify(value, null, 2)}\n`);
    if (this.sentenceTransformers !== undefined) {
      for (const [path, bytes] of this.sentenceTransformers) files.set(path, bytes);
    } else {
      for (const [path, value] of Object.entries(sentenceTransformersFiles(this.pooling, this.config.hiddenSize, this.maxLength)))
        files.set(path, encoded(value));
    }
    const modules = JSON.parse(decoder.decode(files.get('modules.json') as Uint8Array)) as { path: string; type: string }[];
    const folders = modules.filter((m) => m.type.endsWith('.Normalize') && m.path !== '').map((m) => m.path);
    return { files, folders };
  }

  /** Frees the variables. */
  dispose(): void {
    tf.dispose([...this.variables.values()]);
  }
}

/**
 * Loads a Hugging Face text encoder — a BERT-family or RoBERTa-family model folder, with
 * `config.json`, `model.safetensors` (or shards) and `tokenizer.json` (or a BERT `vocab.txt`), and a
 * sentence-transformers folder's pooling and normalisation — from any `ModelSource`: `urlSource`
 * and `fileSource` here, a folder with `@gradcache/pretrained/node`. Nothing is downloaded unless
 * the source fetches. Bad files are PretrainedErrors naming the file and the problem.
 *
 * ```ts
 * const model = await loadPretrained(urlSource('https://example.com/models/bge-small'));
 * const gradCache = new GradCache({ encoders: [model.encoder, model.encoder], chunkSize: 32, loss });
 * ```
 */
export function loadPretrained(source: ModelSource, options: LoadOptions = {}): Promise<PretrainedModel> {
  check(
    typeof source === 'object' && source !== null && typeof source.read === 'function',
    'INVALID_OPTION',
    () =>
      'loadPretrained: source must be a ModelSource ({ name, read(path) }): urlSource(url), fileSource(files), or a folder path with @gradcache/pretrained/node.',
  );
  return PretrainedModel.load(source, options);
}
