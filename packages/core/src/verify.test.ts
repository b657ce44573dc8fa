import * as tf from '@tensorflow/tfjs-core';
import seedrandom from 'seedrandom';
import { beforeAll, describe, expect, test } from 'vitest';
import { testMlp, useBackend } from '@gradcache/testing';
import { functionEncoder } from './function-encoder.js';
import { GradCache } from './grad-cache.js';
import type { Encoder } from './types.js';
import { gradCacheMatchers, verify } from './verify.js';

beforeAll(() => useBackend('cpu'));

const infoNCE = ([a, b]: tf.Tensor2D[]): tf.Scalar =>
  tf.tidy(() => {
    const logits = tf.div(tf.matMul(a as tf.Tensor2D, b as tf.Tensor2D, false, true), 0.5);
    return tf.mean(tf.sub(tf.logSumExp(logits, 1), tf.sum(tf.mul(tf.div(a as tf.Tensor2D, 0.5), b as tf.Tensor2D), 1)));
  });

const inputs = (): tf.Tensor[] => [tf.randomNormal([10, 6], 0, 1, 'float32', 1), tf.randomNormal([10, 6], 0, 1, 'float32', 2)];

/** A linear encoder with a twist applied to its rep in training mode (as a dropout layer would). */
function linear(name: string, twist: (rep: tf.Tensor2D) => tf.Tensor2D): Encoder & { dispose(): void } {
  const w = tf.variable(tf.randomNormal([6, 4], 0, 1, 'float32', 7), true, `${name}_w`);
  const encode = (x: tf.Tensor, { training }: { training: boolean }): tf.Tensor2D => {
    const rep = tf.matMul(x as tf.Tensor2D, w) as tf.Tensor2D;
    return training ? twist(rep) : rep;
  };
  return { ...functionEncoder({ name, variables: [w], encode: (x, c) => encode(x as tf.Tensor, c) }), dispose: () => w.dispose() };
}

