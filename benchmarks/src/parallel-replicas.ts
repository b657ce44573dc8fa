// The replica module of `pnpm bench:parallel`: every worker (and the one-process baseline) builds
// the same encoders from it.
import * as tf from '@tensorflow/tfjs-core';
import { convEncoder, textEncoder } from '@gradcache/encoders';
import type { Replica } from '@gradcache/parallel/node';

export const TEXT = { vocabSize: 2000, maxLength: 32, dim: 128, heads: 4, layers: 2, dropout: 0.1 } as const;

export function createReplica({ kind }: { kind: 'cnn' | 'text' }): Replica {
  if (kind === 'cnn') {
    const { encoder } = convEncoder({ inputShape: [32, 32, 3], widths: [16, 32, 64], outputDim: 64, normalize: true, seed: 3 });
    return { encoders: [encoder, encoder], optimizer: tf.train.adam(1e-3) };
  }
  const towers = [5, 6].map((seed) => textEncoder({ ...TEXT, seed }).encoder);
  return { encoders: towers, optimizer: tf.train.adam(1e-3) };
}
