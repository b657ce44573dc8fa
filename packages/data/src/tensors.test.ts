import * as tf from '@tensorflow/tfjs-core';
import fc from 'fast-check';
import { beforeAll, describe, expect, test } from 'vitest';
import { expectNoLeaks, useBackend } from '@gradcache/testing';
import { augmentViews, imageBatch } from './augment.js';
import { batchCount, epochBatches, epochOrder } from './batching.js';
import { DataError } from './errors.js';
import { parseIdx } from './idx.js';
import { imagesFromIdx, splitImages } from './images.js';
import { hashedNgrams } from './text.js';

beforeAll(() => useBackend('cpu'));

describe('hashedNgrams', () => {
  test('ids in 1…buckets−1, padded with 0 to the longest text, mask 1 on features; deterministic', () => {
    const { inputIds, attentionMask } = hashedNgrams(['cat', 'a big dog'], { buckets: 97 });
    // 'cat': w:cat + 3 trigrams = 4; 'a big dog': 3 words + 1 + 3 + 3 trigrams = 10.
    expect(inputIds.shape).toEqual([2, 10]);
    const ids = inputIds.arraySync();
    expect(attentionMask.arraySync()[0]).toEqual([1, 1, 1, 1, 0, 0, 0, 0, 0, 0]);
    expect(ids[0]?.slice(4)).toEqual([0, 0, 0, 0, 0, 0]);
    expect(
      ids
        .flat()
        .filter((_, i) => (attentionMask.dataSync()[i] as number) === 1)
        .every((v) => v >= 1 && v < 97),
    ).toBe(true);
    const again = hashedNgrams(['cat', 'a big dog'], { buckets: 97 });
    expect(again.inputIds.arraySync()).toEqual(ids);
    tf.dispose([inputIds, attentionMask, again]);
  });

  test('truncates to maxLength and refuses bad options', () => {
    const { inputIds, attentionMask } = hashedNgrams(['a very long text with many words in it'], { maxLength: 5 });
    expect(inputIds.shape).toEqual([1, 5]);
    tf.dispose([inputIds, attentionMask]);
    expect(() => hashedNgrams(['x'], { buckets: 1 })).toThrowError(/buckets must be an integer ≥ 2, got 1/);
    expect(() => hashedNgrams([])).toThrowError(DataError);
  });
});

describe('batching', () => {
  test('an epoch is a permutation fixed by (seed, epoch); batches cover it in order', () => {
    const order = Array.from(epochOrder(100, 3, 0));
    expect([...order].sort((a, b) => a - b)).toEqual(Array.from({ length: 100 }, (_, i) => i));
    expect(Array.from(epochOrder(100, 3, 0))).toEqual(order);
    expect(Array.from(epochOrder(100, 3, 1))).not.toEqual(order);
    const batches = epochBatches(100, { batchSize: 32, seed: 3 });
    expect(batches.map((b) => b.length)).toEqual([32, 32, 32]);
    expect(batches.flat()).toEqual(order.slice(0, 96));
    expect(epochBatches(100, { batchSize: 32, seed: 3, dropLast: false }).map((b) => b.length)).toEqual([32, 32, 32, 4]);
    expect(epochBatches(5, { batchSize: 2, shuffle: false, dropLast: false })).toEqual([[0, 1], [2, 3], [4]]);
  });

  test('refuses a batch larger than the data with dropLast, and bad sizes', () => {
    expect(() => epochBatches(10, { batchSize: 11 })).toThrowError(/batchSize \(11\) is larger than the data set \(10 items\)/);
    expect(() => epochBatches(10, { batchSize: 0 })).toThrowError(/batchSize must be an integer ≥ 1, got 0/);
  });
});

describe('augmentViews', () => {
  const side = 8;
  const images = Float32Array.from({ length: 3 * side * side }, (_, i) => (i % 7) / 7);

  test('a view is a function of (seed, epoch, index, view) only: the same in any batch position', () => {
    expectNoLeaks(() =>
      tf.tidy(() => {
        const [a1, a2] = augmentViews(images, side, [0, 2], { seed: 1, epoch: 4 });
        const [b1, b2] = augmentViews(images, side, [2, 1], { seed: 1, epoch: 4 });
        expect(a1.shape).toEqual([2, side, side, 1]);
        expect(tf.slice(a1, 1, 1).arraySync()).toEqual(tf.slice(b1, 0, 1).arraySync());
        expect(tf.slice(a2, 1, 1).arraySync()).toEqual(tf.slice(b2, 0, 1).arraySync());
        expect(tf.slice(a1, 1, 1).arraySync()).not.toEqual(tf.slice(a2, 1, 1).arraySync());
        const [c1] = augmentViews(images, side, [2], { seed: 1, epoch: 5 });
        expect(c1.arraySync()).not.toEqual(tf.slice(a1, 1, 1).arraySync());
      }),
    );
  });

  test('no crop, noise or cut-out gives the image back', () => {
    const views = augmentViews(images, side, [1], { minScale: 1, aspect: [1, 1], noise: 0, cutout: 0 });
    const plain = imageBatch(images, side, [1]);
    expect(tf.max(tf.abs(tf.sub(views[0], plain))).dataSync()[0]).toBeLessThan(1e-6);
    tf.dispose([views, plain]);
  });

  test('refuses indices out of range and images of the wrong size', () => {
    expect(() => augmentViews(images, side, [3])).toThrowError(/indices must be integers in \[0, 3\), got 3/);
    expect(() => augmentViews(images.subarray(1), side, [0])).toThrowError(/not a multiple of side²/);
  });
});

