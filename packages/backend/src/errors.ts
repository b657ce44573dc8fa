/** Every way @gradcache/backend can refuse. */
export type BackendErrorCode = 'INVALID_PREFERENCE' | 'BACKEND_UNAVAILABLE' | 'WASM_HEAP_LIMIT' | 'INVALID_OPTION';

/** The one error class of @gradcache/backend: a `code`, and a message that says what to do. */
export class BackendError extends Error {
  /** Which rule was broken. */
  readonly code: BackendErrorCode;

  constructor(code: BackendErrorCode, message: string) {
    super(message);
    this.name = 'BackendError';
    this.code = code;
  }
}
