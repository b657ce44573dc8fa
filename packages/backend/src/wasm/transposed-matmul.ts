import type * as tf from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { batchedMatMul, isBatchedProduct } from './batched-matmul.js';
import { reserveScratch } from './heap-guard.js';
import { lastTwoSwapped, replacing, runWasmKernel, withScratch } from './kernels.js';
import { matMulScratch } from './xnnpack-scratch.js';

/**
 * A BatchMatMul or _FusedMatMul for wasm that transposes its inputs explicitly (one copy each)
 * and then runs the stock kernel with both transpose flags off. Stock wasm with a flag set runs
 * 12–60× slower than the untransposed kernel, and every matMul gradient sets one. Checks first
 * that XNNPACK's packed copy of b fits under the heap guard (see reserveScratch). A batch of
 * products (BatchMatMul with batch > 1: attention's) goes to the SIMD kernel of batched-matmul.ts.
 */
export function transposeFirst(stock: tf.KernelConfig): tf.KernelConfig {
  const fused = stock.kernelName === '_FusedMatMul';
  return replacing(stock, (args) => {
    const { inputs, backend, attrs } = args;
    const { transposeA, transposeB } = attrs as { transposeA: boolean; transposeB: boolean };
    const wasm = backend as BackendWasm;
    const { a, b } = inputs as { a: tf.TensorInfo; b: tf.TensorInfo };
    const run = (x: tf.TensorInfo, y: tf.TensorInfo): tf.TensorInfo => {
      if (!fused && isBatchedProduct(x, y)) return batchedMatMul(wasm, x, y);
      reserveScratch(wasm, matMulScratch({ ...inputs, a: x, b: y }));
      const flags = { ...attrs, transposeA: false, transposeB: false };
      return stock.kernelFunc({ inputs: { ...inputs, a: x, b: y }, backend, attrs: flags }) as tf.TensorInfo;
    };
    if (!transposeA && !transposeB) return run(a, b);
    return withScratch(wasm, (keep) => {
      const transpose = (x: tf.TensorInfo): tf.TensorInfo =>
        keep(runWasmKernel('Transpose', wasm, { x }, { perm: lastTwoSwapped(x.shape.length) }));
      return run(transposeA ? transpose(a) : a, transposeB ? transpose(b) : b);
    });
  });
}
