import * as tf from '@tensorflow/tfjs-core';
import fc from 'fast-check';
import { beforeAll, describe, test } from 'vitest';
import { expectClose, expectGradsMatchFiniteDifferences, expectNoLeaks, useBackend, fcParameters } from '@gradcache/testing';
import { expectTiledMemoryLinear } from './loss.test-helper.js';
import { infoNCE } from './info-nce.js';
import { symmetricInfoNCE } from './symmetric-info-nce.js';

beforeAll(() => useBackend('cpu'));

/** Loss and gradients with respect to q, d and the temperature. */
function valueAndGrads(f: (q: tf.Tensor2D, d: tf.Tensor2D, t: tf.Scalar) => tf.Scalar, xs: tf.Tensor[]): tf.Tensor[] {
  const { value, grads } = tf.valueAndGrads((q, d, t) => f(q as tf.Tensor2D, d as tf.Tensor2D, t as tf.Scalar))(xs);
  return [value, ...grads];
}

describe('tiled InfoNCE', () => {
  test('equals the untiled loss and gradients for any batch, width, tile size and hard-negative count', () => {
    const arb = fc.record({
      batch: fc.integer({ min: 1, max: 24 }),
      width: fc.integer({ min: 1, max: 8 }),
      hardNegatives: fc.integer({ min: 0, max: 2 }),
      tileSize: fc.integer({ min: 1, max: 30 }),
      temperature: fc.double({ min: 0.05, max: 2, noNaN: true }),
      seed: fc.integer({ min: 1, max: 10_000 }),
    });
    fc.assert(
      fc.property(arb, ({ batch, width, hardNegatives, tileSize, temperature, seed }) => {
        const q = tf.randomNormal([batch, width], 0, 1, 'float32', seed);
        const d = tf.randomNormal([batch * (1 + hardNegatives), width], 0, 1, 'float32', seed + 1);
        const t = tf.scalar(temperature);
        expectNoLeaks(() => {
          const ref = valueAndGrads((a, b, s) => infoNCE(a, b, { temperature: s, hardNegatives }), [q, d, t]);
          const tiled = valueAndGrads((a, b, s) => infoNCE(a, b, { temperature: s, hardNegatives, tileSize }), [q, d, t]);
          // When one candidate takes (almost) all the probability, a gradient is the float32 difference
          // of terms of size |d|/(τB), |q|/(τB), |q||d|k/(τ²B): errors are measured against those.
          const [qMax, dMax] = [q, d].map((x) => tf.tidy(() => tf.max(tf.abs(x)).dataSync()[0] as number)) as [number, number];
          const logit = (qMax * dMax * width) / temperature;
          const floors = [logit, dMax / temperature / batch, qMax / temperature / batch, logit / temperature / batch];
          try {
            ['loss', 'dL/dq', 'dL/dd', 'dL/dτ'].forEach((what, k) => expectClose(tiled[k]!, ref[k]!, 1e-5, what, floors[k]));
          } finally {
            tf.dispose([ref, tiled]);
          }
        }, 'tiled and untiled InfoNCE');
        tf.dispose([q, d, t]);
      }),
      fcParameters(60),
    );
  });

  test('symmetricInfoNCE tiled equals untiled, with a learnable logit scale', () => {
    const q = tf.randomNormal([11, 5], 0, 1, 'float32', 1);
    const d = tf.randomNormal([11, 5], 0, 1, 'float32', 2);
    const s = tf.scalar(Math.log(1 / 0.07));
    const f = (tileSize?: number) => (a: tf.Tensor2D, b: tf.Tensor2D, scale: tf.Scalar) =>
      symmetricInfoNCE(a, b, tileSize === undefined ? { logitScale: scale } : { logitScale: scale, tileSize });
    const ref = valueAndGrads(f(), [q, d, s]);
    const tiled = valueAndGrads(f(4), [q, d, s]);
    ref.forEach((r, k) => expectClose(tiled[k]!, r, 1e-5, `output ${k}`));
    tf.dispose([ref, tiled, q, d, s]);
  });

  test('has the gradients of central finite differences (its gradient is hand-written)', () => {
    const q = tf.randomNormal([5, 3], 0, 0.7, 'float32', 3);
    const d = tf.randomNormal([10, 3], 0, 0.7, 'float32', 4);
    const t = tf.scalar(0.6);
    expectGradsMatchFiniteDifferences(
      (a, b, s) => infoNCE(a as tf.Tensor2D, b as tf.Tensor2D, { temperature: s as tf.Scalar, hardNegatives: 1, tileSize: 3 }),
      [q, d, t],
    );
    tf.dispose([q, d, t]);
  });

  test('peak tensor memory grows linearly in B, the untiled one quadratically', async () => {
    await expectTiledMemoryLinear((q, d, tileSize) =>
      infoNCE(q, d, tileSize === undefined ? { temperature: 0.1 } : { temperature: 0.1, tileSize }),
    );
  });
});
