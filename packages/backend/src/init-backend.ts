import * as tf from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { BackendError } from './errors.js';
import { DEFAULT_WASM_HEAP_LIMIT, installHeapGuard } from './wasm/heap-guard.js';
import { installCpuFixes } from './segment-sum.js';
import { installGradientFixes } from './tile-gradient.js';
import { type AssembleWasm, loadBatchedMatMul } from './wasm/batched-matmul.js';
import { installWasmFixes } from './wasm/fixes.js';
import { processHandlers, removeWasmProcessHandlers } from './wasm/process-handlers.js';
import { type AdapterInfo, describeAdapter, type GpuLike, installWebgpuFixes, setActiveAdapter } from './webgpu.js';

/** The backends initBackend can choose. 'tensorflow' is tfjs-node-gpu or tfjs-node (Node only). */
export type BackendName = 'tensorflow' | 'webgpu' | 'webgl' | 'wasm' | 'cpu';

/** What to ask initBackend for: 'auto' takes the fastest that loads. */
export type BackendPreference = 'auto' | BackendName;

/** Options of initBackend. */
export interface InitBackendOptions {
  /** Which backend; default `process.env.GRADCACHE_BACKEND` (in Node), else 'auto'. A named one that fails is an error. */
  preference?: BackendPreference;
  /** Wasm allocations that would end past this many bytes of heap throw instead. Default 3 GiB. */
  wasmHeapLimitBytes?: number;
  /** Where the page serves tfjs-backend-wasm's `.wasm` files (a bundler does not copy them); passed to `setWasmPaths`. */
  wasmPaths?: string | Record<string, string>;
  /** How to load a tfjs-node package by name; for tests and bundlers. Default (Node entry): `import()` after checking its native addon exists. */
  importModule?: (name: string) => Promise<unknown>;
  /** Where WebGPU comes from; for tests. Default: `navigator.gpu` (in Node, the npm package `webgpu` when installed). */
  gpu?: () => Promise<GpuLike | undefined>;
}

/** A backend initBackend passed over, and why, in words a user can act on. */
export interface SkippedBackend {
  /** The package or backend skipped. */
  name: string;
  /** Why, and what to do about it. */
  reason: string;
}

/** What initBackend chose. */
export interface BackendChoice {
  /** The active tfjs backend. */
  backend: BackendName;
  /** The package that provides it. */
  package: string;
  /** The options tried before it, and why each was passed over. */
  skipped: SkippedBackend[];
  /** The kernel fixes installed. */
  fixes: string[];
  /** With webgpu: the adapter (GPU or software rasteriser) it runs on. */
  adapter?: AdapterInfo;
}

/** What differs between Node and the browser: where tfjs-node and WebGPU come from. */
export interface Platform {
  /** Loads a tfjs-node package; undefined where there is none (the browser). */
  importTensorflow?: (name: string) => Promise<unknown>;
  /** The WebGPU entry point, or a reason there is none. */
  gpu: () => Promise<GpuLike | string>;
  /** GRADCACHE_BACKEND, where there is an environment. */
  env: () => string | undefined;
  /** False where the machine surely has no GPU, so 'auto' need not start WebGPU to find out. */
  mayHaveGpu?: () => boolean;
  /** Assembles the wasm backend's own kernels (batched-matmul.ts) from WebAssembly text; absent in the browser entry (stock kernels). */
  assembleWasm?: AssembleWasm;
}

const TENSORFLOW_PACKAGES = ['@tensorflow/tfjs-node-gpu', '@tensorflow/tfjs-node'] as const;
const PREFERENCES: readonly BackendPreference[] = ['auto', 'tensorflow', 'webgpu', 'webgl', 'wasm', 'cpu'];

function firstLine(error: unknown): string {
  return (error instanceof Error ? error.message : String(error)).split('\n')[0] as string;
}

