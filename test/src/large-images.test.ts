import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, test } from 'vitest';
import { initBackend } from '@gradcache/backend/node';
import { functionEncoder, GradCache, measureMemory } from '@gradcache/core';
import { convEncoder } from '@gradcache/encoders';
import { uniformity } from '@gradcache/losses';

// The seed thread's case: 1024×1024 images, where one image's activations are large and the chunk
// may be a single image. On wasm with @gradcache/backend's kernel fixes (conv weight gradients).
beforeAll(() => initBackend('wasm'));

const loss = ([z]: tf.Tensor2D[]): tf.Scalar => uniformity(z as tf.Tensor2D);

describe('convEncoder on 1024×1024×3 images', () => {
  test('one image: forward and backward complete with finite gradients', () => {
    const { model, encoder } = convEncoder({ inputShape: [1024, 1024, 3], widths: [8, 16], outputDim: 16, normalize: true });
    const image = tf.randomUniform([1, 1024, 1024, 3], 0, 1, 'float32', 1);
    const { value, grads } = tf.variableGrads(
      () => tf.sum(tf.square(encoder.encode(image, { training: true }))),
      [...encoder.trainableVariables],
    );
    expect(Object.keys(grads)).toHaveLength(encoder.trainableVariables.length);
    for (const g of Object.values(grads)) expect(g.dataSync().every(Number.isFinite)).toBe(true);
    tf.dispose([value, grads, image]);
    model.dispose();
  });

  test('a cached step at B = 8, chunk 1, peaks below one full B = 8 step', async () => {
    const { model, encoder } = convEncoder({ inputShape: [1024, 1024, 3], widths: [8, 16], outputDim: 16, normalize: true });
    const images = tf.randomUniform([8, 1024, 1024, 3], 0, 1, 'float32', 2);
    const full = await measureMemory(() =>
      tf.dispose(tf.variableGrads(() => loss([encoder.encode(images, { training: true })]), [...encoder.trainableVariables])),
    );
    const cache = new GradCache({ encoders: [encoder], chunkSize: 1, loss });
    const cached = await measureMemory(() => tf.dispose(cache.computeGradients([images])));
    // Measured: full ≈ 2002 MiB, cached ≈ 262 MiB (tensor bytes are deterministic on wasm).
    expect(cached.peakBytes).toBeLessThan(full.peakBytes);
    tf.dispose(images);
    model.dispose();
  });
});

describe('a batch of 1024×1024×3 images larger than one tensor may be, trained with a loader', () => {
  test('300 images (3.5 GiB as one tensor, past the wasm heap limit of 3 GiB): chunks are loaded, encoded, re-loaded; the step stays at a few chunks of memory', async () => {
    const B = 300;
    const chunk = 4;
    const imageBytes = 1024 * 1024 * 3 * 4;
    expect(B * imageBytes).toBeGreaterThan(3 * 2 ** 30);
    // A cheap encoder, so the test is about memory, not FLOPs: 16×16 patches → 8 channels, mean-pooled.
    const [filter, dense] = [
      tf.variable(tf.randomNormal([16, 16, 3, 8], 0, 0.05, 'float32', 3)),
      tf.variable(tf.randomNormal([8, 8], 0, 0.3, 'float32', 4)),
    ];
    const patches = functionEncoder({
      name: 'patches',
      variables: [filter, dense],
      encode: (x) => tf.matMul(tf.mean(tf.relu(tf.conv2d(x as tf.Tensor4D, filter as tf.Tensor4D, 16, 'valid')), [1, 2]), dense),
    });
    // The loader: image k is a ramp plus a per-image offset, made in one kernel (never stored as a batch).
    const ramp = tf.reshape(tf.linspace(0, 1, 1024), [1, 1024, 1, 1]);
    const load = (j: number): tf.Tensor4D =>
      tf.tidy(() => {
        const offsets = tf.reshape(tf.range(j * chunk, (j + 1) * chunk), [chunk, 1, 1, 1]);
        return tf.add(tf.mul(ramp, tf.sin(offsets)), tf.mul(tf.ones([chunk, 1, 1024, 3]), tf.div(offsets, B))) as tf.Tensor4D;
      });
    const cache = new GradCache({ encoders: [patches], chunkSize: chunk, loss, seed: 1 });
    const optimizer = tf.train.sgd(0.1);
    const before = Array.from(await dense.data());
    const { result, peakBytes } = await measureMemory(() => {
      const step = cache.begin({ load: (_i, j) => load(j) });
      for (let j = 0; j < B / chunk; j++) step.add(0);
      return step.stepAsync(optimizer);
    });
    expect(Number.isFinite(result.loss)).toBe(true);
    expect(Array.from(await dense.data())).not.toEqual(before);
    // One chunk's images are 48 MiB; the whole batch would be 3.5 GiB.
    expect(peakBytes).toBeLessThan(4 * chunk * imageBytes);
    tf.dispose([filter, dense, ramp]);
    optimizer.dispose();
  }, 120_000);
});
