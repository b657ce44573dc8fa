/** Every way a data set or loader can refuse its input. */
export type DataErrorCode = 'INVALID_OPTION' | 'INVALID_FILE' | 'INVALID_DATA';

/**
 * The one error class of @gradcache/data: a `code`, and a message naming the function, the argument,
 * the value received and the fix.
 */
export class DataError extends Error {
  /** Which rule was broken. */
  readonly code: DataErrorCode;

  constructor(code: DataErrorCode, message: string) {
    super(message);
    this.name = 'DataError';
    this.code = code;
  }
}

/** Throws a DataError when `condition` is false; the message is built only then. */
export function check(condition: boolean, code: DataErrorCode, message: () => string): asserts condition {
  if (!condition) throw new DataError(code, message());
}

/** Checks that `value` is an integer ≥ `min`. */
export function checkInteger(fn: string, name: string, value: unknown, min: number): asserts value is number {
  check(
    typeof value === 'number' && Number.isInteger(value) && value >= min,
    'INVALID_OPTION',
    () => `${fn}: ${name} must be an integer ≥ ${min}, got ${String(value)}.`,
  );
}
