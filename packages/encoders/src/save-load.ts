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
 * await saveModel(tower.model, './checkpoints/query-encoder');
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

/** Bytes a weights manifest entry takes in the weights file (float32/int32: 4, bool: 1; quantized: its own size). */
function weightBytes(spec: tf.io.WeightsManifestEntry): number {
  const size = spec.shape.reduce((a, b) => a * b, 1);
  if (spec.quantization !== undefined)
    return size * (spec.quantization.dtype === 'float16' || spec.quantization.dtype === 'uint16' ? 2 : 1);
  return size * (spec.dtype === 'bool' ? 1 : 4);
}

async function readPart(path: string, what: string): Promise<Buffer> {
  try {
    return await readFile(path);
  } catch (error) {
    throw new EncoderError(
      'INVALID_FILE',
      `loadModel: cannot read the ${what} ${path}: ${(error as Error).message}. Was it saved with saveModel?`,
    );
  }
}

/**
 * Loads a model saved by saveModel (or any single-shard tfjs layers model) from a directory. A
 * missing, truncated or malformed file gives an EncoderError INVALID_FILE, and nothing is left
 * allocated.
 */
export async function loadModel(directory: string): Promise<tfl.LayersModel> {
  const jsonPath = join(directory, MODEL_JSON);
  let json: tf.io.ModelJSON;
  try {
    json = JSON.parse((await readPart(jsonPath, 'model file')).toString('utf8')) as tf.io.ModelJSON;
  } catch (error) {
    if (error instanceof EncoderError) throw error;
    throw new EncoderError('INVALID_FILE', `loadModel: ${jsonPath} is not JSON: ${(error as Error).message}.`);
  }
  const manifest = json?.weightsManifest;
  if (
    typeof json !== 'object' ||
    json === null ||
    typeof json.modelTopology !== 'object' ||
    json.modelTopology === null ||
    !Array.isArray(manifest)
  ) {
    throw new EncoderError(
      'INVALID_FILE',
      `loadModel: ${jsonPath} is not a tfjs layers model (it needs modelTopology and weightsManifest).`,
    );
  }
  const buffers = await Promise.all(manifest.flatMap((group) => group.paths.map((p) => readPart(join(directory, p), 'weights file'))));
  const weightData = tf.io.concatenateArrayBuffers(
    buffers.map((b) => b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer),
  );
  const specs = manifest.flatMap((g) => g.weights);
  const expected = specs.reduce((total, spec) => total + weightBytes(spec), 0);
  if (weightData.byteLength !== expected) {
    throw new EncoderError(
      'INVALID_FILE',
      `loadModel: the weights in ${directory} hold ${weightData.byteLength} bytes but the manifest describes ${expected}; ` +
        'the file is truncated or belongs to another model. Save the model again.',
    );
  }
  const handler: tf.io.IOHandler = { load: async () => tf.io.getModelArtifactsForJSON(json, async () => [specs, weightData]) };
  // A model that fails while loading has already created some of its variables: free them.
  const before = new Set(Object.keys(tf.engine().registeredVariables));
  try {
    return await tfl.loadLayersModel(handler);
  } catch (error) {
    for (const [name, v] of Object.entries(tf.engine().registeredVariables)) if (!before.has(name)) v.dispose();
    throw new EncoderError('INVALID_FILE', `loadModel: ${jsonPath} could not be loaded as a layers model: ${(error as Error).message}`);
  }
}
