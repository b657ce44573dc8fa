import * as tfl from '@tensorflow/tfjs-layers';
import { check } from './errors.js';
import { l2NormalizeLayer } from './layers/l2-normalize.js';
import { layersEncoder, type LayersEncoder } from './layers-encoder.js';
import { buildSeeded } from './seeded.js';

/** Options of convEncoder. */
export interface ConvEncoderOptions {
  /** [height, width, channels]: any size from 28×28 to 1024×1024, 1 or 3 channels. */
  inputShape: readonly [number, number, number];
  /** Channels of each residual stage; every stage after the first halves the resolution. Default [16, 32, 64]. */
  widths?: readonly number[];
  /** Residual blocks per stage. Default 1. */
  blocksPerStage?: number;
  /** Width of the projection head's output (the rep). Default 64. */
  outputDim?: number;
  /** Largest side the stages work on: stride-2 stem convs halve the input until it fits. Default 64. */
  maxStageSize?: number;
  /** L2-normalise the reps. Default false. */
  normalize?: boolean;
  /** Seeds the initial weights: one seed, bit-identical weights (no seeded scope needed around the call). */
  seed?: number;
  /** Model name. */
  name?: string;
}

/** conv → BatchNorm (→ ReLU). Biases are left out: BatchNorm's beta does their job. */
function convBn(x: tfl.SymbolicTensor, filters: number, kernelSize: number, strides: number, relu: boolean): tfl.SymbolicTensor {
  const conv = tfl.layers
    .conv2d({ filters, kernelSize, strides, padding: 'same', useBias: false, kernelInitializer: 'heNormal' })
    .apply(x) as tfl.SymbolicTensor;
  const bn = tfl.layers.batchNormalization({ momentum: 0.9 }).apply(conv) as tfl.SymbolicTensor;
  return relu ? (tfl.layers.reLU().apply(bn) as tfl.SymbolicTensor) : bn;
}

/** A basic ResNet block: two 3×3 conv-BN, a projected shortcut when the shape changes, ReLU of the sum. */
function residualBlock(x: tfl.SymbolicTensor, filters: number, strides: number): tfl.SymbolicTensor {
  const main = convBn(convBn(x, filters, 3, strides, true), filters, 3, 1, false);
  const inChannels = x.shape[3] as number;
  const shortcut = strides === 1 && inChannels === filters ? x : convBn(x, filters, 1, strides, false);
  const sum = tfl.layers.add().apply([main, shortcut]) as tfl.SymbolicTensor;
  return tfl.layers.reLU().apply(sum) as tfl.SymbolicTensor;
}

/**
 * A small ResNet-style CNN as a plain tf.LayersModel and its GradCache Encoder: stride-2 3×3 stem
 * convs until the image is at most `maxStageSize` on a side (one for 28×28 … 128×128, four for
 * 1024×1024), residual stages (conv, BatchNorm, ReLU, strided downsampling), global average
 * pooling and a linear projection head. Square kernels only, on which tfjs-wasm's conv is exact.
 *
 * ```ts
 * const { model, encoder } = convEncoder({ inputShape: [1024, 1024, 3], outputDim: 128, normalize: true });
 * ```
 */
export function convEncoder(options: ConvEncoderOptions): { model: tfl.LayersModel; encoder: LayersEncoder } {
  const { inputShape, widths = [16, 32, 64], blocksPerStage = 1, outputDim = 64, maxStageSize = 64, normalize = false } = options;
  const [height, width, channels] = inputShape;
  check(
    Array.isArray(inputShape) && inputShape.length === 3 && [height, width, channels].every((n) => Number.isInteger(n) && n > 0),
    'INVALID_OPTION',
    () => `convEncoder: inputShape must be [height, width, channels] of positive integers, got [${inputShape.join(', ')}].`,
  );
  check(
    widths.length > 0 && widths.every((w) => Number.isInteger(w) && w > 0),
    'INVALID_OPTION',
    () => `convEncoder: widths must be positive integers, got [${widths.join(', ')}].`,
  );
  for (const [name, value] of Object.entries({ outputDim, maxStageSize })) {
    check(Number.isInteger(value) && value > 0, 'INVALID_OPTION', () => `convEncoder: ${name} must be a positive integer, got ${value}.`);
  }
  check(
    Number.isInteger(blocksPerStage) && blocksPerStage > 0,
    'INVALID_OPTION',
    () => `convEncoder: blocksPerStage must be a positive integer, got ${blocksPerStage}.`,
  );
  return buildSeeded('convEncoder', options.seed, () => {
    const input = tfl.input({ shape: [height, width, channels], name: 'image' });
    let x = convBn(input, widths[0] as number, 3, 2, true);
    for (let side = Math.ceil(Math.max(height, width) / 2); side > maxStageSize; side = Math.ceil(side / 2)) {
      x = convBn(x, widths[0] as number, 3, 2, true);
    }
    widths.forEach((filters, stage) => {
      for (let block = 0; block < blocksPerStage; block++) x = residualBlock(x, filters, stage > 0 && block === 0 ? 2 : 1);
    });
    let rep = tfl.layers.dense({ units: outputDim }).apply(tfl.layers.globalAveragePooling2d({}).apply(x)) as tfl.SymbolicTensor;
    if (normalize) rep = l2NormalizeLayer().apply(rep) as tfl.SymbolicTensor;
    const model = tfl.model({ inputs: input, outputs: rep, name: options.name ?? 'conv_encoder' });
    return { model, encoder: layersEncoder(model) };
  });
}
