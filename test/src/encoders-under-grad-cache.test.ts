import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { beforeAll, describe, expect, test } from 'vitest';
import { initBackend } from '@gradcache/backend/node';
import { GradCache, type Batch, type Encoder } from '@gradcache/core';
import { snapshotState } from '@gradcache/core/internal';
import { convEncoder, embeddingBagEncoder, layersEncoder, mlpEncoder } from '@gradcache/encoders';
import { hashedNgrams } from '@gradcache/data';
import { ntXent } from '@gradcache/losses';
import { expectClose, expectGradsClose, useBackend } from '@gradcache/testing';
import { chunkedReference, plainChunkedForward } from './chunked-reference.js';
import { tinyTextTower } from './tiny-text.js';

/** cpu, and wasm with @gradcache/backend's training fixes (conv weight and embedding gradients). */
const backends: [string, () => Promise<unknown>][] = [
  ['cpu', () => useBackend('cpu')],
  ['wasm', () => initBackend('wasm')],
];

const loss = ([a, b]: tf.Tensor2D[]): tf.Scalar => ntXent(a as tf.Tensor2D, b as tf.Tensor2D, { temperature: 0.5 });

/** A hand-built functional model with Dropout and BatchNorm, as a user would bring. */
function functionalModel(): tfl.LayersModel {
  const input = tfl.input({ shape: [6] });
  let x = tfl.layers.dense({ units: 12, activation: 'relu' }).apply(input) as tfl.SymbolicTensor;
  x = tfl.layers.batchNormalization().apply(x) as tfl.SymbolicTensor;
  x = tfl.layers.dropout({ rate: 0.3 }).apply(x) as tfl.SymbolicTensor;
  const out = tfl.layers.dense({ units: 5 }).apply(x) as tfl.SymbolicTensor;
  return tfl.model({ inputs: input, outputs: out });
}

/**
 * Two views through one shared encoder: cached gradient vs the chunked reference (same dropout,
 * per-chunk BatchNorm), then moving statistics vs one plain chunked forward.
 */
function checkEncoder(encoder: Encoder, views: [Batch, Batch], chunkSize: number): void {
  const cache = new GradCache({ encoders: [encoder, encoder], chunkSize, loss, seed: 11 });
  const state = encoder.stateVariables ?? [];
  const initial = snapshotState(state);
  const initialValues = state.map((v) => tf.clone(v));
  // What one plain chunked forward leaves in the state.
  plainChunkedForward(cache, views);
  const expectedState = state.map((v) => tf.clone(v));
  initial.restore();

  const { loss: value, grads } = cache.computeGradients(views);
  const afterCached = state.map((v) => tf.clone(v));
  initial.restore();
  const ref = chunkedReference(cache, views, loss, 0);
  try {
    expectClose(value, ref.value, 1e-5, 'loss');
    expectGradsClose(grads, ref.grads, 1e-4);
    afterCached.forEach((s, k) => expectClose(s, expectedState[k] as tf.Tensor, 1e-6, `state ${state[k]?.name}`));
    if (state.length > 0) {
      // And the statistics really moved (the comparison above is not between two untouched copies).
      const moved = afterCached.some(
        (s, k) => tf.tidy(() => tf.max(tf.abs(tf.sub(s, initialValues[k] as tf.Tensor))).dataSync()[0] as number) > 1e-6,
      );
      expect(moved).toBe(true);
    }
  } finally {
    tf.dispose([value, grads, ref, expectedState, afterCached, initialValues]);
    initial.dispose();
  }
}

describe.each(backends)('reference encoders under GradCache equal the chunked full-batch gradient, on %s', (_name, setUp) => {
  beforeAll(setUp);

  test('mlpEncoder with dropout, L2-normalised', () => {
    const { model, encoder } = mlpEncoder({ inputDim: 6, widths: [16, 8], dropout: 0.2, normalize: true });
    const views: [Batch, Batch] = [tf.randomNormal([10, 6], 0, 1, 'float32', 1), tf.randomNormal([10, 6], 0, 1, 'float32', 2)];
    checkEncoder(encoder, views, 4);
    tf.dispose(views as tf.Tensor[]);
    model.dispose();
  });

  test('convEncoder with BatchNorm (moving statistics updated once per chunk)', () => {
    const { model, encoder } = convEncoder({ inputShape: [16, 16, 1], widths: [4, 8], outputDim: 8 });
    const views: [Batch, Batch] = [
      tf.randomNormal([6, 16, 16, 1], 0, 1, 'float32', 3),
      tf.randomNormal([6, 16, 16, 1], 0, 1, 'float32', 4),
    ];
    checkEncoder(encoder, views, 2);
    tf.dispose(views as tf.Tensor[]);
    model.dispose();
  });

  test('textEncoder with dropout, on record batches from the tokenizer', () => {
    const { model, encoder, views } = tinyTextTower();
    checkEncoder(encoder, views, 4);
    tf.dispose(views as unknown as tf.TensorContainer);
    model.dispose();
  });

  test('embeddingBagEncoder on hashed n-grams (embedding gradient through a masked mean)', () => {
    const { model, encoder } = embeddingBagEncoder({ vocabSize: 64, dim: 8, hidden: [8], normalize: true, seed: 2 });
    const texts = ['a feline mammal', 'cat', 'a domestic dog', 'canine', 'the largest ocean', 'pacific', 'a tree', 'oak'];
    const views: [Batch, Batch] = [hashedNgrams(texts, { buckets: 64 }), hashedNgrams([...texts].reverse(), { buckets: 64 })];
    checkEncoder(encoder, views, 3);
    tf.dispose(views as unknown as tf.TensorContainer);
    model.dispose();
  });

  test('a hand-built functional model with Dropout and BatchNorm, wrapped in one line', () => {
    const model = functionalModel();
    const views: [Batch, Batch] = [tf.randomNormal([9, 6], 0, 1, 'float32', 5), tf.randomNormal([9, 6], 0, 1, 'float32', 6)];
    checkEncoder(layersEncoder(model), views, 4);
    tf.dispose(views as tf.Tensor[]);
    model.dispose();
  });
});
