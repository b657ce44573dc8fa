import type * as tf from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { reserveScratch } from './heap-guard.js';
import { replacing } from './kernels.js';

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
export function convScratch(inputs: tf.NamedTensorInfoMap): number {
  const x = inputs['x'] as tf.TensorInfo;
  const filter = inputs['filter'] as tf.TensorInfo;
  const [, height = 1, width = 1] = x.shape;
  const [kh = 1, kw = 1] = filter.shape;
  return Math.ceil(bytesOf(filter) * 1.25) + height * width * kh * kw * 4 + 64 * 1024;
}

/** The stock kernel, after a check that its XNNPACK scratch fits under the heap guard's limit. */
export function reservingScratch(stock: tf.KernelConfig, estimate: (inputs: tf.NamedTensorInfoMap) => number): tf.KernelConfig {
  return replacing(stock, (args) => {
    reserveScratch(args.backend as BackendWasm, estimate(args.inputs));
    return stock.kernelFunc(args);
  });
}
