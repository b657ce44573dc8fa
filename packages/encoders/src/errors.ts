/** Every way an encoder can refuse. */
export type EncoderErrorCode = 'INVALID_REP' | 'UNKNOWN_INPUT' | 'INPUT_COUNT' | 'INVALID_OPTION' | 'INVALID_FILE';

/** The one error class of @gradcache/encoders: a `code`, and a message naming the function, the value and the fix. */
export class EncoderError extends Error {
  /** Which rule was broken. */
  readonly code: EncoderErrorCode;

  constructor(code: EncoderErrorCode, message: string) {
    super(message);
    this.name = 'EncoderError';
    this.code = code;
  }
}

/** Throws an EncoderError when `condition` is false; the message is built only then. */
export function check(condition: boolean, code: EncoderErrorCode, message: () => string): asserts condition {
  if (!condition) throw new EncoderError(code, message());
}
