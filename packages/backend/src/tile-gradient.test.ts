import * as tf from '@tensorflow/tfjs-core';
import fc from 'fast-check';
import { beforeAll, describe, expect, test } from 'vitest';
import { expectClose, expectNoLeaks, useBackend } from '@gradcache/testing';
import { tileGradient } from './tile-gradient.js';

let stock: tf.GradConfig;
beforeAll(async () => {
  await useBackend('cpu');
  stock = tf.getGradient('Tile') as tf.GradConfig; // tfjs's own (registered by tfjs-layers)
});

/** The gradient of sum(tile(x, reps) · w) under `config`, and how many kernels computing it ran. */
async function tileGrad(config: tf.GradConfig, x: tf.Tensor, reps: number[], w: tf.Tensor): Promise<{ g: tf.Tensor; kernels: number }> {
  tf.registerGradient(config);
  let g: tf.Tensor | undefined;
  const profile = await tf.profile(() => {
    g = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(tf.tile(t, reps), w)))(x);
  });
  return { g: g as tf.Tensor, kernels: profile.kernels.length };
}

describe('Tile gradient', () => {
  test('equals tfjs’s own for any rank, shape and reps', async () => {
    const cases = fc.sample(
      fc.array(fc.record({ size: fc.integer({ min: 1, max: 4 }), rep: fc.integer({ min: 1, max: 4 }) }), { minLength: 1, maxLength: 4 }),
      { numRuns: 40, seed: 5 },
    );
    for (const dims of cases) {
      const shape = dims.map((d) => d.size);
      const reps = dims.map((d) => d.rep);
      const x = tf.randomNormal(shape, 0, 1, 'float32', 1);
      const w = tf.randomNormal(
        shape.map((s, i) => s * (reps[i] as number)),
        0,
        1,
        'float32',
        2,
      );
      const ours = await tileGrad(tileGradient, x, reps, w);
      const theirs = await tileGrad(stock, x, reps, w);
      expectClose(ours.g, theirs.g, 1e-6, `shape [${shape}] reps [${reps}]`);
      tf.dispose([x, w, ours.g, theirs.g]);
    }
    tf.registerGradient(tileGradient);
  });

  test('runs a fixed number of kernels whatever the reps (tfjs’s own: one slice and add per tile), leaking nothing', async () => {
    const x = tf.ones([1, 1, 16]);
    const w = tf.ones([8, 32, 16]);
    const ours = await tileGrad(tileGradient, x, [8, 32, 1], w);
    const theirs = await tileGrad(stock, x, [8, 32, 1], w);
    expect(ours.kernels).toBeLessThan(20); // forward and backward together
    expect(theirs.kernels).toBeGreaterThan(2 * 8 * 32);
    tf.dispose([ours.g, theirs.g]);
    tf.registerGradient(tileGradient);
    expectNoLeaks(() => tf.dispose(tf.grad((t: tf.Tensor) => tf.sum(tf.tile(t, [8, 32, 1])))(x)));
    tf.dispose([x, w]);
  });
});
