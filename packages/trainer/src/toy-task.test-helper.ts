import * as tf from '@tensorflow/tfjs-core';
import { mlpEncoder } from '@gradcache/encoders';
import { infoNCE } from '@gradcache/losses';
import type { TrainingData } from './fit.js';

/** A tiny seeded two-tower task: 96 rows of 6 features (queries) and a noisy copy (documents), towers with dropout. */
export function toyTask(seed = 1) {
  const x = tf.randomNormal<tf.Rank.R2>([96, 6], 0, 1, 'float32', seed);
  const y = tf.tidy(() => tf.add(x, tf.randomNormal([96, 6], 0, 0.3, 'float32', seed + 1)) as tf.Tensor2D);
  const q = mlpEncoder({ inputDim: 6, widths: [12, 4], dropout: 0.2, normalize: true, seed: 10 * seed, name: 'q' });
  const d = mlpEncoder({ inputDim: 6, widths: [12, 4], dropout: 0.2, normalize: true, seed: 10 * seed + 1, name: 'd' });
  const data: TrainingData = {
    size: 96,
    batch: (indices) => {
      const ids = tf.tensor1d(Array.from(indices), 'int32');
      const batch = [tf.gather(x, ids), tf.gather(y, ids)];
      ids.dispose();
      return batch;
    },
  };
  return {
    encoders: [q.encoder, d.encoder],
    loss: ([a, b]: tf.Tensor2D[]) => infoNCE(a as tf.Tensor2D, b as tf.Tensor2D, { temperature: 0.2 }),
    data,
    variables: () => [...q.model.trainableWeights, ...d.model.trainableWeights].map((w) => w.read() as tf.Variable),
    dispose: () => {
      tf.dispose([x, y]);
      q.model.dispose();
      d.model.dispose();
    },
  };
}
