import { readFileSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, test } from 'vitest';
import { initBackend } from '@gradcache/backend/node';
import type { PretrainedError } from './errors.js';
import { EXPECTED, FIXTURES } from './fixtures.test-helper.js';
import { loadPretrained } from './pretrained-model.js';
import { fileSource, urlSource } from './sources.js';

beforeAll(async () => {
  tf.env().set('PROD', true);
  await initBackend('wasm');
});

const FILES = [
  'config.json',
  'model.safetensors',
  'tokenizer.json',
  'tokenizer_config.json',
  'modules.json',
  '1_Pooling/config.json',
  'sentence_bert_config.json',
];

describe('sources in a browser', () => {
  test('urlSource fetches each file under the base URL; a 404 is "no such file"; the model is the folder\'s', async () => {
    const asked: string[] = [];
    const fakeFetch = (async (url: string) => {
      asked.push(url);
      const path = url.replace('https://models.example/bert-tiny/', '');
      if (!FILES.includes(path)) return new Response('not found', { status: 404 });
      return new Response(readFileSync(`${FIXTURES}bert-tiny/${path}`));
    }) as unknown as typeof fetch;
    const model = await loadPretrained(urlSource('https://models.example/bert-tiny', fakeFetch));
    expect(asked).toContain('https://models.example/bert-tiny/model.safetensors');
    expect(model.tokenizer.ids(EXPECTED['bert-tiny'].sentences[0] as string)).toEqual(EXPECTED['bert-tiny'].ids[0]);
    model.dispose();
    const failing = (async () => new Response('', { status: 500, statusText: 'Server Error' })) as unknown as typeof fetch;
    const error = await loadPretrained(urlSource('https://models.example/x', failing)).catch((e: unknown) => e);
    expect((error as PretrainedError).code).toBe('MISSING_FILE');
    expect((error as Error).message).toMatch(/https:\/\/models\.example\/x\/config\.json answered 500 Server Error/);
  });

  test('fileSource reads the files a person picked, by their path inside the picked folder', async () => {
    const files = FILES.map((path) => {
      const file = new File([readFileSync(`${FIXTURES}roberta-tiny/${path}`)], path.split('/').at(-1) as string);
      Object.defineProperty(file, 'webkitRelativePath', { value: `roberta-tiny/${path}` });
      return file;
    });
    const model = await loadPretrained(fileSource(files));
    expect(model.config.modelType).toBe('roberta');
    expect(model.pooling.modes).toEqual(['cls']);
    model.dispose();
  });

  test('no path leaves the folder', async () => {
    const source = urlSource('https://models.example/m', (async () => new Response('')) as unknown as typeof fetch);
    for (const path of ['../secret', '/etc/passwd', 'a/../../b', 'a\\\\b']) {
      const error = await source.read(path).catch((e: unknown) => e);
      expect((error as PretrainedError).code, path).toBe('INVALID_OPTION');
    }
  });
});
