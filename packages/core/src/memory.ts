import * as tf from '@tensorflow/tfjs-core';
import { GradCacheError, isThenable } from './errors.js';

/** What running a function cost in tensor memory. */
export interface MemoryReport<T> {
  /** What the function returned. */
  result: T;
  /** Peak tensor bytes above what was allocated before the call. */
  peakBytes: number;
  /** Tensor bytes still allocated after the call that were not before (what it returned or leaked). */
  newBytes: number;
}

/**
 * Watches the engine's byte count on every allocation and free until `stop()`: exact at tensor
 * granularity, no profiling and no kernel timing. Watches nest: an outer one sees everything an
 * inner one does (they must stop in the reverse order they started).
 */
function watchBytes(): () => { peakBytes: number; newBytes: number } {
  const state = tf.engine().state as unknown as { numBytes: number };
  const outer = Object.getOwnPropertyDescriptor(state, 'numBytes') as PropertyDescriptor;
  const start = state.numBytes;
  let current = start;
  let peak = start;
  Object.defineProperty(state, 'numBytes', {
    configurable: true,
    enumerable: true,
    get: () => current,
    set: (value: number) => {
      current = value;
      if (value > peak) peak = value;
      outer.set?.(value); // an enclosing measurement sees it too
    },
  });
  return () => {
    Object.defineProperty(state, 'numBytes', outer.set === undefined ? { ...outer, value: current } : outer);
    return { peakBytes: peak - start, newBytes: current - start };
  };
}

/**
 * Runs `f` — synchronous or async, such as one `gradCache.stepAsync` — and reports its peak tensor
 * memory above the starting point, watched on every allocation and free until its promise settles.
 * Counts engine tensors only (not backend scratch memory); exact and deterministic on every
 * backend. Tensors other work allocates while an async `f` awaits are counted too.
 *
 * ```ts
 * const { peakBytes } = await measureMemory(() => gradCache.stepAsync(optimizer, inputs));
 * ```
 */
export async function measureMemory<T>(f: () => T | Promise<T>): Promise<MemoryReport<T>> {
  const stop = watchBytes();
  let result: T;
  try {
    result = await f();
  } catch (error) {
    stop();
    throw error;
  }
  return { result, ...stop() };
}

/**
 * `measureMemory`, synchronous, so a training loop can read each step's peak as it goes without
 * awaiting. Nests: an outer measurement sees everything an inner one does. `f` must be synchronous
 * (NOT_SYNCHRONOUS otherwise: the measurement would end before its work).
 *
 * ```ts
 * const { peakBytes } = measureMemorySync(() => gradCache.step(optimizer, inputs));
 * ```
 */
export function measureMemorySync<T>(f: () => T): MemoryReport<T> {
  const stop = watchBytes();
  let result: T;
  try {
    result = f();
  } catch (error) {
    stop();
    throw error;
  }
  const report = stop();
  if (isThenable(result)) {
    (result as unknown as Promise<unknown>).catch(() => {});
    throw new GradCacheError(
      'NOT_SYNCHRONOUS',
      'measureMemorySync: f returned a promise; the measurement ends before the promise settles. Use await measureMemory(f) for async work.',
    );
  }
  return { result, ...report };
}
