import * as tf from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { reserveScratch } from './heap-guard.js';
import { type Conv2DBackpropAttrs, replacing } from './kernels.js';

const bytesOf = (info: tf.TensorInfo): number => info.shape.reduce((a, b) => a * b, 1) * 4;

/**
 * What XNNPACK allocates inside a matMul: its weights (b) packed into a new buffer, plus the bias;
 * rounded up for the packing's padding.
 */
export function matMulScratch(inputs: tf.NamedTensorInfoMap): number {
  const b = inputs['b'] as tf.TensorInfo;
  return Math.ceil(bytesOf(b) * 1.25) + 64 * 1024;
}

/**
 * What XNNPACK allocates inside a conv: the packed filter and the indirection buffer (one 4-byte
 * pointer per output pixel and kernel tap).
 */
export function convScratch(inputs: tf.NamedTensorInfoMap, attrs: tf.NamedAttrMap): number {
  const x = inputs['x'] as tf.TensorInfo;
  const filter = inputs['filter'] as tf.TensorInfo;
  const { strides, pad, dilations, dimRoundingMode } = attrs as unknown as Conv2DBackpropAttrs;
  const info = tf.backend_util.computeConv2DInfo(
    x.shape as [number, number, number, number],
    filter.shape as [number, number, number, number],
    strides,
    dilations ?? 1,
    pad,
    dimRoundingMode,
  );
  const taps = info.filterHeight * info.filterWidth;
  return Math.ceil(bytesOf(filter) * 1.25) + info.batchSize * info.outHeight * info.outWidth * taps * 4 + 64 * 1024;
}

/** The stock kernel, after a check that its XNNPACK scratch fits under the heap guard's limit. */
export function reservingScratch(
  stock: tf.KernelConfig,
  estimate: (inputs: tf.NamedTensorInfoMap, attrs: tf.NamedAttrMap) => number,
): tf.KernelConfig {
  return replacing(stock, (args) => {
    reserveScratch(args.backend as BackendWasm, estimate(args.inputs, args.attrs ?? {}));
    return stock.kernelFunc(args);
  });
}
