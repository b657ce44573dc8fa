import { copyFile, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import type { Batch, Encoder } from '@gradcache/core';
import { layersEncoder, loadModel, saveModel } from '@gradcache/encoders/node';
import { loadPretrained, PretrainedTokenizer, savePretrained } from '@gradcache/pretrained/node';
import { UsageError } from './args.js';

/** A text encoder the commands train, encode with and save: a Hugging Face folder, or a saved tfjs model with its tokenizer. */
export interface TextModel {
  /** What it is, for the first line of output. */
  readonly description: string;
  readonly encoder: Encoder;
  readonly tokenizer: { encode(texts: readonly string[]): Batch };
  /** Its trainable variables in a fixed order (the optimizer's, a checkpoint's). */
  readonly variables: tf.Variable[];
  /** Writes it in the format it was read in. */
  save(dir: string): Promise<void>;
  dispose(): void;
}

const exists = (path: string) =>
  stat(path).then(
    () => true,
    () => false,
  );

/** The tokenizer files copied beside a saved tfjs model. */
const TOKENIZER_FILES = ['tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json', 'vocab.txt'];

/**
 * `--model <dir>`: a Hugging Face folder (config.json: BERT or RoBERTa family, sentence-transformers
 * pooling) or a tfjs layers model (model.json, as `saveModel` writes) whose inputs are
 * `inputIds`/`attentionMask` and output [rows, d], with a tokenizer.json or vocab.txt beside it.
 */
export async function loadTextModel(dir: string, options: { maxLength?: number } = {}): Promise<TextModel> {
  if (await exists(join(dir, 'config.json'))) {
    const model = await loadPretrained(dir, options.maxLength === undefined ? {} : { maxLength: options.maxLength });
    const { config, pooling } = model;
    return {
      description: `${config.modelType} (${config.layers} layers, width ${config.hiddenSize}, ${pooling.modes.join('+')} pooling${pooling.normalize ? ', normalised' : ''}) from ${dir}`,
      encoder: model.encoder,
      tokenizer: model.tokenizer,
      variables: [...model.variables.values()],
      save: async (out) => void (await savePretrained(model, out)),
      dispose: () => model.dispose(),
    };
  }
  if (await exists(join(dir, 'model.json'))) {
    let model: tfl.LayersModel;
    try {
      model = await loadModel(dir);
    } catch (error) {
      throw new UsageError(`--model: ${(error as Error).message}`);
    }
    const maxLength = options.maxLength ?? (model.inputs[0]?.shape[1] as number | null) ?? 512;
    const tokenizerJson = join(dir, 'tokenizer.json');
    let tokenizer: PretrainedTokenizer;
    if (await exists(tokenizerJson)) {
      const config = (await exists(join(dir, 'tokenizer_config.json')))
        ? JSON.parse(await readFile(join(dir, 'tokenizer_config.json'), 'utf8'))
        : {};
      tokenizer = PretrainedTokenizer.fromJson(JSON.parse(await readFile(tokenizerJson, 'utf8')), config, {
        maxLength,
        padId: 0,
        file: tokenizerJson,
      });
    } else if (await exists(join(dir, 'vocab.txt'))) {
      tokenizer = PretrainedTokenizer.fromVocab(await readFile(join(dir, 'vocab.txt'), 'utf8'), { lowercase: true, maxLength, padId: 0 });
    } else {
      model.dispose();
      throw new UsageError(`--model: ${dir} holds a tfjs model but no tokenizer.json or vocab.txt to make its token ids.`);
    }
    const encoder = layersEncoder(model);
    return {
      description: `tfjs layers model '${model.name}' from ${dir}`,
      encoder,
      tokenizer,
      variables: [...encoder.trainableVariables],
      save: async (out) => {
        await saveModel(model, out);
        for (const file of TOKENIZER_FILES) if (await exists(join(dir, file))) await copyFile(join(dir, file), join(out, file));
      },
      dispose: () => model.dispose(),
    };
  }
  throw new UsageError(`--model: ${dir} has neither config.json (a Hugging Face model folder) nor model.json (a tfjs model).`);
}