describe('verify', () => {
  test("passes for dropout towers (the reference replays every chunk's masks); changes nothing and leaks nothing", () => {
    const q = testMlp({ widths: [6, 12, 4], dropout: 0.3, seed: 3 });
    const d = testMlp({ widths: [6, 12, 4], dropout: 0.3, seed: 4 });
    const x = inputs();
    const gradCache = new GradCache({ encoders: [q, d], chunkSize: 3, loss: infoNCE, seed: 9 });
    gradCache.batchIndex = 5;
    const weights = gradCache.variables.map((v) => Array.from(v.dataSync()));
    const before = tf.memory().numTensors;
    const report = verify(gradCache, x);
    expect(tf.memory().numTensors).toBe(before);
    expect(report.pass, report.summary).toBe(true);
    expect(report.variables).toHaveLength(8);
    expect(report.replay).toHaveLength(8);
    expect(report.replay.every((r) => r.drift === 0)).toBe(true);
    expect(report.loss.cached).toBeCloseTo(report.loss.reference, 5);
    expect(gradCache.batchIndex).toBe(5);
    expect(gradCache.variables.map((v) => Array.from(v.dataSync()))).toEqual(weights);
    expect(report.summary).toMatch(/^verify: PASS — 8 variables, 8 chunks/);
    tf.dispose(x);
    [q, d].forEach((e) => e.dispose());
  });

  test('fails for an encoder with a hidden counter, naming it and the chunk', () => {
    let calls = 0;
    const counter = linear('counter', (rep) => tf.add(rep, 0.1 * calls++));
    const other = linear('plain', (rep) => rep);
    const x = inputs();
    const report = verify({ encoders: [counter, other], chunkSize: 5, loss: infoNCE }, x);
    expect(report.pass).toBe(false);
    expect(report.problems[0]).toMatch(/^encoder 0 \('counter'\) chunk \d: the re-forward drifts by/);
    expect(report.summary).toMatch(/^verify: FAIL/);
    tf.dispose(x);
    [counter, other].forEach((e) => e.dispose());
  });

  test('fails for a random source that is not Math.random (not replayed)', () => {
    const own = seedrandom.alea('own');
    const noisy = linear(
      'own-noise',
      (rep) =>
        tf.add(
          rep,
          tf.tensor(
            Array.from({ length: rep.size }, () => own()),
            rep.shape,
          ),
        ) as tf.Tensor2D,
    );
    const x = inputs();
    const report = verify({ encoders: [noisy, noisy], chunkSize: 4, loss: infoNCE }, x);
    expect(report.pass).toBe(false);
    expect(report.problems.some((p) => p.includes("('own-noise')") && p.includes('drifts'))).toBe(true);
    tf.dispose(x);
    noisy.dispose();
  });

  test('fails for a fixed-seed dropout that repeats its mask in every chunk and batch', () => {
    const fixed = linear('fixed-dropout', (rep) => tf.dropout(rep, 0.5, undefined, 42) as tf.Tensor2D);
    const x = inputs();
    const report = verify({ encoders: [fixed, fixed], chunkSize: 5, loss: infoNCE }, x);
    expect(report.fixedRandomness).toEqual(['fixed-dropout']);
    expect(report.pass).toBe(false);
    expect(report.problems.join('\n')).toMatch(/'fixed-dropout' is random in training mode but ignores the replay seed/);
    tf.dispose(x);
    fixed.dispose();
  });

  test('fails, naming the worst variables, when the cached gradient differs from the reference', () => {
    // A loss that doubles on its second call: the cached pass sees ×1, the reference ×2.
    let calls = 0;
    const drifting = (reps: tf.Tensor2D[]): tf.Scalar => tf.mul(infoNCE(reps), ++calls === 1 ? 1 : 2);
    const q = linear('lin', (rep) => rep);
    const x = inputs();
    const report = verify({ encoders: [q, q], chunkSize: 5, loss: drifting }, x);
    expect(report.pass).toBe(false);
    expect(report.variables[0]?.pass).toBe(false);
    expect(report.problems[0]).toMatch(/^grad of lin_w: max\|Δ\| = .* against max\|g\| = /);
    tf.dispose(x);
    q.dispose();
  });

  test('the matcher: three lines in a test file', () => {
    expect.extend(gradCacheMatchers);
    const q = testMlp({ widths: [6, 4], seed: 5 });
    const x = inputs();
    const gradCache = new GradCache({ encoders: [q, q], chunkSize: 4, loss: infoNCE });
    (expect(gradCache) as unknown as { toMatchFullBatchGradient(i: tf.Tensor[]): void }).toMatchFullBatchGradient(x);
    let calls = 0;
    const counter = linear('counter2', (rep) => tf.add(rep, calls++));
    const broken = new GradCache({ encoders: [counter, counter], chunkSize: 4, loss: infoNCE });
    expect(() =>
      (expect(broken) as unknown as { toMatchFullBatchGradient(i: tf.Tensor[]): void }).toMatchFullBatchGradient(x),
    ).toThrowError(/verify: FAIL[\s\S]*'counter2'/);
    expect(() => verify(gradCache, x, { tolerance: 0 })).toThrowError(/verify: tolerance must be > 0/);
    tf.dispose(x);
    q.dispose();
    counter.dispose();
  });

  test('passes for an encoder returning { rep, auxLoss }: the reference adds the auxiliary losses too', () => {
    const w = tf.variable(tf.randomNormal([6, 4], 0, 1, 'float32', 31), true, 'aux_w');
    const encoder = functionEncoder({
      name: 'with-aux',
      variables: [w],
      encode: (x) => {
        const rep = tf.tanh(tf.matMul(x as tf.Tensor2D, w)) as tf.Tensor2D;
        return { rep, auxLoss: tf.mul(tf.mean(tf.square(rep)), 0.5) };
      },
    });
    const x = inputs();
    const before = tf.memory().numTensors;
    const report = verify({ encoders: [encoder, encoder], chunkSize: 3, loss: infoNCE }, x);
    expect(tf.memory().numTensors).toBe(before);
    expect(report.pass, report.summary).toBe(true);
    // The loss verify reports includes the auxiliary terms: more than the InfoNCE of the reps alone.
    const plain = tf.tidy(() => {
      const reps = x.map((b) => tf.tanh(tf.matMul(b as tf.Tensor2D, w)) as tf.Tensor2D);
      return infoNCE(reps).dataSync()[0] as number;
    });
    expect(report.loss.reference).toBeGreaterThan(plain);
    expect(report.loss.cached).toBeCloseTo(report.loss.reference, 5);
    tf.dispose([x, w]);
  });
});
