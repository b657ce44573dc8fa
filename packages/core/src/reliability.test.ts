import * as tf from '@tensorflow/tfjs-core';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { expectNoLeaks, testMlp, useBackend } from '@gradcache/testing';
import type { GradCacheConfig } from './config.js';
import { GradCacheError } from './errors.js';
import { expectError } from './errors.test-helper.js';
import { functionEncoder } from './function-encoder.js';
import { GradCache } from './grad-cache.js';
import { chunkBatch, chunkRanges } from './chunk-input.js';
import type { Batch, Encoder } from './types.js';
import { verify } from './verify.js';

beforeAll(() => useBackend('cpu'));

const sumSquares = ([r]: tf.Tensor2D[]): tf.Scalar => tf.sum(tf.square(r as tf.Tensor2D));

function linear(seed: number, name = 'linear'): { w: tf.Variable; encoder: Encoder } {
  const w = tf.variable(tf.randomNormal([3, 2], 0, 1, 'float32', seed), true);
  return { w, encoder: functionEncoder({ name, variables: [w], encode: (x) => tf.matMul(x as tf.Tensor2D, w) }) };
}

const values = (t: tf.Tensor): number[] => Array.from(t.dataSync());

describe('GradCache.step leaves every variable as it was when anything in it throws', () => {
  test('an optimizer that throws leaves BatchNorm-style state and weights unchanged', () => {
    const w = tf.variable(tf.ones([3, 2]), true);
    const moving = tf.variable(tf.zeros([3]), false);
    const bn = functionEncoder({
      name: 'bn-like',
      variables: [w],
      stateVariables: [moving],
      encode: (x) => {
        moving.assign(tf.add(tf.mul(moving, 0.9), tf.mul(tf.mean(x as tf.Tensor2D, 0), 0.1)));
        return tf.matMul(x as tf.Tensor2D, w);
      },
    });
    const x = tf.randomNormal([4, 3], 0, 1, 'float32', 1);
    const cache = new GradCache({ encoders: [bn], chunkSize: 2, loss: sumSquares });
    // Updates the weight, then fails — as an optimizer does on a missing slot or a bad shape.
    const failing = {
      applyGradients: (grads: { name: string; tensor: tf.Tensor }[]) => {
        tf.tidy(() => w.assign(tf.sub(w, grads[0]!.tensor)));
        throw new Error('optimizer failed');
      },
    } as unknown as tf.Optimizer;
    expectNoLeaks(() => expect(() => cache.step(failing, [x])).toThrow('optimizer failed'), 'a failing optimizer');
    expect(values(moving)).toEqual([0, 0, 0]);
    expect(values(w)).toEqual([1, 1, 1, 1, 1, 1]);
    tf.dispose([w, moving, x]);
  });

  test('INVALID_OPTIMIZER for something that is not an optimizer', () => {
    const { w, encoder } = linear(2);
    const x = tf.ones([2, 3]);
    const cache = new GradCache({ encoders: [encoder], chunkSize: 1, loss: sumSquares });
    expect(expectError('INVALID_OPTIMIZER', () => cache.step(undefined as unknown as tf.Optimizer, [x]))).toMatch(
      /optimizer must be a tf.Optimizer .* got undefined/,
    );
    tf.dispose([w, x]);
  });
});

describe('non-finite gradients', () => {
  // A finite loss with an infinite gradient: d/dx sqrt(x) at x = 0 through an input of zeros.
  function sqrtEncoder(): { w: tf.Variable; encoder: Encoder } {
    const w = tf.variable(tf.ones([3, 2]), true);
    return { w, encoder: functionEncoder({ name: 'sqrt', variables: [w], encode: (x) => tf.sqrt(tf.matMul(x as tf.Tensor2D, w)) }) };
  }

  test('step refuses them with GRADS_NOT_FINITE and applies nothing', () => {
    const { w, encoder } = sqrtEncoder();
    const x = tf.tensor2d([
      [0, 0, 0],
      [1, 1, 1],
    ]);
    const cache = new GradCache({ encoders: [encoder], chunkSize: 1, loss: sumSquares });
    const optimizer = tf.train.sgd(0.1);
    expect(expectError('GRADS_NOT_FINITE', () => cache.step(optimizer, [x]))).toMatch(
      /gradients of .* hold NaN or Infinity .* nothing was applied/,
    );
    expect(values(w)).toEqual([1, 1, 1, 1, 1, 1]);
    optimizer.dispose();
    tf.dispose([w, x]);
  });

  test('computeGradients names them in nonFinite, and leaves nonFinite empty otherwise', () => {
    const { w, encoder } = sqrtEncoder();
    const zero = tf.tensor2d([
      [0, 0, 0],
      [1, 1, 1],
    ]);
    const ones = tf.ones([2, 3]);
    const cache = new GradCache({ encoders: [encoder], chunkSize: 1, loss: sumSquares });
    expectNoLeaks(() => {
      const bad = cache.computeGradients([zero]);
      expect(bad.nonFinite).toEqual([w.name]);
      const good = cache.computeGradients([ones]);
      expect(good.nonFinite).toEqual([]);
      tf.dispose([bad, good]);
    });
    tf.dispose([w, zero, ones]);
  });
});

