/** Every way a loss can refuse its inputs. */
export type LossErrorCode =
  | 'INVALID_REPS'
  | 'WIDTH_MISMATCH'
  | 'SHAPE_MISMATCH'
  | 'ROW_COUNT'
  | 'BATCH_TOO_SMALL'
  | 'LABELS_LENGTH'
  | 'INVALID_OPTION';

/**
 * The one error class of @gradcache/losses: a `code`, and a message naming the loss, the argument,
 * the shapes or value received and the fix.
 */
export class LossError extends Error {
  /** Which rule was broken. */
  readonly code: LossErrorCode;

  constructor(code: LossErrorCode, message: string) {
    super(message);
    this.name = 'LossError';
    this.code = code;
  }
}

/** Throws a LossError when `condition` is false; the message is built only then. */
export function check(condition: boolean, code: LossErrorCode, message: () => string): asserts condition {
  if (!condition) throw new LossError(code, message());
}
