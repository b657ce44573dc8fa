import * as tf from '@tensorflow/tfjs-core';
import seedrandom from 'seedrandom';
import { check, checkInteger } from './errors.js';

/** Options of augmentViews. */
export interface AugmentOptions {
  /** Base seed. Default 0. */
  seed?: number;
  /** The epoch: each epoch draws new views. Default 0. */
  epoch?: number;
  /** Random resized crop: the crop's area as a fraction of the image, drawn from [min, 1]. Default 0.5. */
  minScale?: number;
  /** Random resized crop: the crop's aspect ratio, drawn log-uniformly from [min, max]. Default [¾, 4⁄3]. */
  aspect?: readonly [number, number];
  /** Standard deviation of added Gaussian noise. Default 0.1. */
  noise?: number;
  /** Side of the cut-out square (0: none), applied with probability ½. Default ⌊side/4⌋. */
  cutout?: number;
}

/** Bilinear sample of a `side`×`side` image at (y, x), 0 outside. */
function sample(image: Float32Array, offset: number, side: number, y: number, x: number): number {
  const y0 = Math.floor(y);
  const x0 = Math.floor(x);
  let value = 0;
  for (const [dy, wy] of [
    [0, 1 - (y - y0)],
    [1, y - y0],
  ] as const) {
    for (const [dx, wx] of [
      [0, 1 - (x - x0)],
      [1, x - x0],
    ] as const) {
      const yy = y0 + dy;
      const xx = x0 + dx;
      if (yy >= 0 && yy < side && xx >= 0 && xx < side) value += wy * wx * (image[offset + yy * side + xx] as number);
    }
  }
  return value;
}

/** A standard normal draw (Box–Muller) from `random`. */
function gaussian(random: () => number): number {
  return Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
}

/**
 * Two augmented views of each listed square grey image, SimCLR-style: a random resized crop
 * (area ∈ [minScale, 1], aspect ∈ [¾, 4⁄3] by default), Gaussian noise and a cut-out square. Every random
 * draw comes from a generator seeded by (seed, epoch, index, view): a run repeats exactly, on any
 * backend, and a view is one fixed input tensor — the re-forward of its chunk sees the same pixels.
 * Returns two `[indices.length, side, side, 1]` tensors the caller owns.
 *
 * `images` holds `count·side²` pixel values in [0, 1], row-major, image after image.
 */
export function augmentViews(
  images: Float32Array,
  side: number,
  indices: readonly number[],
  options: AugmentOptions = {},
): [tf.Tensor4D, tf.Tensor4D] {
  const { seed = 0, epoch = 0, minScale = 0.5, aspect = [3 / 4, 4 / 3], noise = 0.1, cutout = Math.floor(side / 4) } = options;
  checkInteger('augmentViews', 'side', side, 1);
  const count = images.length / (side * side);
  check(
    Number.isInteger(count),
    'INVALID_DATA',
    () => `augmentViews: images has ${images.length} values, not a multiple of side² = ${side * side}.`,
  );
  check(
    indices.every((i) => Number.isInteger(i) && i >= 0 && i < count),
    'INVALID_OPTION',
    () =>
      `augmentViews: indices must be integers in [0, ${count}), got ${indices.find((i) => !(Number.isInteger(i) && i >= 0 && i < count))}.`,
  );
  check(minScale > 0 && minScale <= 1, 'INVALID_OPTION', () => `augmentViews: minScale must be in (0, 1], got ${minScale}.`);
  const [minAspect, maxAspect] = aspect;
  check(
    minAspect > 0 && maxAspect >= minAspect,
    'INVALID_OPTION',
    () => `augmentViews: aspect must be [min, max] with 0 < min ≤ max, got [${aspect.join(', ')}].`,
  );
  const pixels = side * side;
  const views = [0, 1].map((view) => {
    const out = new Float32Array(indices.length * pixels);
    indices.forEach((index, row) => {
      const random = seedrandom.alea(`view:${seed}:${epoch}:${index}:${view}`);
      const area = minScale + (1 - minScale) * random();
      const ratio = Math.exp(Math.log(minAspect) + Math.log(maxAspect / minAspect) * random());
      const height = Math.min(side, side * Math.sqrt(area / ratio));
      const width = Math.min(side, side * Math.sqrt(area * ratio));
      const top = (side - height) * random();
      const left = (side - width) * random();
      const cut = random() < 0.5 ? cutout : 0;
      const cutTop = Math.floor(random() * (side - cut + 1));
      const cutLeft = Math.floor(random() * (side - cut + 1));
      for (let y = 0; y < side; y++) {
        for (let x = 0; x < side; x++) {
          const inCut = y >= cutTop && y < cutTop + cut && x >= cutLeft && x < cutLeft + cut;
          const v = inCut
            ? 0
            : sample(images, index * pixels, side, top + ((y + 0.5) * height) / side - 0.5, left + ((x + 0.5) * width) / side - 0.5);
          out[row * pixels + y * side + x] = v + noise * gaussian(random);
        }
      }
    });
    return tf.tensor4d(out, [indices.length, side, side, 1]);
  });
  return [views[0] as tf.Tensor4D, views[1] as tf.Tensor4D];
}

/** The listed images, unaugmented, as a `[indices.length, side, side, 1]` tensor the caller owns. */
export function imageBatch(images: Float32Array, side: number, indices: readonly number[]): tf.Tensor4D {
  const pixels = side * side;
  const out = new Float32Array(indices.length * pixels);
  indices.forEach((index, row) => out.set(images.subarray(index * pixels, (index + 1) * pixels), row * pixels));
  return tf.tensor4d(out, [indices.length, side, side, 1]);
}
