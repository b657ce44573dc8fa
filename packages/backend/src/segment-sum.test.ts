import * as tf from '@tensorflow/tfjs-core';
import fc from 'fast-check';
import { beforeAll, describe, expect, test } from 'vitest';
import { expectClose, expectLinearCost } from '@gradcache/testing';
import { initBackend } from './init-backend.js';
import { installCpuFixes, uninstallCpuFixes } from './segment-sum.js';

beforeAll(async () => {
  tf.env().set('PROD', true);
  await initBackend('wasm'); // installs the wasm and cpu fixes
});

interface Case {
  ids: number[];
  numSegments: number;
  inner: number[];
  dtype: 'float32' | 'int32';
}

const cases = fc
  .record({
    rows: fc.integer({ min: 1, max: 40 }),
    numSegments: fc.integer({ min: 1, max: 12 }),
    inner: fc.array(fc.integer({ min: 1, max: 4 }), { maxLength: 2 }),
    dtype: fc.constantFrom<'float32' | 'int32'>('float32', 'int32'),
    seed: fc.nat(),
  })
  .chain((c) =>
    fc.record({
      // Ids out of range (−1, numSegments) are dropped, as in TensorFlow.
      ids: fc.array(fc.integer({ min: -1, max: c.numSegments }), { minLength: c.rows, maxLength: c.rows }),
      numSegments: fc.constant(c.numSegments),
      inner: fc.constant(c.inner),
      dtype: fc.constant(c.dtype),
    }),
  );

/** x of shape [rows, ...inner] with small integer values (exact in float32 whatever the order of the sum). */
function inputs(c: Case): { x: tf.Tensor; ids: tf.Tensor1D } {
  const size = c.ids.length * c.inner.reduce((a, b) => a * b, 1);
  const x = tf.tensor(
    Array.from({ length: size }, (_, k) => ((k * 7919) % 23) - 11),
    [c.ids.length, ...c.inner],
    c.dtype,
  );
  return { x, ids: tf.tensor1d(c.ids, 'int32') };
}

/** tfjs-cpu's own kernel: the reference. */
async function stockCpu(c: Case): Promise<tf.Tensor> {
  await tf.setBackend('cpu');
  uninstallCpuFixes();
  const out = tf.tidy(() => {
    const { x, ids } = inputs(c);
    return tf.unsortedSegmentSum(x, ids, c.numSegments);
  });
  installCpuFixes();
  return out;
}

describe('UnsortedSegmentSum (scatter-add)', () => {
  test('equals tfjs-cpu’s own kernel on wasm and on cpu, for any ids, shapes and dtypes, leaking nothing', async () => {
    const samples = fc.sample(cases, { numRuns: 60, seed: 11 });
    for (const c of samples) {
      const reference = await stockCpu(c);
      for (const backend of ['wasm', 'cpu']) {
        await tf.setBackend(backend);
        const [tensors, dataIds] = [tf.memory().numTensors, tf.backend().numDataIds()];
        const out = tf.tidy(() => {
          const { x, ids } = inputs(c);
          return tf.unsortedSegmentSum(x, ids, c.numSegments);
        });
        const got = { values: out.dataSync().slice(), shape: out.shape, dtype: out.dtype };
        out.dispose();
        expect([tf.memory().numTensors, tf.backend().numDataIds()]).toEqual([tensors, dataIds]);
        await tf.setBackend('cpu');
        expect(got.shape).toEqual(reference.shape);
        // The output keeps x's dtype, as TensorFlow's (tfjs-cpu's own kernel turns int32 into float32).
        expect(got.dtype).toBe(c.dtype);
        const copy = tf.tensor(Array.from(got.values), got.shape, 'float32');
        expectClose(copy, reference, 0, `${backend} ${JSON.stringify(c)}`);
        copy.dispose();
      }
      reference.dispose();
    }
    await tf.setBackend('wasm');
  });

  test('gives the embedding gradient on wasm: rows of the table each id picked, summed', () => {
    const table = tf.zeros([5, 2]);
    const ids = tf.tensor1d([1, 3, 1, 4], 'int32');
    const dy = tf.tensor2d([
      [1, 2],
      [3, 4],
      [5, 6],
      [7, 8],
    ]);
    const g = tf.grad((t: tf.Tensor) => tf.gather(t, ids))(table, dy);
    expect(g.arraySync()).toEqual([
      [0, 0],
      [6, 8],
      [0, 0],
      [3, 4],
      [7, 8],
    ]);
    tf.dispose([table, ids, dy, g]);
  });

  test.each(['wasm', 'cpu'])('on %s, its time grows linearly with rows and vocabulary (stock cpu: quadratically)', async (backend) => {
    await tf.setBackend(backend);
    expectLinearCost(`UnsortedSegmentSum on ${backend}`, (scale) => {
      const rows = 256 * scale;
      const x = tf.randomNormal([rows, 32], 0, 1, 'float32', 1);
      const ids = tf.randomUniform([rows], 0, 256 * scale, 'int32', 2) as tf.Tensor1D;
      return () => tf.dispose(tf.unsortedSegmentSum(x, ids, 256 * scale));
    });
    await tf.setBackend('wasm');
  });
});
