import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, test } from 'vitest';
import {
  expectClose,
  expectGradsClose,
  expectNoLeaks,
  fullBatchReference,
  infoNceReference,
  testMlp,
  useBackend,
} from '@gradcache/testing';
import { GradCache } from './grad-cache.js';
import { functionEncoder } from './function-encoder.js';
import { measureMemory } from './memory.js';
import { chunkSeed, withSeededRandom } from './random-replay.js';
import type { Batch, Encoder } from './types.js';

beforeAll(() => useBackend('cpu'));

const infoNce = infoNceReference;

const pairLoss = ([a, b]: tf.Tensor2D[]): tf.Scalar => infoNce(a as tf.Tensor2D, b as tf.Tensor2D, 0.5);

/** The gradient of `loss` with every encoder run on its whole batch in one gradient scope. */
const fullBatchGrads = (
  encoders: readonly Encoder[],
  inputs: readonly Batch[],
  loss: (reps: tf.Tensor2D[]) => tf.Scalar,
  variables: tf.Variable[],
) => fullBatchReference(encoders, inputs, loss, variables);

/** Runs computeGradients and the full-batch reference, compares them, frees everything. */
function expectMatchesFullBatch(cache: GradCache, inputs: readonly Batch[], loss: (reps: tf.Tensor2D[]) => tf.Scalar): void {
  const { loss: value, grads } = cache.computeGradients(inputs);
  const ref = fullBatchGrads(cache.encoders, inputs, loss, cache.variables);
  expectClose(value, ref.value, 1e-5, 'loss');
  expectGradsClose(grads, ref.grads, 1e-4);
  tf.dispose([value, grads, ref]);
}

function pair(rows: number, width = 6): [tf.Tensor2D, tf.Tensor2D] {
  return [tf.randomNormal([rows, width], 0, 1, 'float32', rows), tf.randomNormal([rows, width], 0, 1, 'float32', rows + 1)];
}

