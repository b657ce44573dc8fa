import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, test } from 'vitest';
import { useBackend } from '@gradcache/testing';
import { measureMemory, measureMemorySync } from './memory.js';

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

  test('measures an async f until its promise settles, across its awaits', async () => {
    const { result, peakBytes, newBytes } = await measureMemory(async () => {
      await new Promise((done) => setTimeout(done, 1));
      const big = tf.zeros([1000]); // allocated after the first await: a profile that ended at the await missed it
      await big.data();
      big.dispose();
      return tf.zeros([10]);
    });
    expect([peakBytes, newBytes]).toEqual([4000, 40]);
    const error = await measureMemory(async () => {
      throw new Error('boom');
    }).catch((e: unknown) => e);
    expect((error as Error).message).toBe('boom');
    expect(Object.getOwnPropertyDescriptor(tf.engine().state, 'numBytes')?.writable).toBe(true);
    result.dispose();
  });

  test('measureMemorySync: the same peak synchronously, tensor by tensor; nests; restores the engine', async () => {
    const f = (): tf.Tensor => {
      tf.tidy(() => {
        tf.add(tf.zeros([100]), 1);
      });
      return tf.zeros([10]);
    };
    const sync = measureMemorySync(f);
    const profiled = await measureMemory(f);
    expect([sync.peakBytes, sync.newBytes]).toEqual([profiled.peakBytes, profiled.newBytes]);
    const outer = measureMemorySync(() => {
      const a = tf.zeros([50]); // 200 bytes held while the inner one runs
      const inner = measureMemorySync(f);
      a.dispose();
      return inner;
    });
    expect(outer.result.peakBytes).toBe(804);
    expect(outer.peakBytes).toBe(200 + 804);
    expect(Object.getOwnPropertyDescriptor(tf.engine().state, 'numBytes')?.writable).toBe(true);
    const before = tf.memory().numBytes;
    const t = tf.ones([5]);
    expect(tf.memory().numBytes).toBe(before + 20);
    tf.dispose([sync.result, profiled.result, outer.result.result, t]);
    expect(() => measureMemorySync(async () => 1)).toThrowError(/measureMemorySync: f returned a promise/);
  });
});
