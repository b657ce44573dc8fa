import { readFileSync } from 'node:fs';
import { mkdtemp, symlink, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, test } from 'vitest';
import { initBackend } from '@gradcache/backend/node';
import type { PretrainedError } from './errors.js';
import { EXPECTED, FIXTURES } from './fixtures.test-helper.js';
import { folderSource } from './node.js';
import { loadPretrained, MAX_JSON_BYTES } from './pretrained-model.js';
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

  test('a config or tokenizer file larger than any real one is refused before it is read (url, picked files, folder)', async () => {
    const big = MAX_JSON_BYTES + 1;
    const declared = (async () => new Response('{}', { headers: { 'content-length': String(big) } })) as unknown as typeof fetch;
    for (const source of [
      urlSource('https://models.example/huge', declared),
      fileSource([Object.defineProperty(new File(['{}'], 'config.json'), 'size', { value: big })]),
    ]) {
      const error = await loadPretrained(source).catch((e: unknown) => e);
      expect((error as PretrainedError).code).toBe('INVALID_CONFIG');
      expect((error as Error).message).toMatch(
        new RegExp(`config\\.json is ${big} bytes, more than the ${MAX_JSON_BYTES} a config or tokenizer file may have`),
      );
    }
    const dir = await mkdtemp(join(tmpdir(), 'gc-huge-'));
    await writeFile(join(dir, 'config.json'), '');
    await truncate(join(dir, 'config.json'), big); // sparse: no disk used
    const error = await loadPretrained(folderSource(dir)).catch((e: unknown) => e);
    expect((error as Error).message).toMatch(/config\.json is 67108865 bytes/);
  });

  test('a symbolic link out of the model folder is refused; one inside it is followed', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'gc-link-'));
    const outside = await mkdtemp(join(tmpdir(), 'gc-outside-'));
    await writeFile(join(outside, 'secret.json'), '{}');
    await symlink(join(outside, 'secret.json'), join(dir, 'config.json'));
    const error = await folderSource(dir)
      .read('config.json')
      .catch((e: unknown) => e);
    expect((error as PretrainedError).code).toBe('INVALID_OPTION');
    expect((error as Error).message).toMatch(/config\.json is a link to .*secret\.json, outside the model's folder/);
    await writeFile(join(dir, 'real.json'), '{"a":1}');
    await symlink(join(dir, 'real.json'), join(dir, 'inside.json'));
    expect(new TextDecoder().decode(await folderSource(dir).read('inside.json'))).toBe('{"a":1}');
  });
});