describe('synchronous encode and loss', () => {
  test('an async encode gives NOT_SYNCHRONOUS and no unhandled rejection', async () => {
    const w = tf.variable(tf.ones([3, 2]), true);
    const asyncEncoder = {
      name: 'async',
      trainableVariables: [w],
      encode: async (_: Batch): Promise<tf.Tensor2D> => {
        await Promise.resolve();
        throw new Error('rejected later');
      },
    } as unknown as Encoder;
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown): void => void unhandled.push(reason);
    process.on('unhandledRejection', onUnhandled);
    const x = tf.ones([2, 3]);
    try {
      const cache = new GradCache({ encoders: [asyncEncoder], chunkSize: 2, loss: sumSquares });
      expect(expectError('NOT_SYNCHRONOUS', () => cache.computeGradients([x]))).toMatch(/encoder 0 \('async'\).encode returned a Promise/);
      await new Promise((resolve) => setTimeout(resolve, 20));
      expect(unhandled).toEqual([]);
    } finally {
      process.off('unhandledRejection', onUnhandled);
      tf.dispose([w, x]);
    }
  });

  test('an async loss gives NOT_SYNCHRONOUS', () => {
    const { w, encoder } = linear(3);
    const x = tf.ones([2, 3]);
    const cache = new GradCache({
      encoders: [encoder],
      chunkSize: 2,
      loss: (async () => tf.scalar(0)) as unknown as GradCacheConfig['loss'],
    });
    expect(expectError('NOT_SYNCHRONOUS', () => cache.computeGradients([x]))).toMatch(/the loss returned a Promise/);
    tf.dispose([w, x]);
  });
});

describe('inputs and variables are never the engine to free', () => {
  test('an encoder returning its own input leaves the caller tensor alive', () => {
    const w = tf.variable(tf.ones([2, 2]), true);
    // The rep is the input itself (plus a term that reads w, so there is a gradient).
    const identity = functionEncoder({ name: 'identity', variables: [w], encode: (x) => x as tf.Tensor2D });
    const x = tf.ones([3, 2]);
    const cache = new GradCache({
      encoders: [identity],
      chunkSize: 3,
      loss: ([r]) => tf.sum(tf.matMul(r as tf.Tensor2D, w)),
      lossVariables: [w],
      chunkInput: (batch) => [batch], // hands the caller's tensor to encode as is
    });
    expectNoLeaks(() => tf.dispose(cache.computeGradients([x])));
    expect(x.isDisposed).toBe(false);
    expect(values(x)).toEqual([1, 1, 1, 1, 1, 1]);
    tf.dispose([w, x]);
  });

  test('an encoder returning a variable leaves it registered and gets its gradient', () => {
    const table = tf.variable(
      tf.tensor2d([
        [1, 2],
        [3, 4],
      ]),
      true,
      'table_rep',
    );
    const lookup = functionEncoder({ name: 'table', variables: [table], encode: () => table as unknown as tf.Tensor2D });
    const x = tf.ones([2, 1]);
    const cache = new GradCache({ encoders: [lookup], chunkSize: 2, loss: sumSquares, lossVariables: 'none' });
    expectNoLeaks(() => {
      const { loss, grads } = cache.computeGradients([x]);
      expect(loss.dataSync()[0]).toBe(30);
      expect(values(grads.table_rep as tf.Tensor)).toEqual([2, 4, 6, 8]);
      tf.dispose([loss, grads]);
    });
    expect(table.isDisposed).toBe(false);
    expect(tf.engine().registeredVariables.table_rep).toBe(table);
    tf.dispose([table, x]);
  });
});

