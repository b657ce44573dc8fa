import type * as tf from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { reserveScratch } from './heap-guard.js';
import { lastTwoSwapped, replacing, runWasmKernel, withScratch } from './kernels.js';
import { matMulScratch } from './xnnpack-scratch.js';

/**
 * A BatchMatMul or _FusedMatMul for wasm that transposes its inputs explicitly (one copy each)
 * and then runs the stock kernel with both transpose flags off. Stock wasm with a flag set runs
 * 12–60× slower than the untransposed kernel, and every matMul gradient sets one. Checks first
 * that XNNPACK's packed copy of b fits under the heap guard (see reserveScratch).
 */
export function transposeFirst(stock: tf.KernelConfig): tf.KernelConfig {
  return replacing(stock, (args) => {
    const { inputs, backend, attrs } = args;
    const { transposeA, transposeB } = attrs as { transposeA: boolean; transposeB: boolean };
    const wasm = backend as BackendWasm;
    reserveScratch(wasm, matMulScratch(inputs));
    if (!transposeA && !transposeB) return stock.kernelFunc(args);
    const { a, b } = inputs as { a: tf.TensorInfo; b: tf.TensorInfo };
    return withScratch(wasm, (keep) => {
      const transpose = (x: tf.TensorInfo): tf.TensorInfo =>
        keep(runWasmKernel('Transpose', wasm, { x }, { perm: lastTwoSwapped(x.shape.length) }));
      return stock.kernelFunc({
        inputs: { ...inputs, a: transposeA ? transpose(a) : a, b: transposeB ? transpose(b) : b },
        backend,
        attrs: { ...attrs, transposeA: false, transposeB: false },
      });
    });
  });
}
