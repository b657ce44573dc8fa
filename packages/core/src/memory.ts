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
 * Runs `f` under `tf.profile` and reports its peak tensor memory above the starting point. Counts
 * engine tensors only (not backend scratch memory); exact and deterministic on cpu and wasm. `f`
 * must be synchronous: a promise would end the measurement before its work (NOT_SYNCHRONOUS).
 *
 * ```ts
 * const { peakBytes } = await measureMemory(() => cache.step(optimizer, inputs));
 * ```
 */
export async function measureMemory<T>(f: () => T): Promise<MemoryReport<T>> {
  const before = tf.memory().numBytes;
  let result: T | undefined;
  const info = await tf.profile(() => {
    result = f();
    return [];
  });
  if (isThenable(result)) {
    (result as unknown as Promise<unknown>).catch(() => {});
    throw new GradCacheError(
      'NOT_SYNCHRONOUS',
      'measureMemory: f returned a promise; the measurement ends when f returns, before the promise settles. Measure a synchronous step (e.g. one gradCache.step) instead.',
    );
  }
  return { result: result as T, peakBytes: info.peakBytes - before, newBytes: tf.memory().numBytes - before };
}

/**
 * `measureMemory`, synchronous: runs `f` and reports its peak tensor memory by watching the
 * engine's byte count on every allocation and free (exact at tensor granularity, no profiling and
 * no kernel timing), so a training loop can read each step's peak as it goes. Nests: an outer
 * measurement sees everything an inner one does. `f` must be synchronous.
 *
 * ```ts
 * const { peakBytes } = measureMemorySync(() => gradCache.step(optimizer, inputs));
 * ```
 */
export function measureMemorySync<T>(f: () => T): MemoryReport<T> {
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
  let result: T;
  try {
    result = f();
  } finally {
    Object.defineProperty(state, 'numBytes', outer.set === undefined ? { ...outer, value: current } : outer);
  }
  if (isThenable(result)) {
    (result as unknown as Promise<unknown>).catch(() => {});
    throw new GradCacheError('NOT_SYNCHRONOUS', 'measureMemorySync: f returned a promise; measure a synchronous step instead.');
  }
  return { result, peakBytes: peak - start, newBytes: current - start };
}
