// The replica module of the tests: two MLP towers with dropout and an Adam optimizer. Options inject
// failures: an encode that throws, or a worker that exits, on a chunk of a given number of rows.
import { unlinkSync } from 'node:fs';
import * as tf from '@tensorflow/tfjs-core';
import type { Encoder } from '@gradcache/core';
import { mlpEncoder } from '@gradcache/encoders';
import type { Replica } from './worker.js';

export interface TestReplicaOptions {
  throwOnRows?: number;
  exitOnRows?: number;
  /** Exits once, in the first encode after this file appears (whichever worker deletes it). */
  exitOnceFile?: string;
  /** Returns a rank-3 rep (a GradCacheError INVALID_REP in the worker) on a chunk of this many rows. */
  badRepOnRows?: number;
  /** Freezes the second tower (frozen: true): forwarded once, no gradient. */
  frozenSecond?: boolean;
  /** Replaces the second tower by one with no trainable variables (a fixed projection): frozen by having none. */
  fixedSecond?: boolean;
}

export function createReplica(options: TestReplicaOptions = {}): Replica {
  const towers = [
    mlpEncoder({ inputDim: 6, widths: [12, 4], dropout: 0.2, seed: 1 }).encoder,
    mlpEncoder({ inputDim: 6, widths: [10, 4], seed: 2 }).encoder,
  ];
  const encoders: Encoder[] = towers.map((t, k) => ({
    name: t.name,
    trainableVariables: t.trainableVariables,
    ...(k === 1 && options.frozenSecond === true ? { frozen: true } : {}),
    encode: (x, context) => {
      const rows = (x as tf.Tensor).shape[0];
      if (rows === options.throwOnRows) throw new Error(`encode refused a chunk of ${rows} rows (injected)`);
      if (rows === options.exitOnRows) process.exit(3);
      if (options.exitOnceFile !== undefined && deleted(options.exitOnceFile)) process.exit(3);
      if (rows === options.badRepOnRows) return tf.zeros([rows, 2, 2]);
      return t.encode(x, context);
    },
  }));
  if (options.fixedSecond === true) {
    const projection = tf.randomNormal([6, 4], 0, 1, 'float32', 3);
    encoders[1] = { name: 'fixed', trainableVariables: [], encode: (x) => tf.matMul(x as tf.Tensor2D, projection) };
  }
  return { encoders, optimizer: tf.train.adam(0.01) };
}

/** Deletes `file`; whether it was there (only one worker can delete it). */
function deleted(file: string): boolean {
  try {
    unlinkSync(file);
    return true;
  } catch {
    return false;
  }
}
