/** Every way a GradCache call can be refused; stable, so callers can branch on it. */
export type GradCacheErrorCode =
  | 'NO_ENCODERS'
  | 'NO_TRAINABLE_VARIABLES'
  | 'INVALID_CHUNK_SIZE'
  | 'INVALID_SEED'
  | 'INPUT_COUNT'
  | 'INVALID_INPUT'
  | 'EMPTY_BATCH'
  | 'BATCH_SIZE_MISMATCH'
  | 'INVALID_REP'
  | 'REPLAY_MISMATCH'
  | 'LOSS_NOT_SCALAR'
  | 'LOSS_NOT_FINITE';

/**
 * The one error class of @gradcache/core. `code` says which rule was broken; the message names the
 * function, the argument, the value received and the fix.
 *
 * ```ts
 * try { cache.step(optimizer, inputs); } catch (e) {
 *   if (e instanceof GradCacheError && e.code === 'LOSS_NOT_FINITE') lowerTheLearningRate();
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
export function check(
  condition: boolean,
  code: GradCacheErrorCode,
  message: () => string,
): asserts condition {
  if (!condition) throw new GradCacheError(code, message());
}

/** A short, readable description of a value received, for error messages. */
export function describe(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map(describe).join(', ')}]`;
  if (value !== null && typeof value === 'object' && 'shape' in value && 'rank' in value) {
    const t = value as { shape: number[]; dtype?: string };
    return `a tensor of shape [${t.shape.join(', ')}]`;
  }
  return String(value);
}
