import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, test } from 'vitest';
import { GradCache, tokenBudgetChunks } from '@gradcache/core';
import { textEncoder, WordPieceTokenizer } from '@gradcache/encoders';
import { infoNCE } from '@gradcache/losses';
import { expectClose, expectGradsClose, useBackend } from '@gradcache/testing';

beforeAll(() => useBackend('cpu'));

const texts = [
  'a cat',
  'the quick brown fox jumps over the lazy dog again and again',
  'dog',
  'an ocean of water and waves',
  'oak',
  'a small red house on a hill by the sea with a garden',
  'sky',
  'rain falls',
];

describe('tokenBudgetChunks', () => {
  test('chunks by padded tokens, trims each chunk to its longest row, and the cached gradient is still the full-batch one', () => {
    const tokenizer = WordPieceTokenizer.fromCorpus(texts, { vocabSize: 80, minFrequency: 1 });
    const q = textEncoder({ vocabSize: tokenizer.vocab.length, maxLength: 16, dim: 8, heads: 2, layers: 1, dropout: 0, seed: 1 });
    const d = textEncoder({ vocabSize: tokenizer.vocab.length, maxLength: 16, dim: 8, heads: 2, layers: 1, dropout: 0, seed: 2 });
    const queries = tokenizer.encode(texts, { maxLength: 16 });
    const docs = tokenizer.encode([...texts].reverse(), { maxLength: 16 });
    const split = tokenBudgetChunks({ maxTokens: 24 });
    const chunks = split(queries) as Record<string, tf.Tensor>[];
    const lengths = Array.from(tf.sum(queries.attentionMask, 1).dataSync());
    // Every row once, in order; each chunk within 24 padded tokens (or one row); trimmed to its longest row.
    expect(chunks.reduce((n, c) => n + (c['inputIds']?.shape[0] as number), 0)).toBe(texts.length);
    let row = 0;
    for (const c of chunks) {
      const [size, width] = (c['inputIds'] as tf.Tensor).shape as [number, number];
      expect(width).toBe(Math.max(...lengths.slice(row, row + size)));
      expect(size === 1 || size * width <= 24).toBe(true);
      row += size;
    }
    expect(chunks.length).toBeGreaterThan(2);
    tf.dispose(chunks as unknown as tf.TensorContainer);

    const loss = ([a, b]: tf.Tensor2D[]) => infoNCE(a as tf.Tensor2D, b as tf.Tensor2D, { temperature: 0.5 });
    const gradCache = new GradCache({ encoders: [q.encoder, d.encoder], chunkSize: 1, chunkInput: split, loss });
    const before = tf.memory().numTensors;
    const { loss: value, grads } = gradCache.computeGradients([queries, docs]);
    const ref = tf.variableGrads(
      () => loss([q.encoder.encode(queries, { training: true }), d.encoder.encode(docs, { training: true })]),
      gradCache.variables,
    );
    expectClose(value, ref.value, 1e-5, 'loss');
    expectGradsClose(grads, ref.grads, 1e-4);
    tf.dispose([value, grads, ref]);
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([queries, docs] as unknown as tf.TensorContainer);
    [q, d].forEach((e) => e.model.dispose());
  });

  test('refuses a batch without a mask, and a bad budget', () => {
    expect(() => tokenBudgetChunks({ maxTokens: 0 })).toThrowError(/maxTokens must be a positive integer, got 0/);
    const x = tf.ones([2, 3]);
    expect(() => tokenBudgetChunks({ maxTokens: 8 })(x)).toThrowError(/must be a record with a \[rows, length\] 'attentionMask'/);
    x.dispose();
  });
});
