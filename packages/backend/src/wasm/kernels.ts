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
