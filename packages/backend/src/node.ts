import { existsSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { assembleWat } from './wasm/assemble-wat.js';
import type { GpuLike } from './webgpu.js';
import { type BackendChoice, type BackendPreference, type InitBackendOptions, initBackendOn, type Platform } from './init-backend.js';

export * from './index.js';

/**
 * Imports a tfjs-node package, but first checks that its native addon exists: importing a broken
 * install registers hundreds of kernels before it throws (and the second package then warns about
 * each one again).
 */
async function importTensorflowPackage(name: string): Promise<unknown> {
  const require = createRequire(import.meta.url);
  const root = dirname(require.resolve(`${name}/package.json`)); // throws MODULE_NOT_FOUND if absent
  const lib = join(root, 'lib');
  const bindings = existsSync(lib)
    ? readdirSync(lib).filter((d) => d.startsWith('napi-v') && existsSync(join(lib, d, 'tfjs_binding.node')))
    : [];
  if (bindings.length === 0) {
    throw new Error(`The Node.js native addon module (tfjs_binding.node) can not be found under ${lib}.`);
  }
  return import(name);
}

let dawn: GpuLike | undefined;

/**
 * WebGPU in Node: Dawn's bindings from the npm package `webgpu` (an optional dependency), made the
 * `navigator.gpu` that tfjs-backend-webgpu reads, with WebGPU's global constants. One instance per
 * process.
 */
async function nodeGpu(): Promise<GpuLike | string> {
  const scope = globalThis as { navigator?: { gpu?: GpuLike } };
  if (scope.navigator?.gpu !== undefined) return scope.navigator.gpu;
  if (dawn === undefined) {
    let webgpu: { create: (flags: string[]) => GpuLike; globals: object };
    try {
      webgpu = (await import('webgpu')) as unknown as typeof webgpu;
    } catch (error) {
      return `WebGPU in Node needs the npm package webgpu (Dawn), which did not load: ${(error as Error).message.split('\n')[0]} — install it (pnpm add webgpu).`;
    }
    Object.assign(globalThis, webgpu.globals);
    dawn = webgpu.create([]);
  }
  if (scope.navigator === undefined) {
    Object.defineProperty(globalThis, 'navigator', { value: { gpu: dawn }, configurable: true, writable: true });
  } else {
    Object.defineProperty(scope.navigator, 'gpu', { value: dawn, configurable: true });
  }
  return dawn;
}

/**
 * Whether this machine shows a GPU to Vulkan at all (Linux: a DRM render node or an NVIDIA device).
 * 'auto' starts Dawn only then: Dawn prints warnings on start, and on a machine without a GPU it
 * would find at most a software adapter, which 'auto' skips anyway. Elsewhere (macOS, Windows): yes.
 */
function mayHaveGpu(): boolean {
  if (process.platform !== 'linux') return true;
  const devices = (dir: string, prefix: string) => existsSync(dir) && readdirSync(dir).some((f) => f.startsWith(prefix));
  return devices('/dev/dri', 'renderD') || devices('/dev', 'nvidia');
}

const node: Platform = {
  importTensorflow: importTensorflowPackage,
  gpu: nodeGpu,
  mayHaveGpu,
  env: () => process.env['GRADCACHE_BACKEND'],
  assembleWasm: assembleWat,
};

/**
 * Makes the fastest correct backend for training the active tfjs backend, and registers every op's
 * gradient. 'auto' tries @tensorflow/tfjs-node-gpu, then @tensorflow/tfjs-node, then WebGPU on a
 * hardware adapter (npm `webgpu`, Dawn), then wasm (with its gradient kernels fixed and a heap
 * guard), then cpu; a named preference (or GRADCACHE_BACKEND) forces one — 'webgpu' also on a
 * software adapter — and throws if it cannot load.
 *
 * ```ts
 * const { backend, skipped } = await initBackend();
 * console.log(`training on ${backend}`, skipped.map((s) => s.reason));
 * ```
 */
export function initBackend(options: InitBackendOptions | BackendPreference = {}): Promise<BackendChoice> {
  return initBackendOn(node, options);
}
