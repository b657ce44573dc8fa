import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { BackendError } from '../errors.js';

/** The default wasm heap limit: well under the ~3.6 GiB where tfjs-wasm silently corrupts memory. */
export const DEFAULT_WASM_HEAP_LIMIT = 3 * 2 ** 30;

const GUARDED = Symbol('gradcache.heapGuard');

interface GuardedMalloc {
  (size: number): number;
  [GUARDED]?: { original: (size: number) => number; limit: number };
}

const gib = (bytes: number): string => `${(bytes / 2 ** 30).toFixed(2)} GiB`;

/**
 * Makes every wasm allocation that would end past `limitBytes` of the heap (or that malloc could not
 * satisfy) throw a BackendError WASM_HEAP_LIMIT before any tensor uses it. tfjs-wasm itself hands
 * out offset 0 past ~3.6 GiB and silently overwrites other tensors. Installing again changes the limit.
 */
export function installHeapGuard(backend: BackendWasm, limitBytes: number = DEFAULT_WASM_HEAP_LIMIT): void {
  const module = backend.wasm as unknown as { _malloc: GuardedMalloc; _free: (ptr: number) => void };
  const original = module._malloc[GUARDED]?.original ?? module._malloc;
  const guarded: GuardedMalloc = (size: number): number => {
    const ptr = original(size) >>> 0;
    if (size > 0 && (ptr === 0 || ptr + size > limitBytes)) {
      if (ptr !== 0) module._free(ptr);
      throw new BackendError(
        'WASM_HEAP_LIMIT',
        `wasm backend: allocating ${gib(size)} would take the heap past its safe limit of ${gib(limitBytes)} ` +
          '(tfjs-wasm corrupts memory silently past ~3.6 GiB). Use a smaller chunk size or tile size, or a ' +
          'tfjs-node backend; the limit is set by initBackend({ wasmHeapLimitBytes }).',
      );
    }
    return ptr;
  };
  guarded[GUARDED] = { original, limit: limitBytes };
  module._malloc = guarded;
}

/** Restores the stock allocator. */
export function removeHeapGuard(backend: BackendWasm): void {
  const module = backend.wasm as unknown as { _malloc: GuardedMalloc };
  const state = module._malloc[GUARDED];
  if (state !== undefined) module._malloc = state.original;
}