describe('GradCache', () => {
  test('matches the full-batch gradient when the chunk size does not divide the batch', () => {
    const q = testMlp({ widths: [6, 10, 4], seed: 1 });
    const d = testMlp({ widths: [6, 8, 4], seed: 2 });
    const inputs = pair(13);
    expectMatchesFullBatch(new GradCache({ encoders: [q, d], chunkSize: [4, 5], loss: pairLoss }), inputs, pairLoss);
    tf.dispose(inputs);
    q.dispose();
    d.dispose();
  });

  test('matches the full-batch gradient with chunks of one row and chunks larger than the batch', () => {
    const q = testMlp({ widths: [6, 4], seed: 3 });
    const d = testMlp({ widths: [6, 5, 4], activation: 'relu', seed: 4 });
    const inputs = pair(7);
    for (const chunkSize of [1, 7, 100]) {
      expectMatchesFullBatch(new GradCache({ encoders: [q, d], chunkSize, loss: pairLoss }), inputs, pairLoss);
    }
    tf.dispose(inputs);
    q.dispose();
    d.dispose();
  });

  test('sums both sides of an encoder listed twice (shared weights)', () => {
    const shared = testMlp({ widths: [6, 8, 4], activation: 'gelu', normalize: true, seed: 5 });
    const inputs = pair(9);
    const cache = new GradCache({ encoders: [shared, shared], chunkSize: 4, loss: pairLoss });
    expect(cache.variables).toHaveLength(shared.trainableVariables.length);
    expectMatchesFullBatch(cache, inputs, pairLoss);
    // Each side alone has a different, non-zero gradient; the shared one is their sum.
    const { grads } = cache.computeGradients(inputs);
    const w = shared.trainableVariables[0] as tf.Variable;
    const otherSide = shared.encode(inputs[1], { training: true }); // a constant outside the scope
    const oneSide = tf.variableGrads(() => pairLoss([shared.encode(inputs[0], { training: true }), otherSide]), [w]);
    const sideNorm = tf.norm(oneSide.grads[w.name] as tf.Tensor).dataSync()[0] as number;
    const diffNorm = tf.norm(tf.sub(grads[w.name] as tf.Tensor, oneSide.grads[w.name] as tf.Tensor)).dataSync()[0] as number;
    expect(sideNorm).toBeGreaterThan(1e-3);
    expect(diffNorm).toBeGreaterThan(1e-3);
    tf.dispose([grads, oneSide, otherSide, inputs]);
    shared.dispose();
  });

  test('splits array and record batches along the first dimension', () => {
    const w = tf.variable(tf.randomNormal([3, 4], 0, 1, 'float32', 7), true);
    const record = functionEncoder({
      name: 'masked',
      variables: [w],
      encode: (input) => {
        const { x, mask } = input as { x: tf.Tensor2D; mask: tf.Tensor2D };
        return tf.matMul(tf.mul(x, mask), w);
      },
    });
    const array = functionEncoder({
      name: 'pair',
      variables: [w],
      encode: (input) => {
        const [x, y] = input as tf.Tensor2D[];
        return tf.matMul(tf.add(x as tf.Tensor2D, y as tf.Tensor2D), w);
      },
    });
    const x = tf.randomNormal([10, 3], 0, 1, 'float32', 8);
    const mask = tf.cast(tf.greater(tf.randomUniform([10, 3], 0, 1, 'float32', 9), 0.3), 'float32');
    const inputs: Batch[] = [{ x, mask }, [x, mask]];
    expectMatchesFullBatch(new GradCache({ encoders: [record, array], chunkSize: [3, 4], loss: pairLoss }), inputs, pairLoss);
    tf.dispose([w, x, mask]);
  });

  test('hands extra to the loss unchanged', () => {
    const enc = testMlp({ widths: [4, 3], seed: 10 });
    const x = tf.randomNormal([5, 4], 0, 1, 'float32', 11);
    const extra = { labels: [1, 2, 3] };
    const seen: unknown[] = [];
    const cache = new GradCache<typeof extra>({
      encoders: [enc],
      chunkSize: 2,
      loss: ([r], e) => {
        seen.push(e);
        return tf.mean(tf.square(r as tf.Tensor2D));
      },
    });
    tf.dispose(cache.computeGradients([x], extra));
    expect(seen).toEqual([extra]);
    expect(seen[0]).toBe(extra);
    tf.dispose(x);
    enc.dispose();
  });

  test('returns gradients for variables the loss closes over, in a fixed order after the encoders', () => {
    const q = testMlp({ widths: [6, 4], seed: 12 });
    const d = testMlp({ widths: [6, 4], seed: 13 });
    const logTemperature = tf.variable(tf.scalar(Math.log(0.3)), true, 'log_temperature_test');
    const loss = ([a, b]: tf.Tensor2D[]): tf.Scalar => infoNce(a as tf.Tensor2D, b as tf.Tensor2D, tf.exp(logTemperature) as tf.Scalar);
    const cache = new GradCache({ encoders: [q, d], chunkSize: 3, loss });
    const inputs = pair(8);
    expect(cache.variables).not.toContain(logTemperature);
    expectMatchesFullBatch(cache, inputs, loss);
    expect(cache.variables.at(-1)).toBe(logTemperature);
    expect(cache.variables.slice(0, -1)).toEqual([...q.trainableVariables, ...d.trainableVariables]);
    tf.dispose([inputs, logTemperature]);
    q.dispose();
    d.dispose();
  });

  test('takes custom chunkInput and getRep hooks, one per encoder or one for all', () => {
    const w = tf.variable(tf.randomNormal([4, 3], 0, 1, 'float32', 14), true);
    const enc = functionEncoder({
      name: 'two-headed',
      variables: [w],
      encode: (x) => ({ rep: tf.matMul(x as tf.Tensor2D, w), unused: tf.zeros([1]) }),
    });
    const x = tf.randomNormal([9, 4], 0, 1, 'float32', 15);
    const y = tf.randomNormal([9, 4], 0, 1, 'float32', 16);
    const splits: number[] = [];
    const cache = new GradCache({
      encoders: [enc, enc],
      chunkSize: 4,
      loss: pairLoss,
      // Uneven chunks: 2 rows, then the rest.
      chunkInput: [0, 1].map((i) => (batch: Batch) => {
        splits.push(i);
        return [tf.slice(batch as tf.Tensor, 0, 2), tf.slice(batch as tf.Tensor, 2, 7)];
      }),
      getRep: (out) => (out as { rep: tf.Tensor2D }).rep,
    });
    const plain = { ...enc, encode: (input: Batch) => tf.matMul(input as tf.Tensor2D, w) };
    const { loss, grads } = cache.computeGradients([x, y]);
    const ref = fullBatchGrads([plain, plain], [x, y], pairLoss, [w]);
    expectGradsClose(grads, ref.grads, 1e-4);
    expect(splits).toEqual([0, 1]);
    tf.dispose([loss, grads, ref, w, x, y]);
  });

  test('step applies the full-batch gradient through the optimizer, all variables in one fixed order', () => {
    // Two same-shaped variables: an optimizer given them in another order would swap their slots.
    const a = tf.variable(tf.randomNormal([4, 4], 0, 1, 'float32', 17), true);
    const b = tf.variable(tf.randomNormal([4, 4], 0, 1, 'float32', 18), true);
    const encoders = [
      functionEncoder({ name: 'a', variables: [a], encode: (x) => tf.matMul(x as tf.Tensor2D, a) }),
      functionEncoder({ name: 'b', variables: [b], encode: (x) => tf.matMul(x as tf.Tensor2D, b) }),
    ];
    const inputs = pair(6, 4);
    const reference = [tf.variable(a.clone(), true), tf.variable(b.clone(), true)];
    const referenceEncoders = reference.map((v) => ({
      ...encoders[0]!,
      encode: (x: Batch) => tf.matMul(x as tf.Tensor2D, v),
    }));
    const cache = new GradCache({ encoders, chunkSize: 2, loss: pairLoss });
    const optimizer = tf.train.adam(0.05);
    const referenceOptimizer = tf.train.adam(0.05);
    for (let k = 0; k < 3; k++) {
      const { loss } = cache.step(optimizer, inputs);
      const { value, grads } = fullBatchGrads(referenceEncoders, inputs, pairLoss, reference);
      expect(loss).toBeCloseTo(value.dataSync()[0] as number, 5);
      referenceOptimizer.applyGradients(reference.map((v) => ({ name: v.name, tensor: grads[v.name] as tf.Tensor })));
      tf.dispose([value, grads]);
    }
    expectClose(a, reference[0]!, 1e-5, 'a');
    expectClose(b, reference[1]!, 1e-5, 'b');
    optimizer.dispose();
    referenceOptimizer.dispose();
    tf.dispose([a, b, inputs, reference]);
  });

  test('leaves state variables as one chunked forward would, not updated twice by the re-forward', () => {
    const w = tf.variable(tf.randomNormal([3, 2], 0, 1, 'float32', 19), true);
    const moving = tf.variable(tf.zeros([3]), false);
    const enc = functionEncoder({
      name: 'bn-like',
      variables: [w],
      stateVariables: [moving],
      encode: (x, { training }) => {
        const input = x as tf.Tensor2D;
        if (training) moving.assign(tf.add(tf.mul(moving, 0.9), tf.mul(tf.mean(input, 0), 0.1)));
        // The output reads the state, so a re-forward that saw other state would get other reps.
        return tf.matMul(tf.add(input, moving), w);
      },
    });
    const x = tf.randomNormal([7, 3], 0, 1, 'float32', 20);
    const cache = new GradCache({ encoders: [enc], chunkSize: 3, loss: ([r]) => tf.sum(tf.square(r as tf.Tensor2D)) });
    // Expected: updated chunk by chunk, once each; each chunk's gradient taken at the state it saw.
    const expected = tf.tidy(() => {
      let m = tf.zeros([3]);
      const chunks = [tf.slice(x, 0, 3), tf.slice(x, 3, 3), tf.slice(x, 6, 1)];
      const seen = chunks.map((c) => {
        m = tf.add(tf.mul(m, 0.9), tf.mul(tf.mean(c, 0), 0.1));
        return m;
      });
      const { grads } = tf.variableGrads(
        () =>
          tf.sum(
            tf.square(
              tf.concat(
                chunks.map((c, j) => tf.matMul(tf.add(c, seen[j]!), w)),
                0,
              ),
            ),
          ),
        [w],
      );
      return { m, g: grads[w.name] as tf.Tensor };
    });
    const { loss, grads } = cache.computeGradients([x]);
    expectClose(moving, expected.m, 1e-6, 'moving statistic');
    expectClose(grads[w.name] as tf.Tensor, expected.g, 1e-5, 'grad');
    tf.dispose([loss, grads, expected, w, moving, x]);
  });

  describe('random replay', () => {
    function dropoutEncoder(w: tf.Variable, record: Float32Array[][]): Encoder {
      return functionEncoder({
        name: 'dropout',
        variables: [w],
        encode: (x) => {
          const rep = tf.dropout(tf.matMul(x as tf.Tensor2D, w), 0.5) as tf.Tensor2D;
          record.push([rep.dataSync() as Float32Array]);
          return rep;
        },
      });
    }

    test('replays dropout bit-identically in the re-forward, with new masks for each chunk and step', () => {
      const w = tf.variable(tf.ones([4, 16]), true);
      const calls: Float32Array[][] = [];
      const cache = new GradCache({
        encoders: [dropoutEncoder(w, calls)],
        chunkSize: 2,
        seed: 42,
        loss: ([r]) => tf.sum(tf.square(r as tf.Tensor2D)),
      });
      const x = tf.ones([4, 4]);
      tf.dispose(cache.computeGradients([x]));
      tf.dispose(cache.computeGradients([x]));
      // Per step: chunk 0, chunk 1 (first pass), chunk 0, chunk 1 (re-forward).
      const [s0c0, s0c1, r0c0, r0c1, s1c0] = calls.map((c) => Array.from(c[0]!));
      expect(r0c0).toEqual(s0c0);
      expect(r0c1).toEqual(s0c1);
      expect(s0c1).not.toEqual(s0c0);
      expect(s1c0).not.toEqual(s0c0);
      expect(s0c0!.filter((v) => v === 0).length).toBeGreaterThan(0);
      tf.dispose([w, x]);
    });

    test("setting batchIndex resumes the replay: a new GradCache at batchIndex = 2 draws batch 2's masks", () => {
      const w = tf.variable(tf.randomNormal([4, 6], 0, 1, 'float32', 31), true);
      const x = tf.randomNormal([5, 4], 0, 1, 'float32', 32);
      const loss = ([r]: tf.Tensor2D[]): tf.Scalar => tf.sum(tf.square(r as tf.Tensor2D));
      const gradAt = (cache: GradCache): number[] => {
        const { loss: l, grads } = cache.computeGradients([x]);
        const g = Array.from(grads[w.name]!.dataSync());
        tf.dispose([l, grads]);
        return g;
      };
      const straight = new GradCache({ encoders: [dropoutEncoder(w, [])], chunkSize: 2, seed: 3, loss });
      const [g0, , g2] = [gradAt(straight), gradAt(straight), gradAt(straight)];
      const resumed = new GradCache({ encoders: [dropoutEncoder(w, [])], chunkSize: 2, seed: 3, loss });
      resumed.batchIndex = 2;
      expect(gradAt(resumed)).toEqual(g2);
      expect(g2).not.toEqual(g0);
      expect(resumed.batchIndex).toBe(3);
      expect(() => {
        resumed.batchIndex = -1;
      }).toThrowError(/GradCache.batchIndex: must be an integer ≥ 0/);
      tf.dispose([w, x]);
    });

    test('equals the full-batch gradient under the same randomness, and is deterministic for a seed', () => {
      const w = tf.variable(tf.randomNormal([4, 6], 0, 1, 'float32', 21), true);
      const enc = dropoutEncoder(w, []);
      const x = tf.randomNormal([5, 4], 0, 1, 'float32', 22);
      const loss = ([r]: tf.Tensor2D[]): tf.Scalar => tf.sum(tf.square(r as tf.Tensor2D));
      const run = (): tf.Tensor => {
        const cache = new GradCache({ encoders: [enc], chunkSize: 2, seed: 7, loss });
        const { loss: l, grads } = cache.computeGradients([x]);
        l.dispose();
        return grads[w.name] as tf.Tensor;
      };
      const g1 = run();
      const g2 = run();
      const ref = tf.variableGrads(() => {
        const reps = [0, 1, 2].map((j) =>
          withSeededRandom(
            chunkSeed(7, 0, 0, j),
            () => enc.encode(tf.slice(x, 2 * j, Math.min(2, 5 - 2 * j)), { training: true }) as tf.Tensor2D,
          ),
        );
        return loss([tf.concat(reps, 0)]);
      }, [w]);
      expect(Array.from(g2.dataSync())).toEqual(Array.from(g1.dataSync()));
      expectClose(g1, ref.grads[w.name] as tf.Tensor, 1e-5, 'grad');
      tf.dispose([g1, g2, ref, w, x]);
    });
  });

  describe('memory', () => {
    test('leaks no tensor in computeGradients once its results are disposed', () => {
      const q = testMlp({ widths: [6, 8, 4], dropout: 0.2, seed: 23 });
      const inputs = pair(10);
      const cache = new GradCache({ encoders: [q, q], chunkSize: 3, loss: pairLoss });
      tf.dispose(cache.computeGradients(inputs)); // creates nothing persistent, but warm up anyway
      expectNoLeaks(() => tf.dispose(cache.computeGradients(inputs)), 'computeGradients');
      tf.dispose(inputs);
      q.dispose();
    });

    test('keeps the tensor count flat over 200 steps', () => {
      const q = testMlp({ widths: [6, 8, 4], seed: 24 });
      const d = testMlp({ widths: [6, 4], seed: 25 });
      const inputs = pair(8);
      const cache = new GradCache({ encoders: [q, d], chunkSize: 3, loss: pairLoss });
      const optimizer = tf.train.adam(1e-3);
      cache.step(optimizer, inputs); // the first step creates the optimizer's slots
      const before = tf.memory().numTensors;
      for (let k = 0; k < 200; k++) cache.step(optimizer, inputs);
      expect(tf.memory().numTensors).toBe(before);
      optimizer.dispose();
      tf.dispose(inputs);
      q.dispose();
      d.dispose();
    });

    test('peak tensor bytes fall as the chunk shrinks and stay below the full-batch step', async () => {
      const q = testMlp({ widths: [32, 256, 256, 16], seed: 26 });
      const d = testMlp({ widths: [32, 256, 256, 16], seed: 27 });
      const inputs = pair(64, 32);
      const peak = async (f: () => tf.TensorContainer): Promise<number> => (await measureMemory(() => tf.dispose(f()))).peakBytes;
      const full = await peak(() => fullBatchGrads([q, d], inputs, pairLoss, [...q.trainableVariables, ...d.trainableVariables]));
      const cached: number[] = [];
      for (const chunkSize of [64, 32, 16, 8]) {
        const cache = new GradCache({ encoders: [q, d], chunkSize, loss: pairLoss });
        cached.push(await peak(() => cache.computeGradients(inputs)));
      }
      for (let k = 1; k < cached.length; k++) expect(cached[k]).toBeLessThan(cached[k - 1]!);
      expect(cached[1]).toBeLessThan(full);
      expect(cached[3]).toBeLessThan(0.5 * full);
      tf.dispose(inputs);
      q.dispose();
      d.dispose();
    });
  });
});
