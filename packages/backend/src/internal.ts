// The kernel fixes one by one — `initBackend` registers them all — for benchmarks that compare stock
// and fixed kernels, and tests. Not needed to use the backend.
export { initBackendOn } from './init-backend.js';
export { installWasmFixes, uninstallWasmFixes, WASM_FIXES } from './wasm/fixes.js';
export { DEFAULT_WASM_HEAP_LIMIT, installHeapGuard, removeHeapGuard, reserveScratch } from './wasm/heap-guard.js';
export { installCpuFixes, uninstallCpuFixes } from './segment-sum.js';
export { installGradientFixes, tileGradient } from './tile-gradient.js';
export { describeAdapter, installWebgpuFixes, uninstallWebgpuFixes } from './webgpu.js';
