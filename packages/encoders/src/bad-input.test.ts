import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { beforeAll, describe, expect, test } from 'vitest';
import { useBackend } from '@gradcache/testing';
import { convEncoder } from './conv-encoder.js';
import { EncoderError, type EncoderErrorCode } from './errors.js';
import { loadModel, saveModel } from './save-load.js';
import { SPECIAL_TOKENS, WordPieceTokenizer } from './tokenizer.js';

beforeAll(() => useBackend('cpu'));

/** What is allocated: live tensors and registered variables. */
const allocated = (): [number, number] => [tf.memory().numTensors, Object.keys(tf.engine().registeredVariables).length];

async function expectEncoderError(code: EncoderErrorCode, f: () => unknown): Promise<string> {
  const before = allocated();
  let caught: unknown;
  try {
    await f();
  } catch (error) {
    caught = error;
  }
  expect(caught).toBeInstanceOf(EncoderError);
  expect((caught as EncoderError).code).toBe(code);
  expect(allocated()).toEqual(before);
  return (caught as Error).message;
}

async function savedModel(): Promise<string> {
  const model = tfl.sequential({ layers: [tfl.layers.dense({ inputShape: [4], units: 3 }), tfl.layers.dense({ units: 2 })] });
  const dir = await mkdtemp(join(tmpdir(), 'gradcache-bad-'));
  await saveModel(model, dir);
  model.dispose();
  return dir;
}

describe('loadModel refuses broken files with INVALID_FILE and leaves nothing allocated', () => {
  test('a truncated weights file', async () => {
    const dir = await savedModel();
    const weights = await readFile(join(dir, 'weights.bin'));
    await writeFile(join(dir, 'weights.bin'), weights.subarray(0, weights.length - 8));
    expect(await expectEncoderError('INVALID_FILE', () => loadModel(dir))).toMatch(
      /hold 84 bytes but the manifest describes 92; the file is truncated/,
    );
    await rm(dir, { recursive: true });
  });

  test('a missing weights file', async () => {
    const dir = await savedModel();
    await rm(join(dir, 'weights.bin'));
    expect(await expectEncoderError('INVALID_FILE', () => loadModel(dir))).toMatch(/cannot read the weights file .*weights\.bin: ENOENT/);
    await rm(dir, { recursive: true });
  });

  test.each([
    ['not JSON', 'model {', /is not JSON/],
    ['JSON that is not a model', '{"hello": "world"}', /is not a tfjs layers model/],
    ['JSON null', 'null', /is not a tfjs layers model/],
  ])('a model file that is %s', async (_, text, pattern) => {
    const dir = await savedModel();
    await writeFile(join(dir, 'model.json'), text);
    expect(await expectEncoderError('INVALID_FILE', () => loadModel(dir))).toMatch(pattern);
    await rm(dir, { recursive: true });
  });

  test('a topology that cannot be built (an unknown layer class)', async () => {
    const dir = await savedModel();
    const json = JSON.parse(await readFile(join(dir, 'model.json'), 'utf8'));
    json.modelTopology.config.layers[1].class_name = 'NoSuchLayer';
    await writeFile(join(dir, 'model.json'), JSON.stringify(json));
    expect(await expectEncoderError('INVALID_FILE', () => loadModel(dir))).toMatch(/could not be loaded as a layers model/);
    await rm(dir, { recursive: true });
  });
});

describe('convEncoder refuses options that would loop forever or leak', () => {
  test.each([
    ['maxStageSize', 0],
    ['maxStageSize', 0.5],
    ['outputDim', 0],
  ])('%s = %s', async (name, value) => {
    expect(await expectEncoderError('INVALID_OPTION', () => convEncoder({ inputShape: [28, 28, 1], [name]: value }))).toMatch(
      new RegExp(`convEncoder: ${name} must be a positive integer, got ${value}`),
    );
  });
});

describe('WordPieceTokenizer', () => {
  test('takes a 250k-piece vocabulary (no stack overflow)', () => {
    const vocab = [...SPECIAL_TOKENS, ...Array.from({ length: 250_000 }, (_, i) => `w${i}`)];
    const tokenizer = new WordPieceTokenizer(vocab);
    expect(tokenizer.tokenize('w123 w249999')).toEqual(['w123', 'w249999']);
  });

  test.each([
    ['tokenize(null)', (t: WordPieceTokenizer) => t.tokenize(null as unknown as string), /tokenize: text must be a string, got null/],
    [
      'encode([null])',
      (t: WordPieceTokenizer) => t.encode([null as unknown as string], { maxLength: 4 }),
      /encode: texts\[0\] must be a string, got null/,
    ],
    [
      'encode(undefined)',
      (t: WordPieceTokenizer) => t.encode(undefined as unknown as string, { maxLength: 4 }),
      /encode: texts must be a string or an array/,
    ],
    [
      'fromCorpus([1])',
      () => WordPieceTokenizer.fromCorpus([1 as unknown as string]),
      /fromCorpus: texts\[0\] must be a string, got number/,
    ],
  ])('%s gives INVALID_OPTION', async (_, f, pattern) => {
    const tokenizer = WordPieceTokenizer.fromCorpus(['a small corpus', 'a second text'], { vocabSize: 40 });
    expect(await expectEncoderError('INVALID_OPTION', () => f(tokenizer))).toMatch(pattern);
  });
});
