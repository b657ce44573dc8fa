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
