import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, test } from 'vitest';
import { expectClose, expectFiniteWithGrads, expectNoLeaks, useBackend } from '@gradcache/testing';
import { dcl, dclw } from './dcl.js';
import { expectTiledMemoryLinear } from './loss.test-helper.js';
import { ntXent } from './nt-xent.js';
import { supCon } from './sup-con.js';

beforeAll(() => useBackend('cpu'));

/** The self-supervised losses with a tiled form, as (z1, z2, temperature, tileSize?) → loss. */
const LOSSES: [string, (z1: tf.Tensor2D, z2: tf.Tensor2D, temperature: number, tileSize?: number) => tf.Scalar][] = [
  ['ntXent', (z1, z2, temperature, tileSize) => ntXent(z1, z2, { temperature, ...(tileSize ? { tileSize } : {}) })],
  ['dcl', (z1, z2, temperature, tileSize) => dcl(z1, z2, { temperature, ...(tileSize ? { tileSize } : {}) })],
  ['dclw', (z1, z2, temperature, tileSize) => dclw(z1, z2, { temperature, sigma: 0.7, ...(tileSize ? { tileSize } : {}) })],
  [
    // Two views of 7 samples with 3 classes (sample 6 alone in its class: its views are each other's only positive).
    'supCon',
    (z1, z2, temperature, tileSize) =>
      supCon(tf.concat([z1, z2]), [0, 1, 2, 0, 1, 2, 3, 0, 1, 2, 0, 1, 2, 3].slice(0, 2 * z1.shape[0]), {
        temperature,
        ...(tileSize ? { tileSize } : {}),
      }),
  ],
];

describe.each(LOSSES)('%s tiled', (_name, loss) => {
  test('equals the untiled loss and its gradients, for tiles that do and do not divide 2B', () => {
    const z1 = tf.randomNormal([7, 4], 0, 1, 'float32', 1) as tf.Tensor2D;
    const z2 = tf.randomNormal([7, 4], 0, 1, 'float32', 2) as tf.Tensor2D;
    const run = (tileSize?: number) => tf.valueAndGrads((a, b) => loss(a as tf.Tensor2D, b as tf.Tensor2D, 0.3, tileSize))([z1, z2]);
    const plain = run();
    for (const tileSize of [1, 3, 7, 9, 14, 20]) {
      expectNoLeaks(() => {
        const tiled = run(tileSize);
        expectClose(tiled.value, plain.value, 1e-5, `value, tile ${tileSize}`);
        tiled.grads.forEach((g, k) => expectClose(g, plain.grads[k] as tf.Tensor, 1e-4, `gradient ${k}, tile ${tileSize}`));
        tf.dispose(tiled);
      });
    }
    tf.dispose([plain, z1, z2]);
  });

  test('stays finite at τ = 0.01 with reps of norm 100', () => {
    const z1 = tf.randomNormal([6, 3], 0, 1, 'float32', 3);
    const z2 = tf.randomNormal([6, 3], 0, 1, 'float32', 4);
    expectFiniteWithGrads((a, b) => loss(tf.mul(a as tf.Tensor2D, 100), tf.mul(b as tf.Tensor2D, 100), 0.01, 4), [z1, z2]);
    tf.dispose([z1, z2]);
  });

  test('needs memory linear in B (untiled: quadratic)', async () => {
    // B = 128 and 512 (2B rows), tile 64; supCon with 8 classes.
    await expectTiledMemoryLinear(
      (q, d, tileSize) =>
        _name === 'supCon'
          ? supCon(
              tf.concat([q, d]),
              Array.from({ length: 2 * q.shape[0] }, (_, i) => i % 8),
              { temperature: 0.1, ...(tileSize ? { tileSize } : {}) },
            )
          : loss(q, d, 0.1, tileSize),
      { batch: 128, tileSize: 64 },
    );
  });
});
