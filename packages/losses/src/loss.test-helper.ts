import * as tf from '@tensorflow/tfjs-core';
import { expect } from 'vitest';
import { measureMemory } from '@gradcache/core';
import { expectNoLeaks } from '@gradcache/testing';
import { LossError } from './errors.js';

/** Runs f, which must throw a LossError and leak nothing; returns "CODE: message" ('no error' if nothing threw). */
export function lossErrorOf(f: () => unknown): string {
  try {
    expectNoLeaks(() => f());
  } catch (e) {
    expect(e).toBeInstanceOf(LossError);
    return `${(e as LossError).code}: ${(e as Error).message}`;
  }
  return 'no error';
}

/**
 * Checks that a loss's tiled form needs memory linear in B and its plain form quadratic: the peak
 * tensor bytes of the loss and its gradients at B = `batch` and 4·`batch` (d = 16; default 256),
 * tile `tileSize` (default 32). 4× the batch: linear grows ~4×, quadratic ~16×.
 */
export async function expectTiledMemoryLinear(
  loss: (q: tf.Tensor2D, d: tf.Tensor2D, tileSize?: number) => tf.Scalar,
  { batch = 256, tileSize = 32 } = {},
): Promise<void> {
  const peak = async (batch: number, tileSize?: number): Promise<number> => {
    const q = tf.randomNormal([batch, 16], 0, 1, 'float32', 5);
    const d = tf.randomNormal([batch, 16], 0, 1, 'float32', 6);
    const { peakBytes } = await measureMemory(() =>
      tf.dispose(tf.grads((a, b) => loss(a as tf.Tensor2D, b as tf.Tensor2D, tileSize))([q, d])),
    );
    tf.dispose([q, d]);
    return peakBytes;
  };
  const [tiledSmall, tiledLarge] = [await peak(batch, tileSize), await peak(4 * batch, tileSize)];
  const [plainSmall, plainLarge] = [await peak(batch), await peak(4 * batch)];
  expect(tiledLarge / tiledSmall).toBeLessThan(4.5);
  expect(plainLarge / plainSmall).toBeGreaterThan(10);
  expect(tiledLarge).toBeLessThan(plainLarge / 5);
}
