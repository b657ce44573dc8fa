import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, test } from 'vitest';
import { expectClose, expectGradsClose, testMlp, useBackend, infoNceReference } from '@gradcache/testing';
import { GradCacheError } from './errors.js';
import { functionEncoder } from './function-encoder.js';
import { GradCache } from './grad-cache.js';
import { measureMemorySync } from './memory.js';
import { chunkSeed, withSeededRandom } from './random-replay.js';
import type { Encoder } from './types.js';

beforeAll(() => useBackend('cpu'));

const pairLoss = ([q, d]: tf.Tensor2D[]): tf.Scalar => infoNceReference(q!, d!);

/** Rows [begin, begin + size) of a seeded [rows, width] matrix, made on demand: a loader's chunk. */
const rowsOf = (seed: number, width: number) => (begin: number, size: number) =>
  tf.tidy(() => tf.slice(tf.randomNormal([64, width], 0, 1, 'float32', seed), begin, size));

describe('gradCache.begin: a batch fed one chunk at a time', () => {
  test('equals the one-call gradient, with chunks kept or re-loaded, added in any interleaving', () => {
    const q = testMlp({ widths: [6, 10, 4], dropout: 0.2, seed: 1 });
    const d = testMlp({ widths: [6, 8, 4], seed: 2 });
    const [xq, xd] = [rowsOf(1, 6), rowsOf(2, 6)];
    const whole = [xq(0, 12), xd(0, 12)];
    const reference = new GradCache({ encoders: [q, d], chunkSize: 4, loss: pairLoss, seed: 3 }).computeGradients(whole);

    // Kept: the caller frees each chunk right after add.
    const kept = new GradCache({ encoders: [q, d], chunkSize: 4, loss: pairLoss, seed: 3 }).begin();
    for (let j = 0; j < 3; j++) {
      // Documents first: the order of adds across encoders does not matter.
      for (const encoder of [1, 0]) {
        const chunk = (encoder === 0 ? xq : xd)(4 * j, 4);
        kept.add(encoder, chunk);
        chunk.dispose();
      }
    }
    expect(kept.rows).toEqual([12, 12]);
    const fromKept = kept.computeGradients();

    // Re-loaded: the step fetches every chunk itself, for both passes.
    const loaded = new GradCache({ encoders: [q, d], chunkSize: 4, loss: pairLoss, seed: 3 }).begin({
      load: (i, j) => (i === 0 ? xq : xd)(4 * j, 4),
    });
    for (let j = 0; j < 3; j++) for (const i of [0, 1]) loaded.add(i);
    const fromLoad = loaded.computeGradients();

    for (const result of [fromKept, fromLoad]) {
      expectClose(result.loss, reference.loss, 1e-6, 'loss');
      expectGradsClose(result.grads, reference.grads, 1e-5);
    }
    tf.dispose([reference, fromKept, fromLoad, whole]);
    q.dispose();
    d.dispose();
  });

  test('with load, only one chunk of inputs is alive at a time: the peak does not grow with the number of chunks', () => {
    const width = 4096; // 16 KiB per row of input, a small rep of 4 floats
    const encoder = testMlp({ widths: [width, 4], seed: 4 });
    const peakFor = (chunks: number): number => {
      const data = (j: number) => tf.randomNormal([8, width], 0, 1, 'float32', j);
      // A loss whose own memory is linear in the batch (InfoNCE's B×B logits would grow here instead).
      const alignment = ([a, b]: tf.Tensor2D[]) => tf.mean(tf.sum(tf.mul(a!, b!), 1)) as tf.Scalar;
      const batch = new GradCache({ encoders: [encoder, encoder], chunkSize: 8, loss: alignment, seed: 1 }).begin({
        load: (_i, j) => data(j),
      });
      return measureMemorySync(() => {
        for (let j = 0; j < chunks; j++) for (const i of [0, 1]) batch.add(i);
        tf.dispose(batch.computeGradients());
      }).peakBytes;
    };
    const [two, sixteen] = [peakFor(2), peakFor(16)];
    const chunkInput = 8 * width * 4;
    // 14 more chunks per encoder: all of their inputs would be 28 × 128 KiB more; what grows is only
    // the reps and their cache (4 floats a row).
    expect(sixteen - two).toBeLessThan(chunkInput);
    expect(two).toBeGreaterThan(chunkInput);
    encoder.dispose();
  });

  test('augmentation drawn from Math.random inside load is replayed exactly in the re-forward', () => {
    const encoder = testMlp({ widths: [6, 8, 4], seed: 5 });
    const clean = rowsOf(6, 6);
    // Noise from Math.random: the step seeds it per chunk, so both passes see the same views.
    const augmented = (j: number) =>
      tf.tidy(() =>
        tf.add(
          clean(4 * j, 4),
          tf.tensor2d(
            Array.from({ length: 24 }, () => Math.random()),
            [4, 6],
          ),
        ),
      );
    const cache = new GradCache({ encoders: [encoder, encoder], chunkSize: 4, loss: pairLoss, seed: 9 });
    const batch = cache.begin({ load: (_i, j) => augmented(j) });
    for (let j = 0; j < 3; j++) for (const i of [0, 1]) batch.add(i);
    const result = batch.computeGradients(); // no REPLAY_DRIFT
    // The reference: the same views (drawn under the same seeds) in one gradient scope.
    const views = [0, 1].map((i) => tf.concat([0, 1, 2].map((j) => withSeededRandom(chunkSeed(9, 0, i, j), () => augmented(j)))));
    const reference = tf.variableGrads(
      () => pairLoss(views.map((v) => encoder.encode(v, { training: true }))),
      [...encoder.trainableVariables],
    );
    expectGradsClose(result.grads, reference.grads, 1e-5);
    tf.dispose([result, reference, views]);
    encoder.dispose();
  });

  test('misuse is a typed error and leaks nothing: add after the end, add with nothing to add, no chunk for an encoder', () => {
    const encoder = testMlp({ widths: [6, 4], seed: 6 });
    const cache = new GradCache({ encoders: [encoder, encoder], chunkSize: 4, loss: pairLoss });
    const before = tf.memory().numTensors;
    const codeOf = (f: () => unknown): string => {
      try {
        f();
      } catch (error) {
        expect(error).toBeInstanceOf(GradCacheError);
        return (error as GradCacheError).code;
      }
      return 'nothing thrown';
    };
    const batch = cache.begin();
    expect(codeOf(() => batch.add(0))).toBe('INVALID_INPUT');
    const x = tf.ones([4, 6]);
    batch.add(0, x);
    expect(codeOf(() => batch.computeGradients())).toBe('INPUT_COUNT'); // encoder 1 has no chunk
    batch.add(1, x);
    tf.dispose(batch.computeGradients());
    expect(codeOf(() => batch.add(0, x))).toBe('BATCH_FINISHED');
    const dropped = cache.begin();
    dropped.add(0, x);
    dropped.abandon();
    expect(codeOf(() => dropped.computeGradients())).toBe('BATCH_FINISHED');
    x.dispose();
    expect(tf.memory().numTensors).toBe(before);
    encoder.dispose();
  });
});

