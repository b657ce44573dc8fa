import { readFileSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, test } from 'vitest';
import { initBackend } from '@gradcache/backend/node';
import { PretrainedError } from './errors.js';
import { EXPECTED, FIXTURES, memorySource } from './fixtures.test-helper.js';
import { loadPretrained } from './pretrained-model.js';
import { parseSafetensors, type SafetensorsTensor, serializeSafetensors, toFloat32, fromFloat32 } from './safetensors.js';

beforeAll(async () => {
  tf.env().set('PROD', true);
  await initBackend('wasm');
});

const bertConfig = JSON.parse(readFileSync(`${FIXTURES}bert-tiny/config.json`, 'utf8')) as Record<string, unknown>;
const bertTensors = (): SafetensorsTensor[] => [
  ...parseSafetensors(new Uint8Array(readFileSync(`${FIXTURES}bert-tiny/model.safetensors`))).tensors,
];

/** Loads with changes, expects a PretrainedError with `code`, checks nothing leaked; returns the message. */
async function refused(
  code: string,
  changes: Record<string, Uint8Array | string | undefined>,
  model = 'bert-tiny',
  options = {},
): Promise<string> {
  const tensors = tf.memory().numTensors;
  const variables = Object.keys(tf.engine().registeredVariables).length;
  const error = await loadPretrained(memorySource(model, changes), options).then(
    (m) => {
      m.dispose();
      return undefined;
    },
    (e: unknown) => e,
  );
  expect(error, 'loadPretrained should have refused').toBeInstanceOf(PretrainedError);
  expect((error as PretrainedError).code).toBe(code);
  expect(tf.memory().numTensors).toBe(tensors);
  expect(Object.keys(tf.engine().registeredVariables).length).toBe(variables);
  return (error as Error).message;
}

