/** Every way a recipe can refuse its options. */
export type RecipeErrorCode = 'INVALID_OPTION';

/** The one error class of @gradcache/recipes: a `code`, and a message naming the recipe, the option, the value and the fix. */
export class RecipeError extends Error {
  /** Which rule was broken. */
  readonly code: RecipeErrorCode;

  constructor(code: RecipeErrorCode, message: string) {
    super(message);
    this.name = 'RecipeError';
    this.code = code;
  }
}

/** Throws a RecipeError when `condition` is false; the message is built only then. */
export function check(condition: boolean, code: RecipeErrorCode, message: () => string): asserts condition {
  if (!condition) throw new RecipeError(code, message());
}

/** Checks that `value` is an integer ≥ `min`. */
export function checkInteger(fn: string, name: string, value: unknown, min: number): asserts value is number {
  check(
    typeof value === 'number' && Number.isInteger(value) && value >= min,
    'INVALID_OPTION',
    () => `${fn}: ${name} must be an integer ≥ ${min}, got ${String(value)}.`,
  );
}
