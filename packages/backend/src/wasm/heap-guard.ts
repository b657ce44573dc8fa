import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { BackendError } from '../errors.js';

/** The default wasm heap limit: well under the ~3.6 GiB where tfjs-wasm silently corrupts memory. */
export const DEFAULT_WASM_HEAP_LIMIT = 3 * 2 ** 30;

type Malloc = (size: number) => number;

interface EmscriptenModule {
  _malloc: Malloc;
  _free: (ptr: number) => void;
  /** The heap; a new, longer view after the memory grows. */
  HEAPU8: Uint8Array;
}

/** The allocator under the guard and the limit, per wasm module. */
interface Guard {
  raw: Malloc;
  limit: number;
}

const guards = new WeakMap<object, Guard>();

/** Blocks past the limit an allocation holds while it looks for one under it. */
const MAX_RETRIES = 64;

const gib = (bytes: number): string => `${(bytes / 2 ** 30).toFixed(2)} GiB`;

function limitError(size: number, limit: number, what: string): BackendError {
  return new BackendError(
    'WASM_HEAP_LIMIT',
    `wasm backend: ${what} ${gib(size)} would take the heap past its safe limit of ${gib(limit)} ` +
      '(tfjs-wasm corrupts memory silently past ~3.6 GiB). Use a smaller chunk size or tile size, or a ' +
      'tfjs-node backend; the limit is set by initBackend({ wasmHeapLimitBytes }).',
  );
}

/**
 * Makes every wasm allocation through `Module._malloc` that would end past `limitBytes` of the heap
 * (or that malloc could not satisfy) throw a BackendError WASM_HEAP_LIMIT before any tensor uses it —
 * after looking for a free block under the limit that malloc's best fit passed over, so that a heap
 * left fragmented by a refused step still serves the smaller step after it;
 * tfjs-wasm itself hands out offset 0 past ~3.6 GiB and silently overwrites other tensors.
 * Installing again changes the limit.
 *
 * `_malloc` becomes an accessor property: emscripten exports it as a lazy stub that, on its first
 * call, writes the raw export over `Module._malloc` — which would silently drop a plain wrapper.
 * The setter takes that write as the new allocator under the guard instead.
 *
 * Allocations made inside the C++ kernels (XNNPACK's packed weights and scratch) do not pass
 * through `Module._malloc`; `reserveScratch` checks for room before such a kernel runs.
 */
export function installHeapGuard(backend: BackendWasm, limitBytes: number = DEFAULT_WASM_HEAP_LIMIT): void {
  if (!(Number.isFinite(limitBytes) && limitBytes > 0)) {
    throw new BackendError('INVALID_OPTION', `installHeapGuard: limitBytes must be a positive number, got ${limitBytes}.`);
  }
  const module = backend.wasm as unknown as EmscriptenModule;
  const existing = guards.get(module);
  if (existing !== undefined) {
    existing.limit = limitBytes;
    return;
  }
  const guard: Guard = { raw: module._malloc, limit: limitBytes };
  const guarded: Malloc = (size) => {
    let ptr = guard.raw(size) >>> 0;
    if (size === 0 || (ptr !== 0 && ptr + size <= guard.limit)) return ptr;
    // Past the limit. dlmalloc picks the best-fitting free block, not the lowest: a hole below the
    // limit may still fit. Hold each block past the limit and ask again, until one fits under it or
    // malloc has nothing more to offer; then give the held ones back.
    // Stop once malloc grows the heap: it found no hole, and wasm memory never shrinks.
    const held: number[] = [];
    const heapSize = module.HEAPU8.length;
    while (ptr !== 0 && ptr + size > guard.limit && held.length < MAX_RETRIES && module.HEAPU8.length === heapSize) {
      held.push(ptr);
      ptr = guard.raw(size) >>> 0;
    }
    for (const p of held) module._free(p);
    if (ptr !== 0 && ptr + size <= guard.limit) return ptr;
    if (ptr !== 0) module._free(ptr);
    throw limitError(size, guard.limit, 'allocating');
  };
  Object.defineProperty(module, '_malloc', {
    configurable: true,
    enumerable: true,
    get: () => guarded,
    set: (raw: Malloc) => {
      guard.raw = raw;
    },
  });
  guards.set(module, guard);
}

/** Restores the stock allocator. */
export function removeHeapGuard(backend: BackendWasm): void {
  const module = backend.wasm as unknown as EmscriptenModule;
  const guard = guards.get(module);
  if (guard === undefined) return;
  delete (module as Partial<EmscriptenModule>)._malloc;
  module._malloc = guard.raw;
  guards.delete(module);
}

/**
 * Checks, when a heap guard is installed, that `bytes` more fit under its limit right now, by
 * allocating and freeing them; throws WASM_HEAP_LIMIT otherwise. For kernels whose C++ code
 * allocates on its own (XNNPACK packs a matMul's or conv's weights into a new buffer): a kernel
 * that ran out of heap there returns zeros or garbage instead of failing.
 */
export function reserveScratch(backend: BackendWasm, bytes: number): void {
  const module = backend.wasm as unknown as EmscriptenModule;
  const guard = guards.get(module);
  if (guard === undefined || bytes <= 0) return;
  let ptr: number;
  try {
    ptr = module._malloc(bytes);
  } catch {
    throw limitError(bytes, guard.limit, 'a kernel needing');
  }
  module._free(ptr);
}
