import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { expectNoLeaks, useBackend } from '@gradcache/testing';
import { applyInOrder } from './apply-in-order.js';
import { measureMemory } from './memory.js';

const bits = (t: tf.Tensor): number[] => Array.from(new Uint32Array((t.dataSync() as Float32Array).slice().buffer));

/** Three variables (two of the same shape) and their gradients at step k, deterministic. */
function model(prefix: string) {
  const shapes = [[64, 32], [32], [64, 32]];
  const variables = shapes.map((s, i) => tf.variable(tf.randomNormal(s, 0, 1, 'float32', i + 1), true, `${prefix}_${i}`));
  const grads = (k: number): tf.NamedTensorMap =>
    Object.fromEntries(variables.map((v, i) => [v.name, tf.randomNormal(v.shape, 0, 1, 'float32', 100 * k + i + 1)])); // seed 0 would mean unseeded
  return { variables, grads };
}

describe.each(['cpu', 'wasm'] as const)('applyInOrder with Adam, variable by variable (%s)', (backend) => {
  beforeAll(() => useBackend(backend));
  afterAll(() => useBackend('cpu'));

  test("bit-identical to tfjs's adam.applyGradients over 5 steps, clipped or not: weights, moments, β powers", () => {
    const ours = model(`${backend}_ours`);
    const theirs = model(`${backend}_theirs`);
    const [a, b] = [tf.train.adam(0.01), tf.train.adam(0.01)];
    for (let k = 0; k < 5; k++) {
      const [g1, g2] = [ours.grads(k), theirs.grads(k)];
      const clip = k % 2 === 0 ? {} : { gradNorm: 40, clipNorm: 10 };
      applyInOrder(a, ours.variables, g1, clip);
      tf.tidy(() =>
        b.applyGradients(
          theirs.variables.map((v) => ({
            name: v.name,
            tensor: k % 2 === 0 ? (g2[v.name] as tf.Tensor) : tf.mul(g2[v.name] as tf.Tensor, 10 / 40),
          })),
        ),
      );
      tf.dispose([g1, g2]);
    }
    ours.variables.forEach((v, i) => expect(bits(v), `weight ${i}`).toEqual(bits(theirs.variables[i] as tf.Variable)));
    const slots = (o: tf.Optimizer) =>
      o as unknown as { accumulatedFirstMoment: { variable: tf.Variable }[]; accumulatedSecondMoment: { variable: tf.Variable }[] };
    for (const which of ['accumulatedFirstMoment', 'accumulatedSecondMoment'] as const) {
      slots(a)[which].forEach((s, i) =>
        expect(bits(s.variable), `${which} ${i}`).toEqual(bits((slots(b)[which][i] as { variable: tf.Variable }).variable)),
      );
    }
    for (const beta of ['accBeta1', 'accBeta2'] as const) {
      expect(bits((a as unknown as Record<string, tf.Variable>)[beta] as tf.Variable)).toEqual(
        bits((b as unknown as Record<string, tf.Variable>)[beta] as tf.Variable),
      );
    }
    expect(a.iterations).toBe(5);
    tf.dispose([ours.variables, theirs.variables]);
    a.dispose();
    b.dispose();
  });

  test('a failure at the third variable puts back the first two and their moments; the retry equals a clean step', () => {
    const failing = model(`${backend}_fail`);
    const clean = model(`${backend}_clean`);
    const [a, b] = [tf.train.adam(0.01), tf.train.adam(0.01)];
    const [g0, c0] = [failing.grads(0), clean.grads(0)];
    applyInOrder(a, failing.variables, g0);
    applyInOrder(b, clean.variables, c0);
    const [g1, c1] = [failing.grads(1), clean.grads(1)];
    // A gradient map whose third entry throws when read, as an allocation past the heap limit would.
    const broken = { ...g1 };
    Object.defineProperty(broken, failing.variables[2]?.name as string, {
      get: () => {
        throw new Error('out of memory (simulated)');
      },
    });
    const before = tf.memory().numTensors;
    expect(() => applyInOrder(a, failing.variables, broken)).toThrowError(/simulated/);
    expect(tf.memory().numTensors).toBe(before);
    expect(a.iterations).toBe(1);
    applyInOrder(a, failing.variables, g1);
    applyInOrder(b, clean.variables, c1);
    failing.variables.forEach((v, i) => expect(bits(v), `weight ${i}`).toEqual(bits(clean.variables[i] as tf.Variable)));
    tf.dispose([g0, g1, c0, c1, failing.variables, clean.variables]);
    a.dispose();
    b.dispose();
  });

  test("the update's peak is one variable's temporaries plus what it must keep to undo, far below tfjs's all-at-once update", async () => {
    // Eight 1 MiB variables: tfjs holds every variable's temporaries at once.
    const variables = Array.from({ length: 8 }, (_, i) =>
      tf.variable(tf.randomNormal([512, 512], 0, 1, 'float32', i), true, `${backend}_peak_${i}`),
    );
    const grads = Object.fromEntries(variables.map((v) => [v.name, tf.onesLike(v)]));
    const [a, b] = [tf.train.adam(0.01), tf.train.adam(0.01)];
    // First steps create the moments (outside the measurement).
    applyInOrder(a, variables, grads);
    tf.tidy(() => b.applyGradients(grads));
    const ours = (await measureMemory(() => applyInOrder(a, variables, grads))).peakBytes;
    const theirs = (await measureMemory(() => tf.tidy(() => b.applyGradients(grads)))).peakBytes;
    const mib = 2 ** 20;
    // Ours: what undo keeps (value, m, v: 3 MiB a variable, 24 MiB) + a few of one variable's temporaries;
    // theirs: every variable's temporaries at once.
    expect(ours / mib).toBeLessThanOrEqual(24 + 4); // measured: 27 MiB (tfjs: 112)
    expect(theirs / ours, `theirs ${theirs / mib} MiB, ours ${ours / mib} MiB`).toBeGreaterThan(2);
    expectNoLeaks(() => applyInOrder(a, variables, grads));
    tf.dispose([variables, grads]);
    a.dispose();
    b.dispose();
  });
});
