import * as tf from '@tensorflow/tfjs-core';
import { conv2DBackpropFilter } from './conv2d-backprop-filter.js';
import { conv2DBackpropInput } from './conv2d-backprop-input.js';
import { wasmSegmentSum } from '../segment-sum.js';
import { cpuBridge } from './cpu-bridge.js';
import { gatherRowsKernel } from './gather-rows.js';
import { leadingSumKernel } from './leading-sum.js';
import { sharedIdentity } from './shared-identity.js';
import { sliceViewKernel } from './slice-view.js';
import { tileCopyKernel } from './tile-copy.js';
import { transposeFirst } from './transposed-matmul.js';
import { convScratch, reservingScratch } from './xnnpack-scratch.js';

/** What `installWasmFixes` registers, and why. */
export const WASM_FIXES: readonly { kernel: string; why: string; make: (stock?: tf.KernelConfig) => tf.KernelConfig }[] = [
  {
    kernel: 'BatchMatMul',
    why: 'transposed operands 12–60× slower: transpose first; batches of products ~1.7 GFLOP/s: a SIMD kernel (~25)',
    make: (s) => transposeFirst(s as tf.KernelConfig),
  },
  { kernel: '_FusedMatMul', why: 'transposed operands 12–60× slower: transpose first', make: (s) => transposeFirst(s as tf.KernelConfig) },
  {
    kernel: 'Conv2D',
    why: 'XNNPACK packs the filter outside the heap guard: check for room first',
    make: (s) => reservingScratch(s as tf.KernelConfig, convScratch),
  },
  {
    kernel: 'FusedConv2D',
    why: 'XNNPACK packs the filter outside the heap guard: check for room first',
    make: (s) => reservingScratch(s as tf.KernelConfig, convScratch),
  },
  {
    kernel: 'Conv2DBackpropFilter',
    why: 'missing (conv weight gradients): one forward conv of the transposed input with dy as the filter',
    make: () => conv2DBackpropFilter(),
  },
  {
    kernel: 'Conv2DBackpropInput',
    why: '~10× slower than a forward conv: one forward conv of the spread dy',
    make: (s) => conv2DBackpropInput(s as tf.KernelConfig),
  },
  { kernel: 'MaxPoolGrad', why: 'wrong (drops contributions): cpu kernel', make: () => cpuBridge('MaxPoolGrad') },
  {
    kernel: 'Slice',
    why: 'copies the whole input off the heap before slicing (O(batch) per chunk): copy only the slice',
    make: (s) => sliceViewKernel(s as tf.KernelConfig),
  },
  {
    kernel: 'Identity',
    why: 'copies its input (~4,800 calls in a Transformer text step): share the data, as cpu and Reshape do',
    make: (s) => sharedIdentity(s as tf.KernelConfig),
  },
  {
    kernel: 'Tile',
    why: 'one index computation per element (10 ms for a LayerNorm broadcast of 256k values): block copies',
    make: (s) => tileCopyKernel(s as tf.KernelConfig),
  },
  {
    kernel: 'GatherV2',
    why: 'embedding lookups ~30× slower than a row copy (per-element strides): one block copy per row',
    make: (s) => gatherRowsKernel(s as tf.KernelConfig),
  },
  {
    kernel: 'Sum',
    why: 'over leading axes (bias and LayerNorm gradients) it transposes first: row sums on the heap, 2.4–6.4× faster',
    make: (s) => leadingSumKernel(s as tf.KernelConfig),
  },
  {
    kernel: 'UnsortedSegmentSum',
    why: 'missing (embedding / gather gradients): one-pass scatter-add on the heap',
    make: () => wasmSegmentSum,
  },
  {
    kernel: 'DepthwiseConv2dNativeBackpropFilter',
    why: 'missing: cpu kernel',
    make: () => cpuBridge('DepthwiseConv2dNativeBackpropFilter'),
  },
  { kernel: 'DepthwiseConv2dNativeBackpropInput', why: 'missing: cpu kernel', make: () => cpuBridge('DepthwiseConv2dNativeBackpropInput') },
  { kernel: 'Einsum', why: 'missing: cpu kernel', make: () => cpuBridge('Einsum') },
];

const stockKernels = new Map<string, tf.KernelConfig | undefined>();

/**
 * Registers the wasm kernel fixes (see WASM_FIXES) in place of the stock ones; idempotent. Works
 * before or after the wasm backend is initialised (the replacements keep the stock setup).
 */
export function installWasmFixes(): string[] {
  for (const fix of WASM_FIXES) {
    if (stockKernels.has(fix.kernel)) continue;
    const stock = tf.getKernel(fix.kernel, 'wasm');
    stockKernels.set(fix.kernel, stock);
    if (stock !== undefined) tf.unregisterKernel(fix.kernel, 'wasm');
    tf.registerKernel(fix.make(stock));
  }
  return WASM_FIXES.map((f) => `${f.kernel}: ${f.why}`);
}

/** Puts the stock wasm kernels back (for comparisons such as the backend benchmark). */
export function uninstallWasmFixes(): void {
  for (const [kernel, stock] of stockKernels) {
    tf.unregisterKernel(kernel, 'wasm');
    if (stock !== undefined) tf.registerKernel(stock);
  }
  stockKernels.clear();
}
