/** Every way loading or saving a pretrained model can be refused. */
export type PretrainedErrorCode =
  | 'MISSING_FILE'
  | 'NO_SAFETENSORS'
  | 'UNSUPPORTED_MODEL'
  | 'INVALID_CONFIG'
  | 'INVALID_SAFETENSORS'
  | 'MISSING_WEIGHTS'
  | 'INVALID_WEIGHTS'
  | 'INVALID_TOKENIZER'
  | 'INVALID_OPTION';

/**
 * The one error class of @gradcache/pretrained: a `code`, and a message naming the function, the
 * file (or argument), what is wrong with it and the fix.
 */
export class PretrainedError extends Error {
  /** Which rule was broken. */
  readonly code: PretrainedErrorCode;

  constructor(code: PretrainedErrorCode, message: string) {
    super(message);
    this.name = 'PretrainedError';
    this.code = code;
  }
}

/** Throws a PretrainedError when `condition` is false; the message is built only then. */
export function check(condition: boolean, code: PretrainedErrorCode, message: () => string): asserts condition {
  if (!condition) throw new PretrainedError(code, message());
}
