import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, test } from 'vitest';
import { expectNoLeaks, testMlp, useBackend } from '@gradcache/testing';
import { GradCache } from './grad-cache.js';
import type { GradCacheConfig } from './config.js';
import { countingEncoder, expectError } from './errors.test-helper.js';
import { functionEncoder } from './function-encoder.js';
import type { Batch } from './types.js';

beforeAll(() => useBackend('cpu'));

const meanSquare = ([r]: tf.Tensor2D[]): tf.Scalar => tf.mean(tf.square(r as tf.Tensor2D));

describe('GradCacheError', () => {
  const enc = testMlp({ widths: [3, 2], seed: 1 });
  const make = (overrides: Partial<GradCacheConfig> = {}): GradCache =>
    new GradCache({ encoders: [enc], chunkSize: 2, loss: meanSquare, ...overrides });

  test('NO_ENCODERS for an empty encoder list', () => {
    expect(expectError('NO_ENCODERS', () => make({ encoders: [] }))).toMatch(/encoders must be a non-empty array/);
  });

  test('NO_TRAINABLE_VARIABLES when every encoder is frozen and the loss trains nothing', () => {
    const empty = functionEncoder({ name: 'frozen', variables: [], encode: (x) => x as tf.Tensor2D });
    expect(expectError('NO_TRAINABLE_VARIABLES', () => make({ encoders: [empty, empty], lossVariables: 'none' }))).toMatch(
      /nothing to train — every encoder is frozen/,
    );
  });

  test.each([0, -1, 1.5, NaN])('INVALID_CHUNK_SIZE for chunk size %s', (size) => {
    expect(expectError('INVALID_CHUNK_SIZE', () => make({ chunkSize: size }))).toMatch(
      /chunkSize for encoder 0 must be a positive integer, got/,
    );
  });

  test('INVALID_CHUNK_SIZE for a per-encoder list of the wrong length', () => {
    expect(expectError('INVALID_CHUNK_SIZE', () => make({ chunkSize: [2, 2] }))).toMatch(/one per encoder \(1\) or 'auto', got \[2, 2\]/);
  });

  test('INPUT_COUNT when inputs and encoders differ in number', () => {
    const x = tf.ones([4, 3]);
    expect(expectError('INPUT_COUNT', () => make().computeGradients([x, x]))).toMatch(/one batch per encoder \(1\), got 2 batches/);
    x.dispose();
  });

  test('EMPTY_BATCH for a batch of zero rows', () => {
    const x = tf.zeros([0, 3]);
    expect(expectError('EMPTY_BATCH', () => make().computeGradients([x]))).toMatch(/inputs\[0\] has batch size 0/);
    x.dispose();
  });

  test('BATCH_SIZE_MISMATCH when the tensors of one batch disagree on the first dimension', () => {
    const ids = tf.ones([4, 3]);
    const mask = tf.ones([5, 3]);
    expect(expectError('BATCH_SIZE_MISMATCH', () => make().computeGradients([{ ids, mask }]))).toMatch(
      /inputs\[0\].mask has 5 rows but inputs\[0\].ids has 4/,
    );
    tf.dispose([ids, mask]);
  });

  test('INVALID_INPUT for something that is not a batch', () => {
    expectError('INVALID_INPUT', () => make().computeGradients([42 as unknown as Batch]));
    const scalar = tf.scalar(1);
    expect(expectError('INVALID_INPUT', () => make().computeGradients([scalar]))).toMatch(/rank-0 tensor/);
    scalar.dispose();
  });

  test('INVALID_REP when an encoder returns the wrong rank or the wrong number of rows', () => {
    const w = tf.variable(tf.ones([3, 2]), true);
    const rank3 = functionEncoder({
      name: 'rank3',
      variables: [w],
      encode: (x) => tf.expandDims(tf.matMul(x as tf.Tensor2D, w), 1) as unknown as tf.Tensor2D,
    });
    const oneRow = functionEncoder({ name: 'pooled', variables: [w], encode: (x) => tf.sum(tf.matMul(x as tf.Tensor2D, w), 0, true) });
    const record = functionEncoder({ name: 'record', variables: [w], encode: (x) => ({ embedding: tf.matMul(x as tf.Tensor2D, w) }) });
    const x = tf.ones([4, 3]);
    expect(expectError('INVALID_REP', () => make({ encoders: [rank3] }).computeGradients([x]))).toMatch(
      /shape \[2, 1, 2\] for chunk 0 of 2 rows/,
    );
    expect(expectError('INVALID_REP', () => make({ encoders: [oneRow] }).computeGradients([x]))).toMatch(/shape \[1, 2\]/);
    expect(expectError('INVALID_REP', () => make({ encoders: [record] }).computeGradients([x]))).toMatch(/pass getRep/);
    tf.dispose([w, x]);
  });

  test('LOSS_NOT_SCALAR when the loss is not reduced', () => {
    const x = tf.ones([4, 3]);
    expect(
      expectError('LOSS_NOT_SCALAR', () => make({ loss: ([r]) => tf.square(r!) as unknown as tf.Scalar }).computeGradients([x])),
    ).toMatch(/returned a float32 tensor of shape \[4, 2\]/);
    x.dispose();
  });

  test('LOSS_NOT_FINITE leaves variables and state untouched and applies nothing', () => {
    const { encoder: counting, w, state } = countingEncoder();
    const x = tf.tensor2d([
      [1, 2, NaN],
      [1, 1, 1],
    ]);
    const cache = make({ encoders: [counting], chunkSize: 1 });
    const optimizer = tf.train.sgd(0.1);
    expect(expectError('LOSS_NOT_FINITE', () => cache.step(optimizer, [x]))).toMatch(/the loss is NaN; no gradient was applied/);
    expect(Array.from(w.dataSync())).toEqual([1, 1, 1, 1, 1, 1]);
    expect(Array.from(state.dataSync())).toEqual([0, 0, 0]);
    optimizer.dispose();
    tf.dispose([w, state, x]);
  });

  test('an error thrown by the loss inside the gradient scope leaks nothing and restores state', () => {
    const x = tf.ones([4, 3]);
    const cache = make({
      loss: ([r]) => {
        tf.exp(r!); // saved for the backward pass, then abandoned
        throw new Error('bad loss');
      },
    });
    expectNoLeaks(() => expect(() => cache.computeGradients([x])).toThrow('bad loss'), 'a throwing loss');
    x.dispose();
  });

  test('an error thrown by an encoder during the re-forward leaks nothing', () => {
    const w = tf.variable(tf.ones([3, 2]), true);
    let calls = 0;
    const flaky = functionEncoder({
      name: 'flaky',
      variables: [w],
      encode: (x) => {
        calls += 1;
        if (calls === 4) throw new Error('flaky encoder'); // the second chunk's re-forward
        return tf.matMul(x as tf.Tensor2D, w);
      },
    });
    const x = tf.ones([4, 3]);
    expectNoLeaks(() => expect(() => make({ encoders: [flaky] }).computeGradients([x])).toThrow('flaky encoder'), 'a failing re-forward');
    tf.dispose([w, x]);
  });
});
