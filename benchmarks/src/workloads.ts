/**
 * The three workloads `pnpm bench` measures and `pnpm bench:reference` runs beside PyTorch
 * (benchmarks/reference/torch_reference.py builds the same shapes): MLP towers, a CNN pair and
 * Transformer text towers, with their losses and inputs.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { Encoder } from '@gradcache/core';
import { convEncoder, mlpEncoder, textEncoder } from '@gradcache/encoders';
import { infoNCE, ntXent } from '@gradcache/losses';

/** MLP tower 128-256-256-64, tanh, L2-normalised. */
export const mlpTower = (seed: number): Encoder =>
  mlpEncoder({ inputDim: 128, widths: [256, 256, 64], activation: 'tanh', normalize: true, seed }).encoder;
export const mlpInputs = (rows: number): tf.Tensor[] => [
  tf.randomNormal([rows, 128], 0, 1, 'float32', 1),
  tf.randomNormal([rows, 128], 0, 1, 'float32', 2),
];
/** InfoNCE at τ 0.05, tiled by `tileSize` (the same value untiled). */
export const infoNceLoss =
  (tileSize?: number) =>
  ([a, b]: tf.Tensor2D[]): tf.Scalar =>
    infoNCE(a as tf.Tensor2D, b as tf.Tensor2D, { temperature: 0.05, ...(tileSize === undefined ? {} : { tileSize }) });

/** convEncoder 32×32×3: a stride-2 stem, residual stages 16-32-64 with BatchNorm, a 64-wide L2-normalised head. */
export const cnnEncoder = (): Encoder =>
  convEncoder({ inputShape: [32, 32, 3], widths: [16, 32, 64], outputDim: 64, normalize: true, seed: 3 }).encoder;
export const cnnViews = (rows: number): tf.Tensor[] => [
  tf.randomNormal([rows, 32, 32, 3], 0, 1, 'float32', 3),
  tf.randomNormal([rows, 32, 32, 3], 0, 1, 'float32', 4),
];
export const ntXentLoss = ([a, b]: tf.Tensor2D[]): tf.Scalar => ntXent(a as tf.Tensor2D, b as tf.Tensor2D, { temperature: 0.5 });

/** textEncoder: vocabulary 2,000, 32 tokens, width 128, 4 heads, 2 pre-LN blocks (GELU MLP 512), dropout 0.1, mean pooling. */
export const TEXT = { vocabSize: 2000, maxLength: 32, dim: 128, heads: 4, layers: 2, dropout: 0.1 } as const;
/** Random token batches: lengths 8–32, ids 4…vocabulary, 0 (and mask 0) past the length. */
export const tokens = (rows: number, seed: number): { inputIds: tf.Tensor2D; attentionMask: tf.Tensor2D } => {
  const lengths = tf.randomUniform([rows, 1], 8, 33, 'int32', seed + 1);
  const attentionMask = tf.tidy(() => tf.cast(tf.less(tf.expandDims(tf.range(0, 32, 1, 'int32'), 0), lengths), 'float32')) as tf.Tensor2D;
  const inputIds = tf.tidy(() =>
    tf.mul(tf.randomUniform([rows, 32], 4, TEXT.vocabSize, 'int32', seed), tf.cast(attentionMask, 'int32')),
  ) as tf.Tensor2D;
  lengths.dispose();
  return { inputIds, attentionMask };
};
export const textTowers = (): Encoder[] => [
  textEncoder({ ...TEXT, seed: 5, name: 'query_text' }).encoder,
  textEncoder({ ...TEXT, seed: 6, name: 'doc_text' }).encoder,
];

/** tfjs's matMul rate on this backend: ten 512×512 products, in GFLOP/s. */
export function matMulGflops(): number {
  const [x, y] = [tf.randomNormal([512, 512]), tf.randomNormal([512, 512])];
  tf.dispose(tf.matMul(x, y));
  const start = performance.now();
  for (let i = 0; i < 10; i++) {
    // Not tf.tidy(() => matMul(…).dataSync()): tidy walks the returned 262,144-value array looking for tensors (10× slower).
    const z = tf.matMul(x, y);
    z.dataSync();
    z.dispose();
  }
  const seconds = (performance.now() - start) / 1000;
  tf.dispose([x, y]);
  return (10 * 2 * 512 ** 3) / seconds / 1e9;
}
