import * as tf from '@tensorflow/tfjs-core';
import fc from 'fast-check';
import { beforeAll, describe, expect, test } from 'vitest';
import { expectNoLeaks, useBackend } from '@gradcache/testing';
import { alignment, uniformity } from './alignment-uniformity.js';
import { barlowTwins } from './barlow-twins.js';
import { dcl, dclw } from './dcl.js';
import { LossError, type LossErrorCode } from './errors.js';
import { infoNCE } from './info-nce.js';
import { ntXent } from './nt-xent.js';
import { queueInfoNCE } from './queue-info-nce.js';
import { spectralContrastive } from './spectral-contrastive.js';
import { supCon } from './sup-con.js';
import { symmetricInfoNCE } from './symmetric-info-nce.js';
import { vicReg } from './vic-reg.js';
import { nnclr } from './nnclr.js';
import { swav } from './swav.js';

let queue: tf.Tensor2D;
beforeAll(async () => {
  await useBackend('cpu');
  queue = tf.ones([3, 3]);
});

type Call = (reps: unknown[], options: unknown) => tf.Scalar;

/** Every loss, with how many rep arguments it takes and options that work. */
const LOSSES: { name: string; reps: number; options: unknown; call: Call }[] = [
  { name: 'infoNCE', reps: 2, options: { temperature: 0.1 }, call: ([a, b], o) => infoNCE(a as tf.Tensor2D, b as tf.Tensor2D, o as never) },
  {
    name: 'infoNCE tiled',
    reps: 2,
    options: { temperature: 0.1, tileSize: 2 },
    call: ([a, b], o) => infoNCE(a as tf.Tensor2D, b as tf.Tensor2D, o as never),
  },
  {
    name: 'symmetricInfoNCE',
    reps: 2,
    options: { temperature: 0.1 },
    call: ([a, b], o) => symmetricInfoNCE(a as tf.Tensor2D, b as tf.Tensor2D, o as never),
  },
  { name: 'ntXent', reps: 2, options: { temperature: 0.1 }, call: ([a, b], o) => ntXent(a as tf.Tensor2D, b as tf.Tensor2D, o as never) },
  { name: 'dcl', reps: 2, options: { temperature: 0.1 }, call: ([a, b], o) => dcl(a as tf.Tensor2D, b as tf.Tensor2D, o as never) },
  { name: 'dclw', reps: 2, options: { temperature: 0.1 }, call: ([a, b], o) => dclw(a as tf.Tensor2D, b as tf.Tensor2D, o as never) },
  { name: 'barlowTwins', reps: 2, options: {}, call: ([a, b], o) => barlowTwins(a as tf.Tensor2D, b as tf.Tensor2D, o as never) },
  { name: 'vicReg', reps: 2, options: {}, call: ([a, b], o) => vicReg(a as tf.Tensor2D, b as tf.Tensor2D, o as never) },
  {
    name: 'spectralContrastive',
    reps: 2,
    options: {},
    call: ([a, b], o) => spectralContrastive(a as tf.Tensor2D, b as tf.Tensor2D, o as never),
  },
  { name: 'alignment', reps: 2, options: {}, call: ([a, b], o) => alignment(a as tf.Tensor2D, b as tf.Tensor2D, o as never) },
  { name: 'uniformity', reps: 1, options: {}, call: ([a], o) => uniformity(a as tf.Tensor2D, o as never) },
  { name: 'supCon', reps: 1, options: {}, call: ([a], o) => supCon(a as tf.Tensor2D, [0, 1, 0, 1], o as never) },
  {
    name: 'queueInfoNCE',
    reps: 2,
    options: { temperature: 0.1 },
    call: ([a, b], o) => queueInfoNCE(a as tf.Tensor2D, b as tf.Tensor2D, queue, o as never),
  },
  {
    name: 'infoNCE with directions and ids, tiled',
    reps: 2,
    options: {
      temperature: 0.1,
      directions: ['qd', 'qq', 'dq', 'dd'],
      ids: { queries: [1, 2, 3, 4], documents: [1, 2, 3, 4] },
      tileSize: 2,
    },
    call: ([a, b], o) => infoNCE(a as tf.Tensor2D, b as tf.Tensor2D, o as never),
  },
  {
    name: 'ntXent tiled',
    reps: 2,
    options: { temperature: 0.1, tileSize: 3 },
    call: ([a, b], o) => ntXent(a as tf.Tensor2D, b as tf.Tensor2D, o as never),
  },
  { name: 'supCon tiled', reps: 1, options: { tileSize: 3 }, call: ([a], o) => supCon(a as tf.Tensor2D, [0, 1, 0, 1], o as never) },
  { name: 'nnclr', reps: 2, options: {}, call: ([a, b], o) => nnclr(a as tf.Tensor2D, b as tf.Tensor2D, queue, o as never) },
  { name: 'swav', reps: 2, options: {}, call: ([a, b], o) => swav(a as tf.Tensor2D, b as tf.Tensor2D, queue, o as never) },
];