describe('frozen encoders', () => {
  test('an encoder without trainable variables is forwarded once, gets no gradient, and its reps reach the loss', () => {
    const student = testMlp({ widths: [6, 8, 4], seed: 7 });
    const teacherWeights = tf.variable(tf.randomNormal([6, 4], 0, 1, 'float32', 8), false);
    let teacherCalls = 0;
    let studentCalls = 0;
    const teacher = functionEncoder({
      name: 'teacher',
      variables: [],
      encode: (x) => {
        teacherCalls++;
        return tf.matMul(x as tf.Tensor2D, teacherWeights);
      },
    });
    const counted: Encoder = {
      ...student,
      encode: (x, c) => {
        studentCalls++;
        return student.encode(x, c);
      },
    };
    const inputs = [rowsOf(9, 6)(0, 12), rowsOf(10, 6)(0, 12)];
    const cache = new GradCache({ encoders: [counted, teacher], chunkSize: 4, loss: pairLoss });
    expect(cache.variables).toEqual(student.trainableVariables);
    const { loss, grads } = cache.computeGradients(inputs);
    expect([studentCalls, teacherCalls]).toEqual([6, 3]); // 3 chunks each: the teacher is never re-forwarded
    const reference = tf.variableGrads(
      () => pairLoss([student.encode(inputs[0]!, { training: true }), tf.matMul(inputs[1] as tf.Tensor2D, teacherWeights)]),
      [...student.trainableVariables],
    );
    expectClose(loss, reference.value, 1e-6, 'loss');
    expectGradsClose(grads, reference.grads, 1e-5);
    tf.dispose([loss, grads, reference, inputs, teacherWeights]);
    student.dispose();
  });

  test('frozen: true freezes an encoder whose variables are trainable: not re-forwarded, its weights untouched by step', () => {
    const student = testMlp({ widths: [6, 4], seed: 11 });
    const tower = testMlp({ widths: [6, 4], seed: 12 });
    let towerCalls = 0;
    const locked: Encoder = {
      ...tower,
      frozen: true,
      encode: (x, c) => {
        towerCalls++;
        return tower.encode(x, c);
      },
    };
    const cache = new GradCache({ encoders: [student, locked], chunkSize: 2, loss: pairLoss, lossVariables: 'none' });
    const before = tower.trainableVariables.map((v) => Array.from(v.dataSync()));
    const inputs = [rowsOf(13, 6)(0, 6), rowsOf(14, 6)(0, 6)];
    const optimizer = tf.train.sgd(0.5);
    cache.step(optimizer, inputs);
    expect(towerCalls).toBe(3);
    expect(tower.trainableVariables.map((v) => Array.from(v.dataSync()))).toEqual(before);
    tf.dispose(inputs);
    [student, tower, optimizer].forEach((x) => x.dispose());
  });
});

