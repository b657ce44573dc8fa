import { check } from './errors.js';
import type { IdxArray } from './idx.js';
import { fnv1a } from './text.js';

/** Labelled square grey images: `count·side²` pixels in [0, 1], image after image. */
export interface ImageSet {
  images: Float32Array;
  labels: Int32Array;
  side: number;
  count: number;
}

/** An ImageSet from an IDX images file (`[n, side, side]` uint8) and its labels file (`[n]`). */
export function imagesFromIdx(images: IdxArray, labels: IdxArray): ImageSet {
  const [count, height, width] = images.shape;
  check(
    images.shape.length === 3 && height === width && labels.shape.length === 1 && labels.shape[0] === count,
    'INVALID_DATA',
    () =>
      `imagesFromIdx: expected images [n, side, side] and labels [n], got images [${images.shape.join(', ')}] and labels [${labels.shape.join(', ')}].`,
  );
  const scale = images.data instanceof Uint8Array ? 1 / 255 : 1;
  return {
    images: Float32Array.from(images.data, (v) => v * scale),
    labels: Int32Array.from(labels.data),
    side: height as number,
    count: count as number,
  };
}

/** The images at `indices`, as a new ImageSet. */
export function subset(set: ImageSet, indices: readonly number[]): ImageSet {
  const pixels = set.side * set.side;
  const images = new Float32Array(indices.length * pixels);
  indices.forEach((i, row) => images.set(set.images.subarray(i * pixels, (i + 1) * pixels), row * pixels));
  return { images, labels: Int32Array.from(indices, (i) => set.labels[i] as number), side: set.side, count: indices.length };
}

/** A seeded, deterministic train/test split of an ImageSet: each image lands by a hash of (seed, index). */
export function splitImages(set: ImageSet, options: { test?: number; seed?: number } = {}): { train: ImageSet; test: ImageSet } {
  const { test = 0.2, seed = 0 } = options;
  check(test > 0 && test < 1, 'INVALID_OPTION', () => `splitImages: test must be in (0, 1), got ${test}.`);
  const basis = fnv1a(`images:${seed}`);
  const inTest = Array.from({ length: set.count }, (_, i) => fnv1a(String(i), basis) / 2 ** 32 < test);
  const pick = (want: boolean): number[] => inTest.flatMap((t, i) => (t === want ? [i] : []));
  return { train: subset(set, pick(false)), test: subset(set, pick(true)) };
}
