import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, test } from 'vitest';
import { useBackend } from '@gradcache/testing';
import { convEncoder } from './conv-encoder.js';
import { layersEncoder } from './layers-encoder.js';
import { loadModel, saveModel } from './save-load.js';
import { textEncoder } from './text-encoder.js';

beforeAll(() => useBackend('cpu'));

describe('saveModel / loadModel', () => {
  test('round-trip a text encoder (custom layers) with bit-identical outputs, in the standard format', async () => {
    const { model, encoder } = textEncoder({ vocabSize: 30, maxLength: 8, dim: 8, heads: 2, layers: 1, normalize: true });
    const dir = await mkdtemp(join(tmpdir(), 'gradcache-'));
    await saveModel(model, dir);
    const json = JSON.parse(await readFile(join(dir, 'model.json'), 'utf8'));
    expect(json.format).toBe('layers-model');
    expect(json.weightsManifest[0].paths).toEqual(['./weights.bin']);
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
  });

  test('says which file it cannot read', async () => {
    await expect(loadModel('/nonexistent/dir')).rejects.toThrow(/loadModel: cannot read the model file \/nonexistent\/dir\/model\.json/);
  });
});