describe('auxiliary losses', () => {
  test("an encoder's auxLoss joins the loss (weighted by its chunk's rows) and its gradient, = the full-batch gradient of the sum", () => {
    const mlp = testMlp({ widths: [6, 8, 4], seed: 15 });
    const [w] = mlp.trainableVariables as tf.Variable[];
    // A rep plus an activation regulariser: the mean square of the first layer's output.
    const regularised: Encoder = {
      name: 'regularised',
      trainableVariables: mlp.trainableVariables,
      encode: (x, c) => ({ rep: mlp.encode(x, c), auxLoss: tf.mul(tf.mean(tf.square(tf.matMul(x as tf.Tensor2D, w!))), 0.3) }),
    };
    const inputs = [rowsOf(16, 6)(0, 10), rowsOf(17, 6)(0, 10)];
    const cache = new GradCache({ encoders: [regularised, regularised], chunkSize: [4, 3], loss: pairLoss });
    const { loss, grads } = cache.computeGradients(inputs);
    // Chunks of 4, 4, 2 (and 3, 3, 3, 1) rows: the weighted chunk means are the batch means.
    const reference = tf.variableGrads(() => {
      const [q, d] = inputs.map((x) => mlp.encode(x, { training: true }));
      const aux = inputs.map((x) => tf.mul(tf.mean(tf.square(tf.matMul(x as tf.Tensor2D, w!))), 0.3));
      return tf.addN([pairLoss([q!, d!]), ...aux]) as tf.Scalar;
    }, [...mlp.trainableVariables]);
    expectClose(loss, reference.value, 1e-6, 'loss with the auxiliary terms');
    expectGradsClose(grads, reference.grads, 1e-5);
    tf.dispose([loss, grads, reference, inputs]);
    mlp.dispose();
  });
});
