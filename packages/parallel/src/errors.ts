import type { WireError } from './protocol.js';

/** Every way @gradcache/parallel can refuse or fail. */
export type ParallelErrorCode =
  | 'INVALID_OPTION'
  | 'INVALID_INPUT'
  | 'WORKER_FAILED'
  | 'WORKER_EXITED'
  | 'CLOSED'
  | 'LOSS_NOT_FINITE'
  | 'GRADS_NOT_FINITE'
  | 'REPLAY_DRIFT';

/** The one error class of @gradcache/parallel: a `code`, and a message that says what to do. */
export class ParallelError extends Error {
  /** Which rule was broken. */
  readonly code: ParallelErrorCode;
  /** With WORKER_FAILED: the error the worker caught — its name, message and `code` (a GradCacheError's, say). */
  readonly workerError: WireError | undefined;

  constructor(code: ParallelErrorCode, message: string, workerError?: WireError) {
    super(message);
    this.name = 'ParallelError';
    this.code = code;
    this.workerError = workerError;
  }
}

/** Throws a ParallelError when `condition` is false; the message is built only then. */
export function check(condition: boolean, code: ParallelErrorCode, message: () => string): asserts condition {
  if (!condition) throw new ParallelError(code, message());
}
