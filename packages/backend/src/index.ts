export { BackendError, type BackendErrorCode } from './errors.js';
export {
  initBackend,
  initBackendOn,
  type Platform,
  type BackendChoice,
  type BackendName,
  type BackendPreference,
  type InitBackendOptions,
  type SkippedBackend,
} from './init-backend.js';
export { backendInfo, formatBackendInfo, type BackendInfo } from './backend-info.js';
export { installWasmFixes, uninstallWasmFixes, WASM_FIXES } from './wasm/fixes.js';
export { DEFAULT_WASM_HEAP_LIMIT, installHeapGuard, removeHeapGuard, reserveScratch } from './wasm/heap-guard.js';
export { installCpuFixes, uninstallCpuFixes } from './segment-sum.js';
export { installGradientFixes, tileGradient } from './tile-gradient.js';
export { describeAdapter, installWebgpuFixes, uninstallWebgpuFixes, type AdapterInfo, type AdapterLike, type GpuLike } from './webgpu.js';
