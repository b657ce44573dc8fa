import { existsSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { BackendError } from './errors.js';
import { DEFAULT_WASM_HEAP_LIMIT, installHeapGuard } from './wasm/heap-guard.js';
import { installCpuFixes } from './segment-sum.js';
import { installGradientFixes } from './tile-gradient.js';
import { installWasmFixes } from './wasm/fixes.js';

/** The backends initBackend can choose. 'tensorflow' is tfjs-node-gpu or tfjs-node. */
export type BackendName = 'tensorflow' | 'wasm' | 'cpu';

/** What to ask initBackend for: 'auto' takes the fastest that loads. */
export type BackendPreference = 'auto' | BackendName;

/** Options of initBackend. */
export interface InitBackendOptions {
  /** Which backend; default `process.env.GRADCACHE_BACKEND`, else 'auto'. A named one that fails is an error. */
  preference?: BackendPreference;
  /** Wasm allocations that would end past this many bytes of heap throw instead. Default 3 GiB. */
  wasmHeapLimitBytes?: number;
  /** How to load a tfjs-node package by name; for tests and bundlers. Default: `import()` after checking its native addon exists. */
  importModule?: (name: string) => Promise<unknown>;
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
  /** The kernel fixes installed (wasm only). */
  fixes: string[];
}

const TENSORFLOW_PACKAGES = ['@tensorflow/tfjs-node-gpu', '@tensorflow/tfjs-node'] as const;
const PREFERENCES: readonly BackendPreference[] = ['auto', 'tensorflow', 'wasm', 'cpu'];

function describeFailure(name: string, error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  const code = (error as { code?: string } | null)?.code;
  if ((code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND') && message.includes(name)) {
    return `${name} is not installed; with CUDA 11 (gpu) or for native cpu speed, install it — see docs/backends.md.`;
  }
  if (/native addon|tfjs_binding|\.node\b|libtensorflow/i.test(message)) {
    return (
      `${name} is installed but its native addon is missing — its install script needs internet access ` +
      `(and CUDA for -gpu), and pnpm 10 skips it unless approved; see docs/backends.md. (${message.split('\n')[0]})`
    );
  }
  return `${name} failed to load: ${message.split('\n')[0]}`;
}

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

/**
 * Makes the fastest correct backend for training the active tfjs backend, and registers every op's
 * gradient. 'auto' tries @tensorflow/tfjs-node-gpu, then @tensorflow/tfjs-node, then wasm (with
 * its gradient kernels fixed and a heap guard), then cpu; a named preference (or
 * GRADCACHE_BACKEND) forces one, and throws if it cannot load.
 *
 * ```ts
 * const { backend, skipped } = await initBackend();
 * console.log(`training on ${backend}`, skipped.map((s) => s.reason));
 * ```
 */
export async function initBackend(options: InitBackendOptions | BackendPreference = {}): Promise<BackendChoice> {
  const config = typeof options === 'string' ? { preference: options } : options;
  const fromEnv = process.env['GRADCACHE_BACKEND'];
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
  const load = config.importModule ?? importTensorflowPackage;
  // Registers the gradient of every op (bare tfjs-core registers none).
  await import('@tensorflow/tfjs-layers');
  installGradientFixes();
  const skipped: SkippedBackend[] = [];

  if (preference === 'auto' || preference === 'tensorflow') {
    const name = await useTensorflow(load, skipped);
    if (name !== undefined) return { backend: 'tensorflow', package: name, skipped, fixes: [] };
    if (preference === 'tensorflow') {
      throw new BackendError(
        'BACKEND_UNAVAILABLE',
        `initBackend: the 'tensorflow' backend cannot load: ${skipped.map((s) => s.reason).join(' ')}`,
      );
    }
  }
  if (preference === 'auto' || preference === 'wasm') {
    try {
      await import('@tensorflow/tfjs-backend-wasm');
      await import('@tensorflow/tfjs-backend-cpu'); // the cpu kernels some wasm fixes run
      installCpuFixes();
      const fixes = installWasmFixes();
      if (!(await tf.setBackend('wasm'))) throw new Error('the wasm backend did not initialise');
      installHeapGuard(tf.backend() as BackendWasm, limit);
      return { backend: 'wasm', package: '@tensorflow/tfjs-backend-wasm', skipped, fixes };
    } catch (error) {
      if (preference === 'wasm') {
        throw new BackendError(
          'BACKEND_UNAVAILABLE',
          `initBackend: the wasm backend cannot load: ${error instanceof Error ? error.message : String(error)}`,
        );
      }
      skipped.push({ name: '@tensorflow/tfjs-backend-wasm', reason: describeFailure('@tensorflow/tfjs-backend-wasm', error) });
    }
  }
  await import('@tensorflow/tfjs-backend-cpu');
  const fixes = installCpuFixes();
  if (!(await tf.setBackend('cpu'))) throw new BackendError('BACKEND_UNAVAILABLE', 'initBackend: the cpu backend did not initialise.');
  return { backend: 'cpu', package: '@tensorflow/tfjs-backend-cpu', skipped, fixes };
}
