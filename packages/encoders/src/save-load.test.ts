import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';

import fc from 'fast-check';
import { beforeAll, describe, expect, test } from 'vitest';
import { useBackend } from '@gradcache/testing';
import { convEncoder } from './conv-encoder.js';
import { type LayersEncoder, layersEncoder } from './layers-encoder.js';
import { loadModel, saveModel } from './save-load.js';
import { textEncoder } from './text-encoder.js';
import type { EncoderError } from './errors.js';
import { mlpEncoder } from './mlp-encoder.js';

/** A small two-layer MLP's model. */
const tiny = () => mlpEncoder({ inputDim: 3, widths: [4, 2], seed: 1, name: `tiny${Math.random().toString(36).slice(2, 6)}` }).model;

beforeAll(() => useBackend('cpu'));

/** Loads the model in `dir` and checks it encodes a token batch to the same bits as `encoder`; frees both models. */
async function expectLoadsSame(dir: string, encoder: LayersEncoder, model: tfl.LayersModel): Promise<void> {
  const loaded = layersEncoder(await loadModel(dir));
  const batch = {
    inputIds: tf.tensor2d([[2, 5, 7, 3, 0, 0, 0, 0]], [1, 8], 'int32'),
    attentionMask: tf.tensor2d([[1, 1, 1, 1, 0, 0, 0, 0]]),
  };
  const [a, b] = [encoder.encode(batch, { training: false }), loaded.encode(batch, { training: false })];
  expect(Array.from(b.dataSync())).toEqual(Array.from(a.dataSync()));
  tf.dispose([a, b, batch]);
  model.dispose();
  loaded.model.dispose();
}

describe('saveModel / loadModel', () => {
  test('round-trip a text encoder (custom layers) with bit-identical outputs, in the standard format', async () => {
    const { model, encoder } = textEncoder({ vocabSize: 30, maxLength: 8, dim: 8, heads: 2, layers: 1, normalize: true });
    const dir = await mkdtemp(join(tmpdir(), 'gradcache-'));
    await saveModel(model, dir);
    const json = JSON.parse(await readFile(join(dir, 'model.json'), 'utf8'));
    expect(json.format).toBe('layers-model');
    expect(json.weightsManifest[0].paths).toEqual(['./weights.bin']);
    await expectLoadsSame(dir, encoder, model);
  });

  test('round-trip a CNN with BatchNorm statistics', async () => {
    const { model, encoder } = convEncoder({ inputShape: [28, 28, 1], widths: [4, 8] });
    const x = tf.randomNormal([2, 28, 28, 1], 0, 1, 'float32', 1);
    tf.dispose(encoder.encode(x, { training: true })); // moves the BatchNorm statistics off their initial values
    const dir = await mkdtemp(join(tmpdir(), 'gradcache-'));
    await saveModel(model, dir);
    const loaded = layersEncoder(await loadModel(dir));
    const [a, b] = [encoder.encode(x, { training: false }), loaded.encode(x, { training: false })];
    expect(Array.from(b.dataSync())).toEqual(Array.from(a.dataSync()));
    tf.dispose([a, b, x]);
    model.dispose();
    loaded.model.dispose();
  });

  test('loads a sharded model (weights in several files and groups, as the Keras converter writes them)', async () => {
    const { model, encoder } = textEncoder({ vocabSize: 30, maxLength: 8, dim: 8, heads: 2, layers: 1 });
    const dir = await mkdtemp(join(tmpdir(), 'gradcache-'));
    await saveModel(model, dir);
    const json = JSON.parse(await readFile(join(dir, 'model.json'), 'utf8'));
    const weights = await readFile(join(dir, 'weights.bin'));
    const specs = json.weightsManifest[0].weights as { shape: number[] }[];
    // Two groups; the first group's bytes in two shard files, cut mid-tensor.
    const half = Math.floor(specs.length / 2);
    const firstBytes = specs.slice(0, half).reduce((n, w) => n + 4 * w.shape.reduce((a, b) => a * b, 1), 0);
    const cut = Math.floor(firstBytes / 2) + 2;
    await writeFile(join(dir, 'group1-shard1of2.bin'), weights.subarray(0, cut));
    await writeFile(join(dir, 'group1-shard2of2.bin'), weights.subarray(cut, firstBytes));
    await writeFile(join(dir, 'group2-shard1of1.bin'), weights.subarray(firstBytes));
    await rm(join(dir, 'weights.bin'));
    json.weightsManifest = [
      { paths: ['group1-shard1of2.bin', 'group1-shard2of2.bin'], weights: specs.slice(0, half) },
      { paths: ['group2-shard1of1.bin'], weights: specs.slice(half) },
    ];
    await writeFile(join(dir, 'model.json'), JSON.stringify(json));
    await expectLoadsSame(dir, encoder, model);
  });

  test('says which file it cannot read', async () => {
    await expect(loadModel('/nonexistent/dir')).rejects.toThrow(/loadModel: cannot read the model file \/nonexistent\/dir\/model\.json/);
  });

  test('a manifest naming weights outside the folder, or malformed, is refused before any file is read; every byte change to model.json loads the same model or is INVALID_FILE', async () => {
    const model = tiny();
    const dir = await mkdtemp(join(tmpdir(), 'gradcache-hostile-'));
    await saveModel(model, dir);
    const secret = join(dir, '..', `secret-${Date.now()}.bin`);
    await writeFile(secret, new Uint8Array(4096));
    const json = JSON.parse(await readFile(join(dir, 'model.json'), 'utf8'));
    for (const path of [`../${secret.split('/').at(-1)}`, secret, '.', './']) {
      await writeFile(
        join(dir, 'model.json'),
        JSON.stringify({ ...json, weightsManifest: [{ ...json.weightsManifest[0], paths: [path] }] }),
      );
      await expect(loadModel(dir)).rejects.toThrowError(
        /names the weights file .*, which is not inside .*; a model's weights sit beside its model\.json/,
      );
    }
    for (const manifest of [
      [{ paths: 'weights.bin', weights: [] }],
      [null],
      [{ paths: ['./weights.bin'], weights: [{ name: 'w', shape: [-1] }] }],
    ]) {
      await writeFile(join(dir, 'model.json'), JSON.stringify({ ...json, weightsManifest: manifest }));
      await expect(loadModel(dir)).rejects.toThrowError(
        /weightsManifest entry 0 without \{ paths: \[file names\], weights: \[\{ name, shape, dtype/,
      );
    }
    const original = JSON.stringify(json);
    await writeFile(join(dir, 'model.json'), original);
    const reference = (await loadModel(dir)).getWeights().map((w) => Array.from(w.dataSync()));
    let refused = 0;
    await fc.assert(
      fc.asyncProperty(fc.nat(original.length - 1), fc.integer({ min: 32, max: 126 }), async (at, code) => {
        await writeFile(join(dir, 'model.json'), original.slice(0, at) + String.fromCharCode(code) + original.slice(at + 1));
        const tensors = tf.memory().numTensors;
        try {
          const loaded = await loadModel(dir);
          // A change tfjs ignores (a name, a config field it does not read) may load: then the weights are the same.
          expect(loaded.getWeights().map((w) => Array.from(w.dataSync()))).toEqual(reference);
          loaded.dispose();
        } catch (error) {
          refused += 1;
          expect((error as EncoderError).code, String(error)).toBe('INVALID_FILE');
        }
        expect(tf.memory().numTensors).toBe(tensors);
      }),
      { numRuns: 300, seed: 22 },
    );
    expect(refused).toBeGreaterThan(0);
    model.dispose();
  });
});