describe('replay checks', () => {
  test('a re-forward of another shape gives REPLAY_MISMATCH before back-propagation', () => {
    const w = tf.variable(tf.ones([3, 2]), true);
    let calls = 0;
    const shifty = functionEncoder({
      name: 'shifty',
      variables: [w],
      encode: (x) => {
        calls += 1;
        const rep = tf.matMul(x as tf.Tensor2D, w);
        return calls > 1 ? tf.concat([rep, rep], 1) : rep; // wider on the re-forward
      },
    });
    const x = tf.ones([2, 3]);
    const cache = new GradCache({ encoders: [shifty], chunkSize: 2, loss: sumSquares });
    expect(expectError('REPLAY_MISMATCH', () => cache.computeGradients([x]))).toMatch(
      /returned a float32 tensor of shape \[2, 4\] when re-encoding chunk 0, but \[2, 2\] the first time/,
    );
    tf.dispose([w, x]);
  });

  test('a re-forward whose values drift (a hidden counter) gives REPLAY_DRIFT; replayTolerance false turns it off', () => {
    const w = tf.variable(tf.ones([3, 2]), true);
    let calls = 0;
    const counter = functionEncoder({
      name: 'counter',
      variables: [w],
      encode: (x) => {
        calls += 1;
        return tf.mul(tf.matMul(x as tf.Tensor2D, w), 1 + 0.3 * calls); // 30% off on every call
      },
    });
    const x = tf.randomNormal([4, 3], 0, 1, 'float32', 4);
    const message = expectError('REPLAY_DRIFT', () =>
      new GradCache({ encoders: [counter], chunkSize: 2, loss: sumSquares }).computeGradients([x]),
    );
    expect(message).toMatch(
      /encoder 0 \('counter'\) gave other values when re-encoding chunk 0 .*\(max difference \d\.\d\de-1 of the largest \|rep\|/,
    );
    expectNoLeaks(() =>
      tf.dispose(new GradCache({ encoders: [counter], chunkSize: 2, loss: sumSquares, replayTolerance: false }).computeGradients([x])),
    );
    tf.dispose([w, x]);
  });

  test('dropout replayed through Math.random passes the drift check at its default tolerance', () => {
    const enc = testMlp({ widths: [4, 8, 3], dropout: 0.5, seed: 5 });
    const x = tf.randomNormal([6, 4], 0, 1, 'float32', 6);
    const cache = new GradCache({ encoders: [enc], chunkSize: 2, loss: sumSquares });
    expectNoLeaks(() => tf.dispose(cache.computeGradients([x])));
    tf.dispose(x);
    enc.dispose();
  });
});

describe('custom chunkInput must cover the batch', () => {
  test.each([
    ['a 0-row chunk', (b: Batch) => [tf.slice(b as tf.Tensor, 0, 2), tf.zeros([0, 3]), tf.slice(b as tf.Tensor, 2, 3)], 'EMPTY_BATCH'],
    ['chunks covering fewer rows', (b: Batch) => [tf.slice(b as tf.Tensor, 0, 4)], 'INVALID_CHUNKS'],
  ] as const)('a chunkInput returning %s is refused and its chunks are freed (leaked 3 and 1 tensors before)', (_, split, code) => {
    const { w, encoder } = linear(7);
    const x = tf.ones([5, 3]);
    const cache = new GradCache({ encoders: [encoder], chunkSize: 2, loss: sumSquares, chunkInput: split });
    expectError(code, () => cache.computeGradients([x]));
    tf.dispose([w, x]);
  });

  test.each([
    ['fewer rows', (b: Batch) => [tf.slice(b as tf.Tensor, 0, 2)], /2 = 2 rows for a batch of 5/],
    ['more rows', (b: Batch) => [b, tf.slice(b as tf.Tensor, 0, 1)], /5 \+ 1 = 6 rows for a batch of 5/],
  ])('INVALID_CHUNKS for chunks covering %s than the batch', (_, split, pattern) => {
    const { w, encoder } = linear(7);
    const x = tf.ones([5, 3]);
    const made: tf.Tensor[] = [];
    const cache = new GradCache({
      encoders: [encoder],
      chunkSize: 2,
      loss: sumSquares,
      chunkInput: (b) => {
        const chunks = split(b) as tf.Tensor[];
        made.push(...chunks.filter((c) => c !== b));
        return chunks;
      },
    });
    let message = '';
    try {
      cache.computeGradients([x]);
    } catch (e) {
      expect((e as GradCacheError).code).toBe('INVALID_CHUNKS');
      message = (e as Error).message;
    }
    expect(message).toMatch(pattern);
    tf.dispose([w, x, made]);
  });
});

describe('typed errors for malformed configs, encoders and losses', () => {
  const { w, encoder } = linear(8);
  const base = (): GradCacheConfig => ({ encoders: [encoder], chunkSize: 2, loss: sumSquares });
  const bad = (overrides: Record<string, unknown>): GradCacheConfig => ({ ...base(), ...overrides }) as GradCacheConfig;

  test.each([
    ['no config', undefined, 'INVALID_CONFIG', /config must be an object/],
    ['a null config', null, 'INVALID_CONFIG', /config must be an object .* got null/],
    ['null encoders', bad({ encoders: null }), 'NO_ENCODERS', /got null/],
    ['a null encoder', bad({ encoders: [null] }), 'INVALID_ENCODER', /encoders\[0\] must be an Encoder .* got null/],
    [
      'a sparse encoders array',
      // biome-ignore lint/suspicious/noSparseArray: the malformed input under test
      bad({ encoders: [encoder, , encoder] }),
      'INVALID_ENCODER',
      /encoders\[1\] must be an Encoder .* got undefined/,
    ],
    [
      'an encoder without encode',
      bad({ encoders: [{ name: 'x', trainableVariables: [w] }] }),
      'INVALID_ENCODER',
      /an object with keys name, trainableVariables/,
    ],
    [
      'a plain tensor in trainableVariables',
      bad({ encoders: [{ ...encoder, trainableVariables: [tf.ones([1])] }] }),
      'INVALID_ENCODER',
      /trainableVariables\[0\] must be a tf.Variable, got a float32 tensor/,
    ],
    [
      'a plain tensor in stateVariables',
      bad({ encoders: [{ ...encoder, stateVariables: [tf.ones([1])] }] }),
      'INVALID_ENCODER',
      /stateVariables\[0\] must be a tf.Variable/,
    ],
    ['a loss that is not a function', bad({ loss: 'infoNCE' }), 'INVALID_LOSS', /loss must be a function .* got "infoNCE"/],
    ['a bad lossVariables', bad({ lossVariables: 'all' }), 'INVALID_OPTION', /lossVariables must be 'auto', 'none' or an array/],
    ['a negative replayTolerance', bad({ replayTolerance: -1 }), 'INVALID_OPTION', /replayTolerance must be a number ≥ 0 or false/],
    ['a chunkInput that is not a function', bad({ chunkInput: 3 }), 'INVALID_OPTION', /chunkInput must be a function/],
  ] as const)('%s', (_, config, code, pattern) => {
    expect(expectError(code, () => new GradCache(config as GradCacheConfig))).toMatch(pattern);
  });

  test.each([
    ['3', () => 3],
    ['undefined', () => undefined],
  ])('LOSS_NOT_SCALAR for a loss returning %s', (what, loss) => {
    const x = tf.ones([2, 3]);
    const cache = new GradCache(bad({ loss }));
    expect(expectError('LOSS_NOT_SCALAR', () => cache.computeGradients([x]))).toMatch(new RegExp(`returned ${what}`));
    x.dispose();
  });

  test('DISPOSED_VARIABLE for a disposed trainable or state variable, leaking nothing', () => {
    const { w: dead, encoder: deadEncoder } = linear(9, 'dead');
    const x = tf.ones([2, 3]);
    const cache = new GradCache({ encoders: [deadEncoder], chunkSize: 1, loss: sumSquares });
    dead.dispose();
    expect(expectError('DISPOSED_VARIABLE', () => cache.computeGradients([x]))).toMatch(/variable '.*' has been disposed/);
    const state = tf.variable(tf.zeros([1]), false);
    const { w: w2, encoder: live } = linear(10);
    const withState = new GradCache({ encoders: [{ ...live, stateVariables: [state] }], chunkSize: 1, loss: sumSquares });
    state.dispose();
    const optimizer = tf.train.sgd(0.1);
    expectError('DISPOSED_VARIABLE', () => withState.step(optimizer, [x]));
    optimizer.dispose();
    tf.dispose([x, w2]);
  });

  test('a learnable temperature disposed and replaced between steps: later steps train the new one', () => {
    const { w: w3, encoder: enc } = linear(11);
    const x = tf.randomNormal([4, 3], 0, 1, 'float32', 12);
    let temperature = tf.variable(tf.scalar(1), true, 'temperature_a');
    const cache = new GradCache({ encoders: [enc], chunkSize: 2, loss: ([r]) => tf.div(sumSquares([r!]), temperature) });
    const optimizer = tf.train.adam(0.01);
    cache.step(optimizer, [x]);
    expect(cache.variables.at(-1)).toBe(temperature);
    temperature.dispose();
    temperature = tf.variable(tf.scalar(1), true, 'temperature_b');
    cache.step(optimizer, [x]);
    expect(cache.variables.at(-1)).toBe(temperature);
    expect(temperature.dataSync()[0]).not.toBe(1);
    optimizer.dispose();
    tf.dispose([w3, x, temperature]);
  });

  test('chunkRanges and chunkBatch refuse a chunk size of 0 instead of looping forever', () => {
    const x = tf.ones([3, 2]);
    expect(expectError('INVALID_CHUNK_SIZE', () => chunkRanges(3, 0))).toMatch(/chunkRanges: chunkSize must be a positive integer, got 0/);
    expect(expectError('INVALID_CHUNK_SIZE', () => chunkBatch(x, 0))).toMatch(/chunkBatch: chunkSize must be a positive integer/);
    expectError('INVALID_INPUT', () => chunkRanges(-1, 2));
    x.dispose();
  });

  test('any malformed config value gives a GradCacheError, never a raw error, and leaks nothing', () => {
    const anything = fc.oneof(
      fc.constant(undefined),
      fc.constant(null),
      fc.integer({ min: -3, max: 3 }),
      fc.double(),
      fc.string({ maxLength: 3 }),
      fc.constant([]),
      fc.constant({}),
      fc.constant(() => 1),
    );
    fc.assert(
      fc.property(
        fc.constantFrom('encoders', 'chunkSize', 'loss', 'seed', 'lossVariables', 'replayTolerance', 'chunkInput', 'getRep'),
        anything,
        (key, value) => {
          const x = tf.ones([2, 3]);
          expectNoLeaks(
            () => {
              try {
                const cache = new GradCache(bad({ [key]: value }));
                tf.dispose(cache.computeGradients([x]));
              } catch (error) {
                expect(error).toBeInstanceOf(GradCacheError);
              }
            },
            `${key} = ${String(value)}`,
          );
          x.dispose();
        },
      ),
      { numRuns: 150, seed: 8 },
    );
  });

  afterAll(() => tf.dispose(w));
});

describe('lossVariables', () => {
  /** A loss that calls a teacher network (default trainable = true) on the reps. */
  function teacherSetup(): { teacher: tf.Variable; temperature: tf.Variable; loss: (reps: tf.Tensor2D[]) => tf.Scalar } {
    const teacher = tf.variable(tf.randomNormal([2, 2], 0, 1, 'float32', 13), true, 'teacher_w');
    const temperature = tf.variable(tf.scalar(1), true, 'teacher_temperature');
    const loss = ([r]: tf.Tensor2D[]): tf.Scalar => tf.div(tf.sum(tf.square(tf.sub(r!, tf.matMul(r!, teacher)))), temperature);
    return { teacher, temperature, loss };
  }

  test("'auto' trains every trainable variable the loss reads — a trainable teacher included", () => {
    const { w, encoder } = linear(14);
    const { teacher, temperature, loss } = teacherSetup();
    const cache = new GradCache({ encoders: [encoder], chunkSize: 2, loss });
    const x = tf.ones([2, 3]);
    tf.dispose(cache.computeGradients([x]));
    expect(cache.variables).toEqual([w, teacher, temperature]);
    tf.dispose([w, teacher, temperature, x]);
  });

  test('a list trains exactly those, in that order; a frozen teacher keeps its weights over steps', () => {
    const { w, encoder } = linear(15);
    const { teacher, temperature, loss } = teacherSetup();
    const before = values(teacher);
    const cache = new GradCache({ encoders: [encoder], chunkSize: 2, loss, lossVariables: [temperature] });
    const x = tf.randomNormal([4, 3], 0, 1, 'float32', 16);
    const optimizer = tf.train.sgd(0.1);
    expectNoLeaks(() => {
      const { grads, loss: value } = cache.computeGradients([x]);
      expect(Object.keys(grads)).toEqual([w.name, temperature.name]);
      tf.dispose([grads, value]);
    });
    for (let k = 0; k < 3; k++) cache.step(optimizer, [x]);
    expect(values(teacher)).toEqual(before);
    expect(temperature.dataSync()[0]).not.toBe(1);
    optimizer.dispose();
    tf.dispose([w, teacher, temperature, x]);
  });

  test("'none' trains only the encoders", () => {
    const { w, encoder } = linear(17);
    const { teacher, temperature, loss } = teacherSetup();
    const cache = new GradCache({ encoders: [encoder], chunkSize: 2, loss, lossVariables: 'none' });
    const x = tf.ones([2, 3]);
    const result = cache.computeGradients([x]);
    expect(Object.keys(result.grads)).toEqual([w.name]);
    tf.dispose([result, w, teacher, temperature, x]);
  });

  test('DISPOSED_VARIABLE for a disposed variable in the list', () => {
    const { w, encoder } = linear(18);
    const t = tf.variable(tf.scalar(1), true);
    const cache = new GradCache({ encoders: [encoder], chunkSize: 2, loss: sumSquares, lossVariables: [t] });
    t.dispose();
    const x = tf.ones([2, 3]);
    expectError('DISPOSED_VARIABLE', () => cache.computeGradients([x]));
    tf.dispose([w, x]);
  });
});

describe('reliability, round two: defects found by trying', () => {
  test('a loss that returns a string tensor is LOSS_NOT_SCALAR (was a raw "Failed to decode encoded string bytes")', () => {
    const { w, encoder } = linear(21);
    const x = tf.ones([2, 3]);
    const cache = new GradCache({ encoders: [encoder], chunkSize: 1, loss: () => tf.scalar('oops') as unknown as tf.Scalar });
    expect(expectError('LOSS_NOT_SCALAR', () => cache.computeGradients([x]))).toMatch(
      /must return a float32 scalar tensor, but it returned a string tensor/,
    );
    tf.dispose([w, x]);
  });

  test('a loss that tf.keep()s the reps it was given does not keep them alive after the step', () => {
    const { w, encoder } = linear(22);
    const x = tf.ones([4, 3]);
    const cache = new GradCache({ encoders: [encoder], chunkSize: 2, loss: ([r]) => tf.sum(tf.keep(r as tf.Tensor2D)) });
    expectNoLeaks(() => tf.dispose(cache.computeGradients([x])), 'a loss that keeps its reps');
    tf.dispose([w, x]);
  });

  test('a load that returns a promise is NOT_SYNCHRONOUS, and its later rejection kills nothing (was unhandled)', async () => {
    const { w, encoder } = linear(23);
    const cache = new GradCache({ encoders: [encoder], chunkSize: 2, loss: sumSquares });
    const batch = cache.begin({ load: (() => Promise.reject(new Error('disk gone'))) as unknown as () => tf.Tensor });
    expect(expectError('NOT_SYNCHRONOUS', () => batch.add(0))).toMatch(/GradCache: load returned a Promise/);
    await new Promise((resolve) => setTimeout(resolve, 10)); // an unhandled rejection would fail the test run here
    w.dispose();
  });

  test('verify with batch sizes that disagree is BATCH_SIZE_MISMATCH and frees its state snapshot (leaked before)', () => {
    const w = tf.variable(tf.ones([3, 2]), true);
    const moving = tf.variable(tf.zeros([3]), false);
    const encoder = functionEncoder({
      name: 'bn',
      variables: [w],
      stateVariables: [moving],
      encode: (x) => tf.matMul((x as Record<string, tf.Tensor2D>)['a']!, w),
    });
    const inputs = [{ a: tf.ones([4, 3]), b: tf.ones([3, 3]) }];
    expectError('BATCH_SIZE_MISMATCH', () => verify({ encoders: [encoder], chunkSize: 2, loss: sumSquares }, inputs));
    tf.dispose([w, moving, inputs]);
  });
});