/** What a caller might pass instead of a [4, 3] float32 tensor of reps. */
const BAD_REPS: { what: string; make: () => unknown }[] = [
  {
    what: 'a disposed tensor',
    make: () => {
      const t = tf.ones([4, 3]);
      t.dispose();
      return t;
    },
  },
  { what: 'a 0-row tensor', make: () => tf.zeros([0, 3]) },
  { what: 'an int32 tensor', make: () => tf.ones([4, 3], 'int32') },
  { what: 'a rank-1 tensor', make: () => tf.ones([4]) },
  { what: 'null', make: () => null },
  { what: 'a number', make: () => 3 },
];

function expectLossError(f: () => unknown, codes?: readonly LossErrorCode[]): LossError {
  let caught: unknown;
  expectNoLeaks(() => {
    try {
      tf.dispose(f() as tf.Tensor);
    } catch (error) {
      caught = error;
    }
  });
  expect(caught).toBeInstanceOf(LossError);
  if (codes !== undefined) expect(codes).toContain((caught as LossError).code);
  return caught as LossError;
}

describe('every loss refuses bad input with a LossError and leaks nothing', () => {
  test('any rep argument replaced by a malformed value', () => {
    fc.assert(
      fc.property(fc.constantFrom(...LOSSES), fc.nat(), fc.constantFrom(...BAD_REPS), (loss, slot, bad) => {
        const good = Array.from({ length: loss.reps }, () => tf.randomNormal([4, 3], 0, 1, 'float32', 1));
        const index = slot % loss.reps;
        const value = bad.make();
        const reps = good.map((t, k) => (k === index ? value : t));
        expectLossError(() => loss.call(reps, loss.options), ['INVALID_REPS', 'BATCH_TOO_SMALL']);
        tf.dispose(good);
        if (value instanceof tf.Tensor) value.dispose();
      }),
      { numRuns: 120, seed: 3 },
    );
  });

  test.each(LOSSES.map((l) => [l.name, l] as const))('%s: options that are null or not an object', (_, loss) => {
    const reps = Array.from({ length: loss.reps }, () => tf.randomNormal([4, 3], 0, 1, 'float32', 2));
    for (const options of [null, 5, 'fast']) {
      expect(expectLossError(() => loss.call(reps, options), ['INVALID_OPTION']).message).toMatch(/options must be an object/);
    }
    tf.dispose(reps);
  });

  test.each(LOSSES.filter((l) => (l.options as { temperature?: number }).temperature !== undefined).map((l) => [l.name, l] as const))(
    '%s: a missing options object',
    (_, loss) => {
      const reps = Array.from({ length: loss.reps }, () => tf.randomNormal([4, 3], 0, 1, 'float32', 3));
      expect(expectLossError(() => loss.call(reps, undefined), ['INVALID_OPTION']).message).toMatch(/options must be an object such as/);
      tf.dispose(reps);
    },
  );

  test.each([
    ['dcl', dcl],
    ['dclw', dclw],
  ] as const)('%s refuses one row (its denominator would be empty: −1e30)', (name, loss) => {
    const z = tf.ones([1, 3]) as tf.Tensor2D;
    expect(expectLossError(() => loss(z, z, { temperature: 0.1 }), ['BATCH_TOO_SMALL']).message).toMatch(
      new RegExp(`${name}: z1 has 1 row`),
    );
    z.dispose();
  });

  test('a disposed learnable temperature and disposed labels', () => {
    const q = tf.randomNormal([4, 3], 0, 1, 'float32', 4) as tf.Tensor2D;
    const t = tf.scalar(0.1);
    t.dispose();
    expect(expectLossError(() => infoNCE(q, q, { temperature: t }), ['INVALID_OPTION']).message).toMatch(
      /temperature is a disposed tensor/,
    );
    const labels = tf.tensor1d([0, 1, 0, 1]);
    labels.dispose();
    expect(expectLossError(() => supCon(q, labels), ['LABELS_LENGTH']).message).toMatch(/labels is a disposed tensor/);
    q.dispose();
  });
});
