import { expectNoLeaks } from '@gradcache/testing';
import * as tf from '@tensorflow/tfjs-core';
import { expect } from 'vitest';
import { GradCacheError, type GradCacheErrorCode } from './errors.js';
import { functionEncoder } from './function-encoder.js';
import type { Encoder } from './types.js';

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

/** An encoder x·w whose every call also adds 1 to a state variable: shows whether a failed step put the state back. */
export function countingEncoder(): { encoder: Encoder; w: tf.Variable; state: tf.Variable } {
  const w = tf.variable(tf.ones([3, 2]), true);
  const state = tf.variable(tf.zeros([3]), false);
  const encoder = functionEncoder({
    name: 'counting',
    variables: [w],
    stateVariables: [state],
    encode: (x) => {
      state.assign(tf.add(state, 1));
      return tf.matMul(x as tf.Tensor2D, w);
    },
  });
  return { encoder, w, state };
}
