import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, test } from 'vitest';
import { expectNoLeaks, useBackend } from '@gradcache/testing';
import { snapshotState } from './state-snapshot.js';

beforeAll(() => useBackend('cpu'));

describe('snapshotState', () => {
  test('writes saved values back after the variables changed, and frees its copies', () => {
    const v = tf.variable(tf.tensor1d([1, 2]), false);
    expectNoLeaks(() => {
      const snapshot = snapshotState([v, v]);
      tf.tidy(() => v.assign(tf.tensor1d([5, 6])));
      snapshot.restore();
      expect(Array.from(v.dataSync())).toEqual([1, 2]);
      snapshot.dispose();
    }, 'snapshotState');
    v.dispose();
  });
});
