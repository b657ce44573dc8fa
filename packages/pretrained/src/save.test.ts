import { mkdtemp, readdir, readFile, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, test } from 'vitest';
import { GradCache } from '@gradcache/core';
import { initBackend } from '@gradcache/backend/node';
import { EXPECTED, FIXTURES, MODELS, memorySource } from './fixtures.test-helper.js';
import { loadPretrained, savePretrained } from './node.js';
import { parseSafetensors } from './safetensors.js';

beforeAll(async () => {
  tf.env().set('PROD', true);
  await initBackend('wasm');
});

const values = async (m: { variables: ReadonlyMap<string, tf.Variable> }) =>
  Object.fromEntries(await Promise.all([...m.variables].map(async ([n, v]) => [n, Array.from(await v.data())] as const)));

describe.each(MODELS)('savePretrained (%s)', (name) => {
  test('load → save → load is bit-identical: every tensor, name, dtype and byte; config and tokenizer files copied', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'gradcache-save-'));
    const model = await loadPretrained(join(FIXTURES, name));
    const written = await savePretrained(model, dir);
    expect(written).toContain('model.safetensors');
    const original = parseSafetensors(new Uint8Array(await readFile(join(FIXTURES, name, 'model.safetensors'))));
    const saved = parseSafetensors(new Uint8Array(await readFile(join(dir, 'model.safetensors'))));
    expect(saved.metadata).toEqual(original.metadata);
    const byName = new Map(saved.tensors.map((t) => [t.name, t]));
    for (const t of original.tensors) {
      const s = byName.get(t.name);
      expect(s, t.name).toBeDefined();
      expect([s?.dtype, s?.shape]).toEqual([t.dtype, t.shape]);
      expect(Buffer.from(s?.bytes ?? []).equals(Buffer.from(t.bytes)), t.name).toBe(true);
    }
    expect(saved.tensors).toHaveLength(original.tensors.length);
    for (const file of [
      'config.json',
      'tokenizer.json',
      'tokenizer_config.json',
      'modules.json',
      '1_Pooling/config.json',
      'sentence_bert_config.json',
    ]) {
      expect((await readFile(join(dir, file))).equals(await readFile(join(FIXTURES, name, file))), file).toBe(true);
    }
    const again = await loadPretrained(dir);
    expect(await values(again)).toEqual(await values(model));
    expect(again.pooling).toEqual(model.pooling);
    model.dispose();
    again.dispose();
  });
});

describe('a fine-tuned model saved and loaded back', () => {
  test('computes what it computed before saving; sentence-transformers files follow the pooling in use', async () => {
    const model = await loadPretrained(memorySource('bert-tiny'), { pooling: { modes: ['cls'], normalize: true }, dropout: false });
    const texts = EXPECTED['bert-tiny'].sentences;
    const batch = model.tokenizer.encode(texts);
    const loss = ([q, d]: tf.Tensor2D[]) =>
      tf.tidy(
        () =>
          tf.losses.softmaxCrossEntropy(tf.oneHot(tf.range(0, 5, 1, 'int32'), 5), tf.div(tf.matMul(q!, d!, false, true), 0.1)) as tf.Scalar,
      );
    const optimizer = tf.train.sgd(0.1);
    const gradCache = new GradCache({ encoders: [model.encoder, model.encoder], chunkSize: 2, loss });
    for (let k = 0; k < 3; k++) gradCache.step(optimizer, [batch, batch]);
    const before = model.encoder.encode(batch, { training: false });
    const dir = await mkdtemp(join(tmpdir(), 'gradcache-tuned-'));
    await savePretrained(model, dir);
    const loaded = await loadPretrained(dir);
    expect(loaded.pooling).toEqual({ modes: ['cls'], normalize: true });
    expect((await stat(join(dir, '2_Normalize'))).isDirectory()).toBe(true);
    expect(JSON.parse(await readFile(join(dir, '1_Pooling', 'config.json'), 'utf8'))).toMatchObject({
      pooling_mode_cls_token: true,
      pooling_mode_mean_tokens: false,
    });
    const after = loaded.encoder.encode(batch, { training: false });
    expect(Array.from(await after.data())).toEqual(Array.from(await before.data()));
    expect((await readdir(dir)).filter((f) => f.endsWith('.partial'))).toEqual([]);
    tf.dispose([batch, before, after]);
    optimizer.dispose();
    model.dispose();
    loaded.dispose();
  });
});
