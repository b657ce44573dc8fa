import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join, relative, resolve, isAbsolute } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { EncoderError } from './errors.js';

const MODEL_JSON = 'model.json';
const WEIGHTS_BIN = 'weights.bin';
/** tfjs's rule for tensor (and so layer) names. */
const VALID_NAME = /^[A-Za-z0-9][-A-Za-z0-9._/]*$/;

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
  const groupProblem = manifest.findIndex(
    (group) =>
      typeof group !== 'object' ||
      group === null ||
      !Array.isArray(group.paths) ||
      !group.paths.every((p) => typeof p === 'string') ||
      !Array.isArray(group.weights) ||
      !group.weights.every(
        (w) =>
          typeof w?.name === 'string' &&
          Array.isArray(w.shape) &&
          w.shape.every((d) => Number.isSafeInteger(d) && d >= 0) &&
          ['float32', 'int32', 'bool'].includes(w.dtype) &&
          (w.quantization === undefined || ['uint8', 'uint16', 'float16'].includes(w.quantization?.dtype)),
      ),
  );
  if (groupProblem !== -1) {
    throw new EncoderError(
      'INVALID_FILE',
      `loadModel: ${jsonPath} has weightsManifest entry ${groupProblem} without { paths: [file names], weights: [{ name, shape, dtype: float32 | int32 | bool }] }.`,
    );
  }
  // tfjs throws on a layer name that is not a valid tensor name only after making some tensors: check first.
  type Topology = { config?: { layers?: unknown } };
  const topologyConfig = ((json.modelTopology as { model_config?: Topology }).model_config ?? (json.modelTopology as Topology)).config;
  const layers = Array.isArray(topologyConfig?.layers) ? (topologyConfig.layers as { config?: { name?: unknown }; name?: unknown }[]) : [];
  const badName = layers
    .flatMap((layer) => [layer?.name, layer?.config?.name])
    .find((name) => name !== undefined && (typeof name !== 'string' || !VALID_NAME.test(name)));
  if (badName !== undefined) {
    throw new EncoderError(
      'INVALID_FILE',
      `loadModel: ${jsonPath} has the layer name ${JSON.stringify(badName)}, which tfjs cannot use (letters, digits, - . _ /).`,
    );
  }
  // Weights files live in the model's folder: a path that leaves it (../, absolute) is refused unread.
  const paths = manifest.flatMap((group) => group.paths);
  const outside = paths.find((p) => {
    const rel = relative(resolve(directory), resolve(directory, p));
    return rel === '' || rel.startsWith('..') || isAbsolute(rel);
  });
  if (outside !== undefined) {
    throw new EncoderError(
      'INVALID_FILE',
      `loadModel: ${jsonPath} names the weights file ${JSON.stringify(outside)}, which is not inside ${directory}; a model's weights sit beside its model.json.`,
    );
  }
  const buffers = await Promise.all(paths.map((p) => readPart(join(directory, p), 'weights file')));
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
  // The topology first (its variables hold their initial values), then the weights, decoded here so
  // that a failure frees them: tfjs's loadLayersModel leaks the decoded weights when they do not fit.
  const topology: tf.io.IOHandler = { load: async () => ({ modelTopology: json.modelTopology }) };
  const before = new Set(Object.keys(tf.engine().registeredVariables));
  let model: tfl.LayersModel | undefined;
  let weights: tf.NamedTensorMap = {};
  try {
    model = await tfl.loadLayersModel(topology);
    weights = tf.io.decodeWeights(weightData, specs);
    model.loadWeights(weights, true);
    return model;
  } catch (error) {
    model?.dispose();
    // A model that fails while building has already created some of its variables: free them.
    for (const [name, v] of Object.entries(tf.engine().registeredVariables)) if (!before.has(name)) v.dispose();
    throw new EncoderError('INVALID_FILE', `loadModel: ${jsonPath} could not be loaded as a layers model: ${(error as Error).message}`);
  } finally {
    tf.dispose(weights);
  }
}
