import * as tf from '@tensorflow/tfjs-core';
import { type AdapterInfo, activeAdapter } from './webgpu.js';

/** The facts about the active backend that a benchmark or bug report needs. */
export interface BackendInfo {
  /** The active tfjs backend. */
  backend: string;
  /** tfjs-core's version. */
  tfjs: string;
  /** Node's version; '' in a browser. */
  node: string;
  /** The WebGPU adapter, when the backend is webgpu. */
  adapter?: AdapterInfo;
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
  const info: BackendInfo = {
    backend: tf.getBackend(),
    tfjs: tf.version_core,
    node: (globalThis as { process?: { version?: string } }).process?.version ?? '',
  };
  const adapter = activeAdapter();
  if (info.backend === 'webgpu' && adapter !== undefined) info.adapter = adapter;
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
  const adapter = info.adapter === undefined ? '' : ` (${info.adapter.description}${info.adapter.software ? ', software' : ''})`;
  const host = info.node === '' ? '' : ` · node ${info.node}`;
  return `${info.backend}${wasm}${adapter} · tfjs ${info.tfjs}${host}`;
}