describe('folders that do not load say why, naming the file, and leave nothing behind', () => {
  test('an architecture this package does not build: UNSUPPORTED_MODEL naming it and the supported ones', async () => {
    const message = await refused('UNSUPPORTED_MODEL', { 'config.json': JSON.stringify({ ...bertConfig, model_type: 'gpt2' }) });
    expect(message).toMatch(/model_type "gpt2"; @gradcache\/pretrained builds bert, roberta, xlm-roberta, camembert/);
  });

  test('no config.json; only pytorch_model.bin; no weights at all', async () => {
    expect(await refused('MISSING_FILE', { 'config.json': undefined })).toMatch(/fixtures\/bert-tiny has no config\.json/);
    const bin = await refused('NO_SAFETENSORS', { 'model.safetensors': undefined, 'pytorch_model.bin': new Uint8Array(10) });
    expect(bin).toMatch(/has pytorch_model\.bin but no model\.safetensors/);
    expect(bin).toMatch(/save_pretrained\('fixtures\/bert-tiny', safe_serialization=True\)/);
    expect(await refused('MISSING_FILE', { 'model.safetensors': undefined })).toMatch(
      /no model\.safetensors \(nor model\.safetensors\.index\.json\)/,
    );
  });

  test('missing tensors are listed by name; a wrong shape or an integer parameter names the tensor', async () => {
    const without = bertTensors().filter((t) => !t.name.includes('layer.1.attention'));
    const missing = await refused('MISSING_WEIGHTS', { 'model.safetensors': serializeSafetensors(without) });
    expect(missing).toMatch(/lacks 10 of the encoder's tensors: bert\.encoder\.layer\.1\.attention\.self\.query\.weight, /);
    const reshaped = bertTensors().map((t) =>
      t.name === 'bert.pooler.dense.bias' ? t : t.name === 'bert.embeddings.LayerNorm.bias' ? { ...t, shape: [4, 8] } : t,
    );
    expect(await refused('INVALID_WEIGHTS', { 'model.safetensors': serializeSafetensors(reshaped) })).toMatch(
      /'bert\.embeddings\.LayerNorm\.bias' of shape \[4,8\], but config\.json implies \[32\]/,
    );
    const integer = bertTensors().map((t) => (t.name === 'bert.embeddings.LayerNorm.bias' ? { ...t, dtype: 'I32' as const } : t));
    expect(await refused('INVALID_WEIGHTS', { 'model.safetensors': serializeSafetensors(integer) })).toMatch(
      /stores 'bert\.embeddings\.LayerNorm\.bias' as I32/,
    );
    const alien = serializeSafetensors([{ name: 'transformer.h.0.attn.weight', dtype: 'F32', shape: [1], bytes: new Uint8Array(4) }]);
    expect(await refused('MISSING_WEIGHTS', { 'model.safetensors': alien })).toMatch(
      /holds no '…embeddings\.word_embeddings\.weight'; it is not a bert checkpoint/,
    );
  });

  test('a truncated safetensors file; a config or tokenizer that is not what it says', async () => {
    const bytes = new Uint8Array(readFileSync(`${FIXTURES}bert-tiny/model.safetensors`));
    expect(await refused('INVALID_SAFETENSORS', { 'model.safetensors': bytes.subarray(0, bytes.length - 100) })).toMatch(
      /fixtures\/bert-tiny\/model\.safetensors/,
    );
    expect(await refused('INVALID_CONFIG', { 'config.json': '{ not json' })).toMatch(/config\.json is not JSON/);
    expect(await refused('INVALID_CONFIG', { 'config.json': JSON.stringify({ ...bertConfig, hidden_size: 30 }) })).toMatch(
      /hidden_size 30, not a multiple of num_attention_heads 4/,
    );
    expect(await refused('INVALID_CONFIG', { 'config.json': JSON.stringify({ ...bertConfig, num_hidden_layers: -1 }) })).toMatch(
      /num_hidden_layers -1/,
    );
    expect(await refused('INVALID_TOKENIZER', { 'tokenizer.json': JSON.stringify({ version: '1.0' }) })).toMatch(/no "model" object/);
    expect(await refused('MISSING_FILE', { 'tokenizer.json': undefined }, 'roberta-tiny')).toMatch(/has no tokenizer\.json;/);
    expect(
      await refused('UNSUPPORTED_MODEL', {
        'modules.json': JSON.stringify([{ idx: 2, name: '2', path: '2_Dense', type: 'sentence_transformers.models.Dense' }]),
      }),
    ).toMatch(/lists a sentence_transformers\.models\.Dense module/);
    expect(await refused('INVALID_OPTION', {}, 'bert-tiny', { maxLength: 100 })).toMatch(/maxLength must be an integer in \[2, 64\]/);
  });
});

describe('folders in other shapes load the same model', () => {
  test("a BERT folder with vocab.txt only: the same ids as tokenizer.json's", async () => {
    const model = await loadPretrained(memorySource('bert-tiny', { 'tokenizer.json': undefined }));
    const e = EXPECTED['bert-tiny'];
    e.sentences.forEach((s, i) => expect(model.tokenizer.ids(s), s).toEqual(e.ids[i]));
    model.dispose();
  });

  test('sharded weights (model.safetensors.index.json), float16 and LayerNorm gamma/beta names', async () => {
    const tensors = bertTensors();
    const half = tensors.map((t) => (t.dtype === 'F32' ? { ...t, dtype: 'F16' as const, bytes: fromFloat32(toFloat32(t), 'F16') } : t));
    const renamed = half.map((t) => ({ ...t, name: t.name.replace('embeddings.LayerNorm.weight', 'embeddings.LayerNorm.gamma') }));
    const [a, b] = [renamed.slice(0, 10), renamed.slice(10)];
    const index = {
      metadata: { total_size: 0 },
      weight_map: Object.fromEntries([
        ...a.map((t) => [t.name, 'model-00001-of-00002.safetensors']),
        ...b.map((t) => [t.name, 'model-00002-of-00002.safetensors']),
      ]),
    };
    const sharded = await loadPretrained(
      memorySource('bert-tiny', {
        'model.safetensors': undefined,
        'model.safetensors.index.json': JSON.stringify(index),
        'model-00001-of-00002.safetensors': serializeSafetensors(a),
        'model-00002-of-00002.safetensors': serializeSafetensors(b),
      }),
    );
    expect(sharded.report.files).toEqual(['model-00001-of-00002.safetensors', 'model-00002-of-00002.safetensors']);
    const plain = await loadPretrained(memorySource('bert-tiny'));
    const x = plain.tokenizer.encode(EXPECTED['bert-tiny'].sentences);
    const [p, s] = [plain.encoder.encode(x, { training: false }), sharded.encoder.encode(x, { training: false })];
    // float16 weights: the same model to float16's precision.
    expect(tf.max(tf.abs(tf.sub(p, s))).dataSync()[0]).toBeLessThan(1e-2);
    // Saved back: float16 where it was float16, the old names where they were old, byte for byte.
    const { files } = await sharded.toFiles();
    const saved = new Map(parseSafetensors(files.get('model.safetensors') as Uint8Array).tensors.map((t) => [t.name, t]));
    for (const t of renamed) expect(Buffer.from(saved.get(t.name)?.bytes ?? []).equals(Buffer.from(t.bytes)), t.name).toBe(true);
    tf.dispose([x, p, s]);
    plain.dispose();
    sharded.dispose();
  });

  test('unexpected tensors under the prefix are reported, and kept for saving', async () => {
    const extra = [...bertTensors(), { name: 'bert.adapter.weight', dtype: 'F32' as const, shape: [2], bytes: new Uint8Array(8) }];
    const model = await loadPretrained(memorySource('bert-tiny', { 'model.safetensors': serializeSafetensors(extra) }));
    expect(model.report.unexpected).toEqual(['bert.adapter.weight']);
    const { files } = await model.toFiles();
    expect(parseSafetensors(files.get('model.safetensors') as Uint8Array).tensors.map((t) => t.name)).toContain('bert.adapter.weight');
    model.dispose();
  });
});
