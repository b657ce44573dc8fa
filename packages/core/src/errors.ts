import * as tf from '@tensorflow/tfjs-core';

/** Every way a GradCache call can be refused; stable, so callers can branch on it. */
export type GradCacheErrorCode =
  | 'INVALID_CONFIG'
  | 'NO_ENCODERS'
  | 'INVALID_ENCODER'
  | 'NO_TRAINABLE_VARIABLES'
  | 'DISPOSED_VARIABLE'
  | 'INVALID_CHUNK_SIZE'
  | 'INVALID_SEED'
  | 'INVALID_LOSS'
  | 'INVALID_OPTION'
  | 'INVALID_OPTIMIZER'
  | 'INPUT_COUNT'
  | 'INVALID_INPUT'
  | 'EMPTY_BATCH'
  | 'BATCH_SIZE_MISMATCH'
  | 'INVALID_CHUNKS'
  | 'BUDGET_TOO_SMALL'
  | 'INVALID_REP'
  | 'NOT_SYNCHRONOUS'
  | 'REPLAY_MISMATCH'
  | 'REPLAY_DRIFT'
  | 'LOSS_NOT_SCALAR'
  | 'LOSS_NOT_FINITE'
  | 'GRADS_NOT_FINITE'
  | 'BATCH_FINISHED';

/**
 * The one error class of @gradcache/core. `code` says which rule was broken; the message names the
 * function, the argument, the value received and the fix.
 *
 * ```ts
 * try {
 *   gradCache.step(optimizer, inputs);
 * } catch (e) {
 *   if (e instanceof GradCacheError && e.code === 'LOSS_NOT_FINITE') optimizer.dispose();
 * }
 * ```
 */
export class GradCacheError extends Error {
  /** Which rule was broken. */
  readonly code: GradCacheErrorCode;

  constructor(code: GradCacheErrorCode, message: string) {
    super(message);
    this.name = 'GradCacheError';
    this.code = code;
  }
}

/** Throws a GradCacheError when `condition` is false; the message is built only then. */
export function check(condition: boolean, code: GradCacheErrorCode, message: () => string): asserts condition {
  if (!condition) throw new GradCacheError(code, message());
}

/** A short, readable description of a value received, for error messages. */
export function describe(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'function') return 'a function';
  if (Array.isArray(value)) {
    const shown = Array.from({ length: Math.min(value.length, 8) }, (_, i) => (i in value ? describe(value[i]) : '<empty>'));
    return `[${shown.join(', ')}${value.length > 8 ? `, … (${value.length} items)` : ''}]`;
  }
  if (value instanceof tf.Tensor) {
    const kind = value instanceof tf.Variable ? 'variable' : 'tensor';
    return value.isDisposed ? `a disposed ${kind}` : `a ${value.dtype} ${kind} of shape [${value.shape.join(', ')}]`;
  }
  if (isThenable(value)) return 'a Promise';
  if (value !== null && typeof value === 'object') {
    const keys = Object.keys(value);
    return keys.length === 0 ? 'an empty object' : `an object with keys ${keys.slice(0, 6).join(', ')}`;
  }
  return String(value);
}

/** Whether `value` is a Promise or another thenable. */
export function isThenable(value: unknown): value is PromiseLike<unknown> {
  return (
    (typeof value === 'object' || typeof value === 'function') && value !== null && typeof (value as { then?: unknown }).then === 'function'
  );
}

/**
 * Returns `value` unless it is a Promise (an `async` encode or loss): then marks the promise as
 * handled, so that its eventual rejection cannot kill the process, and throws NOT_SYNCHRONOUS.
 */
export function synchronous<T>(value: T, what: () => string): T {
  if (isThenable(value)) {
    Promise.resolve(value).catch(() => undefined);
    throw new GradCacheError(
      'NOT_SYNCHRONOUS',
      `${what()} returned a Promise; it must be synchronous (no async/await), because the re-forward replays ` +
        'its randomness by swapping Math.random for the duration of the call. Read data before the step, not inside it.',
    );
  }
  return value;
}