describe('IDX', () => {
  /** An IDX file: uint8 values with the given shape. */
  function idx(shape: number[], values: number[]): Uint8Array {
    const header = new Uint8Array(4 + 4 * shape.length);
    header.set([0, 0, 0x08, shape.length]);
    const view = new DataView(header.buffer);
    shape.forEach((d, k) => view.setUint32(4 + 4 * k, d));
    return new Uint8Array([...header, ...values]);
  }

  test('parses uint8 images and labels into an ImageSet, and splits it deterministically', () => {
    const images = parseIdx(idx([3, 2, 2], [0, 255, 51, 102, 1, 2, 3, 4, 5, 6, 7, 8]));
    expect(images.shape).toEqual([3, 2, 2]);
    const set = imagesFromIdx(images, parseIdx(idx([3], [7, 1, 9])));
    expect(Array.from(set.images.subarray(0, 4))).toEqual([0, 1, 0.2, 0.4].map(Math.fround));
    expect(Array.from(set.labels)).toEqual([7, 1, 9]);
    const { train, test } = splitImages(set, { test: 0.5 });
    expect(train.count + test.count).toBe(3);
    expect(splitImages(set, { test: 0.5 }).test.labels).toEqual(test.labels);
  });

  test('int8 values keep their sign; big-endian int32 values are read as such', () => {
    expect(Array.from(parseIdx(new Uint8Array([0, 0, 0x09, 1, 0, 0, 0, 3, 0xff, 0x80, 7])).data)).toEqual([-1, -128, 7]);
    expect(Array.from(parseIdx(new Uint8Array([0, 0, 0x0c, 1, 0, 0, 0, 1, 0, 0, 1, 2])).data)).toEqual([258]);
  });

  test('refuses gzip, a bad header and truncated data with INVALID_FILE', () => {
    expect(() => parseIdx(new Uint8Array([0x1f, 0x8b, 8, 0]))).toThrowError(/gzip-compressed/);
    expect(() => parseIdx(new Uint8Array([1, 2, 3, 4]))).toThrowError(/does not start with an IDX header/);
    expect(() => parseIdx(idx([3], [1, 2]))).toThrowError(/has 2 data bytes but its header \[3\] needs 3/);
  });

  test('hostile headers: dimensions whose product overflows, and any change to a header byte, give the original or INVALID_FILE without a large allocation', () => {
    const huge = new Uint8Array([0, 0, 0x08, 3, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 1, 2]);
    expect(() => parseIdx(huge)).toThrowError(/has 2 data bytes but its header \[4294967295, 4294967295, 4294967295\] needs 7\.9\d+e\+28/);
    const good = idx([2, 3], [1, 2, 3, 4, 5, 6]);
    const original = [parseIdx(good).shape, Array.from(parseIdx(good).data)];
    fc.assert(
      fc.property(fc.nat(good.length - 7), fc.integer({ min: 0, max: 255 }), (at, byte) => {
        const mutated = good.slice();
        mutated[at] = byte; // the 12 header bytes (magic, type, rank, two sizes)
        try {
          const parsed = parseIdx(mutated);
          expect([parsed.shape, Array.from(parsed.data)]).toEqual(original);
        } catch (error) {
          expect((error as DataError).code).toBe('INVALID_FILE');
        }
      }),
      { numRuns: 500, seed: 22 },
    );
  });

  test('takes an ArrayBuffer (what fetch gives) as well as a Uint8Array, and refuses anything else', () => {
    const bytes = idx([2], [5, 6]);
    expect(Array.from(parseIdx(bytes.slice().buffer).data)).toEqual([5, 6]);
    expect(() => parseIdx([0, 0, 8, 1] as unknown as Uint8Array)).toThrowError(/parseIdx: IDX data must be a Uint8Array or an ArrayBuffer/);
  });
});

describe('batchCount', () => {
  test('whole batches, or a last partial one; refuses a batch size that is not a positive integer', () => {
    expect([batchCount(10, 4), batchCount(10, 4, false), batchCount(0, 4)]).toEqual([2, 3, 0]);
    for (const bad of [0, -2, 1.5, Number.NaN]) {
      expect(() => batchCount(10, bad)).toThrowError(DataError);
      expect(() => batchCount(10, bad)).toThrowError(/batchCount: batchSize must be/);
    }
    expect(() => batchCount(-1, 4)).toThrowError(/batchCount: size must be/);
  });
});
