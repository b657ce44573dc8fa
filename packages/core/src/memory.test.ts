import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, test } from 'vitest';
import { useBackend } from '@gradcache/testing';
import { measureMemory } from './memory.js';

beforeAll(() => useBackend('cpu'));

describe('measureMemory', () => {
  test('reports the peak above the starting point and what the call kept', async () => {
    const held = tf.zeros([1000]); // already allocated: not part of the peak
    const { result, peakBytes, newBytes } = await measureMemory(() => {
      tf.tidy(() => {
        tf.add(tf.zeros([100]), 1); // 400 + 4 + 400 bytes at the peak, then freed
      });
      return tf.zeros([10]);
    });
    expect(peakBytes).toBe(400 + 4 + 400);
    expect(newBytes).toBe(40);
    tf.dispose([held, result]);
  });

  test('refuses an async f (the measurement would end before its work) with NOT_SYNCHRONOUS', async () => {
    await expect(measureMemory(async () => tf.zeros([10]))).rejects.toMatchObject({ code: 'NOT_SYNCHRONOUS' });
    await expect(measureMemory(async () => 1)).rejects.toThrowError(/measureMemory: f returned a promise/);
  });
});
