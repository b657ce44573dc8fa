// The names the packages' doc-comment examples use without defining them, for
// scripts/check-doc-examples.mjs: a doc comment shows the call, not the setup. Each example is
// type-checked as a module with every @gradcache export imported; a name it defines itself shadows
// these.
import type * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import type { Batch, Encoder, GradCache, LossFunction, VerifyOptions } from '@gradcache/core';
import type { LayersEncoder } from '@gradcache/encoders';
import type { TrainingData } from '@gradcache/trainer';

declare global {
  const gradCache: GradCache;
  const optimizer: tf.Optimizer;
  const inputs: tf.Tensor[];
  const batch: Batch[];
  const queries: tf.Tensor2D;
  const docs: tf.Tensor2D;
  const q: tf.Tensor2D;
  const d: tf.Tensor2D;
  const k: tf.Tensor2D;
  const z: tf.Tensor2D;
  const z1: tf.Tensor2D;
  const z2: tf.Tensor2D;
  const p1: tf.Tensor2D;
  const p2: tf.Tensor2D;
  const view1Reps: tf.Tensor2D;
  const view2Reps: tf.Tensor2D;
  const imageReps: tf.Tensor2D;
  const textReps: tf.Tensor2D;
  const queue: tf.Tensor2D;
  const x: tf.Tensor;
  const ids: tf.Tensor2D;
  const mask: tf.Tensor2D;
  const encoder: Encoder;
  const queryEncoder: Encoder;
  const docEncoder: Encoder;
  const query: Encoder;
  const doc: Encoder;
  const online: Encoder;
  const tower: LayersEncoder;
  const model: tfl.LayersModel;
  const loss: LossFunction;
  const data: TrainingData;
  const pairs: readonly unknown[];
  const epoch: number;
  const texts: string[];
  const url: string;
  /** Chunk `chunkIndex` of encoder `encoderIndex`, read (and augmented) again. */
  function loadChunk(encoderIndex: number, chunkIndex: number): Batch;
  /** A second tower of the same architecture (its weights are overwritten). */
  function buildSameTower(): Encoder;
  const expect: typeof import('vitest').expect;
}

declare module 'vitest' {
  interface Assertion {
    toMatchFullBatchGradient(inputs: readonly Batch[], options?: VerifyOptions): void;
  }
}
