import * as tf from '@tensorflow/tfjs-core';

/** The facts about the active backend that a benchmark or bug report needs. */
export interface BackendInfo {
  /** The active tfjs backend. */
  backend: string;
  /** tfjs-core's version. */
  tfjs: string;
  /** Node's version. */
  node: string;
  /** Wasm SIMD and threads, when the backend is wasm. */
  wasm?: { simd: boolean; threads: boolean; heapBytes: number };
}

/**
 * Describes the active backend.
 *
 * ```ts
 * console.log(formatBackendInfo(await backendInfo())); // "wasm (simd on, threads off) · tfjs 4.22.0 · node v20.20.2"
 * ```
 */
export async function backendInfo(): Promise<BackendInfo> {
  const info: BackendInfo = { backend: tf.getBackend(), tfjs: tf.version_core, node: process.version };
  if (info.backend === 'wasm') {
    const heap = (tf.backend() as unknown as { wasm: { HEAPU8: Uint8Array } }).wasm.HEAPU8.length;
    info.wasm = {
      simd: Boolean(await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT')),
      threads: Boolean(await tf.env().getAsync('WASM_HAS_MULTITHREAD_SUPPORT')),
      heapBytes: heap,
    };
  }
  return info;
}

/** One line for a report header. */
export function formatBackendInfo(info: BackendInfo): string {
  const wasm = info.wasm === undefined ? '' : ` (simd ${info.wasm.simd ? 'on' : 'off'}, threads ${info.wasm.threads ? 'on' : 'off'})`;
  return `${info.backend}${wasm} · tfjs ${info.tfjs} · node ${info.node}`;
}
