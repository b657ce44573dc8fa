import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, test } from 'vitest';
import { useBackend } from '@gradcache/testing';
import { functionEncoder } from './function-encoder.js';

beforeAll(() => useBackend('cpu'));

describe('functionEncoder', () => {
  test('exposes the variables, the state and the function as an Encoder', () => {
    const w = tf.variable(tf.ones([2, 2]), true);
    const s = tf.variable(tf.zeros([2]), false);
    const encode = (x: unknown): tf.Tensor2D => tf.matMul(x as tf.Tensor2D, w);
    const withState = functionEncoder({ name: 'a', variables: [w], stateVariables: [s], encode });
    const without = functionEncoder({ name: 'b', variables: [w], encode });
    expect(withState.trainableVariables).toEqual([w]);
    expect(withState.stateVariables).toEqual([s]);
    expect('stateVariables' in without).toBe(false);
    expect(without.encode).toBe(encode);
    tf.dispose([w, s]);
  });
});
