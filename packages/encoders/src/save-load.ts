import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { EncoderError } from './errors.js';

const MODEL_JSON = 'model.json';
const WEIGHTS_BIN = 'weights.bin';

function concatBuffers(data: tf.io.WeightData): ArrayBuffer {
  return Array.isArray(data) ? tf.io.concatenateArrayBuffers(data) : (data as ArrayBuffer);
}

/**
 * Saves a model in the standard tfjs layers format — `model.json` (topology + weights manifest)
 * and `weights.bin` — to a directory, from Node, without tfjs-node. `tf.loadLayersModel` (with
 * tfjs-node's file://, or over http in a browser) and `loadModel` read it.
 *
 * ```ts
 * await saveModel(encoder.model, './checkpoints/query-encoder');
 * ```
 */
export async function saveModel(model: tfl.LayersModel, directory: string): Promise<tf.io.SaveResult> {
  return model.save(
    tf.io.withSaveHandler(async (artifacts) => {
      await mkdir(directory, { recursive: true });
      const weightData = artifacts.weightData === undefined ? new ArrayBuffer(0) : concatBuffers(artifacts.weightData);
      const modelJson: tf.io.ModelJSON = {
        modelTopology: artifacts.modelTopology as object,
        format: artifacts.format ?? 'layers-model',
        generatedBy: artifacts.generatedBy ?? `TensorFlow.js tfjs-layers v${tfl.version_layers}`,
        convertedBy: artifacts.convertedBy ?? null,
        weightsManifest: [{ paths: [`./${WEIGHTS_BIN}`], weights: artifacts.weightSpecs ?? [] }],
      };
      await writeFile(join(directory, MODEL_JSON), JSON.stringify(modelJson));
      await writeFile(join(directory, WEIGHTS_BIN), new Uint8Array(weightData));
      return { modelArtifactsInfo: tf.io.getModelArtifactsInfoForJSON(artifacts) };
    }),
  );
}

/** Loads a model saved by saveModel (or any single-shard tfjs layers model) from a directory. */
export async function loadModel(directory: string): Promise<tfl.LayersModel> {
  const handler: tf.io.IOHandler = {
    load: async () => {
      let json: tf.io.ModelJSON;
      try {
        json = JSON.parse(await readFile(join(directory, MODEL_JSON), 'utf8')) as tf.io.ModelJSON;
      } catch (error) {
        throw new EncoderError('INVALID_FILE', `loadModel: cannot read ${join(directory, MODEL_JSON)}: ${(error as Error).message}.`);
      }
      const manifest = json.weightsManifest ?? [];
      const buffers = await Promise.all(manifest.flatMap((group) => group.paths.map((p) => readFile(join(directory, p)))));
      const weightData = tf.io.concatenateArrayBuffers(buffers.map((b) => b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer));
      return tf.io.getModelArtifactsForJSON(json, async () => [manifest.flatMap((g) => g.weights), weightData]);
    },
  };
  return tfl.loadLayersModel(handler);
}