function describeFailure(name: string, error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  const code = (error as { code?: string } | null)?.code;
  if ((code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND') && message.includes(name)) {
    return `${name} is not installed; with CUDA 11 (gpu) or for native cpu speed, install it — see docs/backends.md.`;
  }
  if (/native addon|tfjs_binding|\.node\b|libtensorflow/i.test(message)) {
    return (
      `${name} is installed but its native addon is missing — its install script needs internet access ` +
      `(and CUDA for -gpu), and pnpm 10 skips it unless approved; see docs/backends.md. (${firstLine(error)})`
    );
  }
  return `${name} failed to load: ${firstLine(error)}`;
}

async function useTensorflow(load: (name: string) => Promise<unknown>, skipped: SkippedBackend[]): Promise<string | undefined> {
  for (const name of TENSORFLOW_PACKAGES) {
    try {
      await load(name);
      if (await tf.setBackend('tensorflow')) return name;
      skipped.push({ name, reason: `${name} loaded but the 'tensorflow' backend did not initialise.` });
    } catch (error) {
      skipped.push({ name, reason: describeFailure(name, error) });
    }
  }
  return undefined;
}

/** WebGPU on an adapter; a software one only when asked for by name. Returns the adapter, or pushes why not. */
async function useWebgpu(
  gpu: () => Promise<GpuLike | string>,
  explicit: boolean,
  skipped: SkippedBackend[],
): Promise<AdapterInfo | undefined> {
  const name = '@tensorflow/tfjs-backend-webgpu';
  try {
    const entry = await gpu();
    if (typeof entry === 'string') {
      skipped.push({ name, reason: entry });
      return undefined;
    }
    const adapter = await entry.requestAdapter({ powerPreference: 'high-performance' });
    if (adapter === null) {
      skipped.push({
        name,
        reason:
          'WebGPU found no adapter: install a Vulkan driver (Debian: mesa-vulkan-drivers from bookworm-backports for a software one, ' +
          "or the GPU's own driver and its Vulkan ICD) — see docs/backends.md.",
      });
      return undefined;
    }
    const info = describeAdapter(adapter);
    if (info.software && !explicit) {
      skipped.push({
        name,
        reason: `the only WebGPU adapter is a software rasteriser (${info.description}); wasm is faster on a CPU. Ask for 'webgpu' by name to use it anyway.`,
      });
      return undefined;
    }
    await import('@tensorflow/tfjs-backend-webgpu');
    if (!(await tf.setBackend('webgpu'))) {
      skipped.push({ name, reason: `the webgpu backend did not initialise on ${info.description}.` });
      return undefined;
    }
    return info;
  } catch (error) {
    skipped.push({ name, reason: `WebGPU failed to start: ${firstLine(error)}` });
    return undefined;
  }
}

function unavailable(backend: string, skipped: SkippedBackend[]): BackendError {
  return new BackendError(
    'BACKEND_UNAVAILABLE',
    `initBackend: the '${backend}' backend cannot load: ${skipped.map((s) => s.reason).join(' ')}`,
  );
}

/** initBackend, given where tfjs-node and WebGPU come from (see `initBackend` in each entry). */
export async function initBackendOn(platform: Platform, options: InitBackendOptions | BackendPreference = {}): Promise<BackendChoice> {
  const config = typeof options === 'string' ? { preference: options } : options;
  const fromEnv = platform.env();
  const preference = config.preference ?? ((fromEnv === undefined || fromEnv === '' ? 'auto' : fromEnv) as BackendPreference);
  if (!PREFERENCES.includes(preference)) {
    throw new BackendError(
      'INVALID_PREFERENCE',
      `initBackend: preference must be one of ${PREFERENCES.join(', ')}, got ${JSON.stringify(preference)}` +
        `${config.preference === undefined ? ' (from GRADCACHE_BACKEND)' : ''}.`,
    );
  }
  const limit = config.wasmHeapLimitBytes ?? DEFAULT_WASM_HEAP_LIMIT;
  if (!(Number.isFinite(limit) && limit > 0)) {
    throw new BackendError('INVALID_OPTION', `initBackend: wasmHeapLimitBytes must be a positive number, got ${limit}.`);
  }
  // Registers the gradient of every op (bare tfjs-core registers none).
  await import('@tensorflow/tfjs-layers');
  installGradientFixes();
  const skipped: SkippedBackend[] = [];

  if (preference === 'auto' || preference === 'tensorflow') {
    const load = config.importModule ?? platform.importTensorflow;
    if (load === undefined) {
      skipped.push({
        name: '@tensorflow/tfjs-node',
        reason: "tfjs-node runs only in Node.js; there, import initBackend from '@gradcache/backend/node'.",
      });
    } else {
      const name = await useTensorflow(load, skipped);
      if (name !== undefined) return { backend: 'tensorflow', package: name, skipped, fixes: [] };
    }
    if (preference === 'tensorflow') throw unavailable('tensorflow', skipped);
  }
  const noGpu = preference === 'auto' && config.gpu === undefined && platform.mayHaveGpu?.() === false;
  if (noGpu) {
    skipped.push({
      name: '@tensorflow/tfjs-backend-webgpu',
      reason: "this machine shows no GPU device (no /dev/dri/renderD* or /dev/nvidia*); ask for 'webgpu' to try anyway.",
    });
  }
  if ((preference === 'auto' && !noGpu) || preference === 'webgpu') {
    const adapter = await useWebgpu(
      config.gpu === undefined ? platform.gpu : async () => (await config.gpu?.()) ?? 'no WebGPU (gpu() gave nothing).',
      preference === 'webgpu',
      skipped,
    );
    if (adapter !== undefined) {
      setActiveAdapter(adapter);
      return { backend: 'webgpu', package: '@tensorflow/tfjs-backend-webgpu', skipped, fixes: installWebgpuFixes(), adapter };
    }
    if (preference === 'webgpu') throw unavailable('webgpu', skipped);
  }
  if (preference === 'webgl') {
    try {
      await import('@tensorflow/tfjs-backend-webgl');
      if (await tf.setBackend('webgl')) return { backend: 'webgl', package: '@tensorflow/tfjs-backend-webgl', skipped, fixes: [] };
      skipped.push({ name: '@tensorflow/tfjs-backend-webgl', reason: 'WebGL did not initialise (no WebGL 2 context here).' });
    } catch (error) {
      skipped.push({ name: '@tensorflow/tfjs-backend-webgl', reason: `WebGL failed to start: ${firstLine(error)}` });
    }
    throw unavailable('webgl', skipped);
  }
  if (preference === 'auto' || preference === 'wasm') {
    try {
      const wasm = await import('@tensorflow/tfjs-backend-wasm');
      if (config.wasmPaths !== undefined) wasm.setWasmPaths(config.wasmPaths);
      await import('@tensorflow/tfjs-backend-cpu'); // the cpu kernels some wasm fixes run
      installCpuFixes();
      const unloaded = await loadBatchedMatMul(platform.assembleWasm);
      const fixes = [...installWasmFixes(), ...(unloaded === undefined ? [] : [`BatchMatMul: ${unloaded}`])];
      const handlers = processHandlers();
      if (!(await tf.setBackend('wasm'))) throw new Error('the wasm backend did not initialise');
      removeWasmProcessHandlers(handlers);
      installHeapGuard(tf.backend() as BackendWasm, limit);
      return { backend: 'wasm', package: '@tensorflow/tfjs-backend-wasm', skipped, fixes };
    } catch (error) {
      if (preference === 'wasm') {
        throw new BackendError('BACKEND_UNAVAILABLE', `initBackend: the wasm backend cannot load: ${firstLine(error)}`);
      }
      skipped.push({ name: '@tensorflow/tfjs-backend-wasm', reason: describeFailure('@tensorflow/tfjs-backend-wasm', error) });
    }
  }
  await import('@tensorflow/tfjs-backend-cpu');
  const fixes = installCpuFixes();
  if (!(await tf.setBackend('cpu'))) throw new BackendError('BACKEND_UNAVAILABLE', 'initBackend: the cpu backend did not initialise.');
  return { backend: 'cpu', package: '@tensorflow/tfjs-backend-cpu', skipped, fixes };
}

/** The browser's platform: no tfjs-node; WebGPU from `navigator.gpu`. */
const browser: Platform = {
  env: () => (globalThis as { process?: { env?: Record<string, string | undefined> } }).process?.env?.['GRADCACHE_BACKEND'],
  gpu: async () =>
    (globalThis as { navigator?: { gpu?: GpuLike } }).navigator?.gpu ??
    ((globalThis as { process?: { versions?: { node?: string } } }).process?.versions?.node !== undefined
      ? "this is Node, where WebGPU comes from the npm package webgpu (Dawn): import initBackend from '@gradcache/backend/node' instead of '@gradcache/backend'."
      : 'this browser has no WebGPU (navigator.gpu): use a recent Chrome or Edge, or Firefox/Safari with WebGPU on.'),
};

/**
 * Makes the fastest correct backend for training the active tfjs backend, and registers every op's
 * gradient. 'auto' tries WebGPU on a hardware adapter, then wasm (with its gradient kernels fixed
 * and a heap guard), then cpu; 'webgpu' (also on a software adapter), 'webgl', 'wasm' or 'cpu'
 * forces one, and throws if it cannot load. This entry runs in browsers; in Node, import
 * `initBackend` from `@gradcache/backend/node`, which also tries tfjs-node-gpu and tfjs-node first.
 *
 * ```ts
 * const { backend, skipped } = await initBackend();
 * console.log(`training on ${backend}`, skipped.map((s) => s.reason));
 * ```
 */
export function initBackend(options: InitBackendOptions | BackendPreference = {}): Promise<BackendChoice> {
  return initBackendOn(browser, options);
}
