import * as tf from '@tensorflow/tfjs-core';
import fc from 'fast-check';
import { beforeAll, describe, expect, test } from 'vitest';
import { testMlp, useBackend } from '@gradcache/testing';
import type { GradCacheError } from './errors.js';
import { GradCache } from './grad-cache.js';
import { measureMemorySync } from './memory.js';

beforeAll(() => useBackend('cpu'));

const infoNCE = ([a, b]: tf.Tensor2D[]): tf.Scalar =>
  tf.tidy(() => {
    const logits = tf.div(tf.matMul(a as tf.Tensor2D, b as tf.Tensor2D, false, true), 0.5);
    return tf.mean(tf.sub(tf.logSumExp(logits, 1), tf.sum(tf.mul(tf.div(a as tf.Tensor2D, 0.5), b as tf.Tensor2D), 1)));
  });

describe("chunkSize 'auto'", () => {
  test('property: the measured peak of the chosen configuration stays within memoryBudget', () => {
    const outcomes = { fit: 0, chunked: 0, tooSmall: 0 };
    const ratios: number[] = [];
    fc.assert(
      fc.property(
        fc.record({
          hidden: fc.integer({ min: 64, max: 512 }),
          batch: fc.integer({ min: 16, max: 128 }),
          fraction: fc.double({ min: 0, max: 1, noNaN: true }),
          seed: fc.integer({ min: 1, max: 1000 }),
        }),
        ({ hidden, batch, fraction, seed }) => {
          const q = testMlp({ widths: [8, hidden, hidden, 4], seed });
          const d = testMlp({ widths: [8, hidden, 4], seed: seed + 1 });
          const inputs = [tf.randomNormal([batch, 8], 0, 1, 'float32', seed), tf.randomNormal([batch, 8], 0, 1, 'float32', seed + 1)];
          try {
            // Budgets from just above what chunk 1 needs to past what the whole batch needs (both measured).
            const peakAt = (chunkSize: number): number =>
              measureMemorySync(() => tf.dispose(new GradCache({ encoders: [q, d], chunkSize, loss: infoNCE }).computeGradients(inputs)))
                .peakBytes;
            const [low, high] = [peakAt(1), peakAt(batch)];
            const memoryBudget = Math.round(1.2 * low + fraction * (1.5 * high - 1.2 * low));
            const gradCache = new GradCache({ encoders: [q, d], chunkSize: 'auto', memoryBudget, loss: infoNCE });
            let chosen: readonly number[];
            try {
              chosen = gradCache.planChunkSizes(inputs);
            } catch (error) {
              expect((error as GradCacheError).code).toBe('BUDGET_TOO_SMALL');
              outcomes.tooSmall++;
              return;
            }
            const { peakBytes } = measureMemorySync(() => tf.dispose(gradCache.computeGradients(inputs)));
            expect(
              peakBytes,
              `budget ${memoryBudget}, chunks ${chosen}, predicted ${gradCache.autoChunk?.predictedPeakBytes}`,
            ).toBeLessThanOrEqual(memoryBudget);
            expect(chosen.every((c) => c >= 1 && c <= batch)).toBe(true);
            outcomes[chosen.some((c) => c < batch) ? 'chunked' : 'fit']++;
            ratios.push(peakBytes / (gradCache.autoChunk?.predictedPeakBytes as number));
          } finally {
            tf.dispose(inputs);
            [q, d].forEach((e) => e.dispose());
          }
        },
      ),
      { numRuns: Number(process.env['AUTO_RUNS'] ?? 25), seed: Number(process.env['AUTO_SEED'] ?? 12) },
    );
    // Not vacuous: at least a third of the budgets led to a configuration (the rest: BUDGET_TOO_SMALL).
    expect(outcomes.chunked + outcomes.fit, JSON.stringify({ outcomes, ratios })).toBeGreaterThanOrEqual(8);
    expect(outcomes.chunked).toBeGreaterThan(0);
  });

  test('a generous budget takes the whole batch; a tight one smaller chunks; the choice is reported', () => {
    const q = testMlp({ widths: [8, 512, 512, 4], seed: 3 });
    const inputs = [tf.randomNormal([256, 8], 0, 1, 'float32', 1), tf.randomNormal([256, 8], 0, 1, 'float32', 2)];
    const roomy = new GradCache({ encoders: [q, q], chunkSize: 'auto', memoryBudget: 2 ** 30, loss: infoNCE });
    expect(roomy.chunkSize).toEqual([]);
    tf.dispose(roomy.computeGradients(inputs));
    expect(roomy.chunkSize).toEqual([256, 256]);
    const full = measureMemorySync(() => tf.dispose(roomy.computeGradients(inputs))).peakBytes;
    const tight = new GradCache({ encoders: [q, q], chunkSize: 'auto', memoryBudget: Math.round(0.6 * full), loss: infoNCE });
    const chosen = tight.planChunkSizes(inputs);
    expect(Math.max(...chosen)).toBeLessThan(256);
    const report = tight.autoChunk;
    expect(report?.chunkSize).toEqual(chosen);
    expect(report?.predictedPeakBytes).toBeLessThanOrEqual(0.6 * full);
    expect(report?.chunkCost.every((c) => c.bytesPerRow > 0)).toBe(true);
    tf.dispose(inputs);
    q.dispose();
  });

  test('errors: a budget too small to fit one row; memoryBudget without auto; a non-positive budget', () => {
    const q = testMlp({ widths: [8, 64, 4], seed: 4 });
    const inputs = [tf.randomNormal([32, 8]), tf.randomNormal([32, 8])];
    const tiny = new GradCache({ encoders: [q, q], chunkSize: 'auto', memoryBudget: 1000, loss: infoNCE });
    const before = tf.memory().numTensors;
    expect(() => tiny.computeGradients(inputs)).toThrowError(
      /chunkSize 'auto' cannot fit a chunk of encoder 0 .* in memoryBudget 0\.0 MiB/,
    );
    expect(tf.memory().numTensors).toBe(before);
    expect(() => new GradCache({ encoders: [q], chunkSize: 4, memoryBudget: 1e6, loss: infoNCE })).toThrowError(
      /memoryBudget applies to chunkSize 'auto' only/,
    );
    expect(() => new GradCache({ encoders: [q], chunkSize: 'auto', memoryBudget: -1, loss: infoNCE })).toThrowError(
      /memoryBudget must be a positive number of bytes, got -1/,
    );
    tf.dispose(inputs);
    q.dispose();
  });
});
