/** Every way the trainer can refuse its input. */
export type TrainerErrorCode = 'INVALID_OPTION' | 'INVALID_CHECKPOINT';

/**
 * The one error class of @gradcache/trainer: a `code`, and a message naming the function, the
 * argument, the value received and the fix.
 */
export class TrainerError extends Error {
  /** Which rule was broken. */
  readonly code: TrainerErrorCode;

  constructor(code: TrainerErrorCode, message: string) {
    super(message);
    this.name = 'TrainerError';
    this.code = code;
  }
}

/** Throws a TrainerError when `condition` is false; the message is built only then. */
export function check(condition: boolean, code: TrainerErrorCode, message: () => string): asserts condition {
  if (!condition) throw new TrainerError(code, message());
}

/** Checks that `value` is an integer ≥ `min`. */
export function checkInteger(fn: string, name: string, value: unknown, min: number): asserts value is number {
  check(
    typeof value === 'number' && Number.isInteger(value) && value >= min,
    'INVALID_OPTION',
    () => `${fn}: ${name} must be an integer ≥ ${min}, got ${String(value)}.`,
  );
}
