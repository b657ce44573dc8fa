import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, expect, test } from 'vitest';
import { verify } from '@gradcache/core';
import { hashedNgrams } from '@gradcache/data';
import { convEncoder, embeddingBagEncoder, mlpEncoder } from '@gradcache/encoders';
import { infoNCE, ntXent } from '@gradcache/losses';
import { useBackend } from '@gradcache/testing';

beforeAll(() => useBackend('cpu'));

test('verify passes for the reference encoders: dropout MLP, BatchNorm CNN (per-chunk statistics), embedding bag', () => {
  const mlp = mlpEncoder({ inputDim: 6, widths: [12, 4], dropout: 0.3, normalize: true, seed: 1 });
  const cnn = convEncoder({ inputShape: [12, 12, 1], widths: [4, 8], outputDim: 6, seed: 2 });
  const bag = embeddingBagEncoder({ vocabSize: 50, dim: 8, normalize: true, seed: 3 });
  const x = [tf.randomNormal([8, 6], 0, 1, 'float32', 1), tf.randomNormal([8, 6], 0, 1, 'float32', 2)];
  const images = [tf.randomNormal([6, 12, 12, 1], 0, 1, 'float32', 3), tf.randomNormal([6, 12, 12, 1], 0, 1, 'float32', 4)];
  const texts = ['a cat', 'the dog', 'an ocean', 'oak tree', 'red', 'blue sky'];
  const tokens = [hashedNgrams(texts, { buckets: 50 }), hashedNgrams([...texts].reverse(), { buckets: 50 })];
  const pair = ([a, b]: tf.Tensor2D[]) => ntXent(a as tf.Tensor2D, b as tf.Tensor2D, { temperature: 0.5 });
  const reports = [
    verify({ encoders: [mlp.encoder, mlp.encoder], chunkSize: 3, loss: pair }, x),
    verify({ encoders: [cnn.encoder, cnn.encoder], chunkSize: 2, loss: pair }, images),
    verify({ encoders: [bag.encoder, bag.encoder], chunkSize: 4, loss: ([a, b]) => infoNCE(a!, b!, { temperature: 0.1 }) }, tokens),
  ];
  reports.forEach((r) => expect(r.pass, r.summary).toBe(true));
  expect(reports[1]?.replay.length).toBe(6);
  tf.dispose([x, images, tokens]);
  [mlp, cnn, bag].forEach((e) => e.model.dispose());
});
