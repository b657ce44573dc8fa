import { expectNoLeaks } from '@gradcache/testing';
import { expect } from 'vitest';
import { GradCacheError, type GradCacheErrorCode } from './errors.js';

/** Runs f, which must throw a GradCacheError with `code` and leak nothing; returns its message. */
export function expectError(code: GradCacheErrorCode, f: () => unknown): string {
  let message = '';
  expectNoLeaks(() => {
    try {
      f();
    } catch (error) {
      expect(error).toBeInstanceOf(GradCacheError);
      expect((error as GradCacheError).code).toBe(code);
      message = (error as Error).message;
      return;
    }
    throw new Error(`expected a GradCacheError ${code}, but nothing was thrown`);
  }, `the ${code} error path`);
  return message;
}
