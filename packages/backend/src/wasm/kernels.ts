import * as tf from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';

/** Runs the registered wasm kernel `name` directly (no engine, no tape); the caller disposes the result. */
export function runWasmKernel(
  name: string,
  backend: BackendWasm,
  inputs: tf.NamedTensorInfoMap,
  attrs: tf.NamedAttrMap = {},
): tf.TensorInfo {
  const kernel = tf.getKernel(name, 'wasm');
  if (kernel === undefined) throw new Error(`runWasmKernel: no wasm kernel ${name}.`);
  return kernel.kernelFunc({ inputs, backend, attrs }) as tf.TensorInfo;
}

/** Frees intermediate results of runWasmKernel. */
export function disposeInfos(backend: BackendWasm, infos: readonly tf.TensorInfo[]): void {
  for (const info of infos) backend.disposeData(info.dataId);
}

/** The swap of the last two axes of a rank-n tensor. */
export function lastTwoSwapped(rank: number): number[] {
  const perm = [...Array(rank).keys()];
  [perm[rank - 2], perm[rank - 1]] = [perm[rank - 1] as number, perm[rank - 2] as number];
  return perm;
}

/**
 * Runs `f` with a `keep` that records intermediate results, and frees them all when `f` returns or
 * throws; whatever `f` returns is not freed.
 */
export function withScratch<T>(backend: BackendWasm, f: (keep: (t: tf.TensorInfo) => tf.TensorInfo) => T): T {
  const temps: tf.TensorInfo[] = [];
  try {
    return f((t) => {
      temps.push(t);
      return t;
    });
  } finally {
    disposeInfos(backend, temps);
  }
}

/** A wasm kernel that replaces `stock`, keeping its setup (which binds the wasm functions it calls). */
export function replacing(stock: tf.KernelConfig, kernelFunc: tf.KernelFunc): tf.KernelConfig {
  const kernel: tf.KernelConfig = { kernelName: stock.kernelName, backendName: 'wasm', kernelFunc };
  if (stock.setupFunc !== undefined) kernel.setupFunc = stock.setupFunc;
  return kernel;
}

/** The attributes of Conv2DBackpropFilter and Conv2DBackpropInput that the fixes read. */
export interface Conv2DBackpropAttrs {
  strides: [number, number] | number;
  pad: 'valid' | 'same' | number | tf.backend_util.ExplicitPadding;
  dataFormat: 'NHWC' | 'NCHW';
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
  dilations?: [number, number] | number;
  /** Conv2DBackpropFilter: the filter's shape. */
  filterShape?: [number, number, number, number];
  /** Conv2DBackpropInput: the input's shape. */
  inputShape?: [number, number, number, number];
}
