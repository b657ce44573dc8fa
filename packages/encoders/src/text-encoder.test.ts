import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, test } from 'vitest';
import { expectClose, expectNoLeaks, useBackend } from '@gradcache/testing';
import { textEncoder } from './text-encoder.js';
import { WordPieceTokenizer } from './tokenizer.js';

beforeAll(() => useBackend('cpu'));

const corpus = ['the cat sat on the mat', 'a dog chased the cat', 'the quick brown fox jumps over the lazy dog', 'cats and dogs and foxes'];

describe('textEncoder', () => {
  const tokenizer = WordPieceTokenizer.fromCorpus(corpus, { vocabSize: 80, minFrequency: 1 });

  test.each(['mean', 'cls'] as const)('padding tokens do not change a sequence’s rep (%s pooling)', (pooling) => {
    const { model, encoder } = textEncoder({ vocabSize: tokenizer.vocab.length, maxLength: 24, dim: 16, heads: 2, layers: 2, pooling });
    const short = tokenizer.encode(['the cat sat', 'a lazy fox'], { maxLength: 8 });
    const long = tokenizer.encode(['the cat sat', 'a lazy fox'], { maxLength: 20 });
    const a = encoder.encode(short, { training: false });
    const b = encoder.encode(long, { training: false });
    expect(a.shape).toEqual([2, 16]);
    expectClose(b, a, 1e-5, 'rep with more padding');
    // Changing a padded position's id changes nothing either; changing a real token does.
    const ids = long.inputIds.arraySync();
    ids[0]![15] = 5;
    const junk = { inputIds: tf.tensor2d(ids, [2, 20], 'int32'), attentionMask: long.attentionMask };
    expectClose(encoder.encode(junk, { training: false }), a, 1e-5, 'rep with other ids under the padding');
    ids[0]![1] = 5;
    const changed = { inputIds: tf.tensor2d(ids, [2, 20], 'int32'), attentionMask: long.attentionMask };
    expect(() => expectClose(encoder.encode(changed, { training: false }), a, 1e-3)).toThrow();
    tf.dispose([short, long, a, b, junk.inputIds, changed.inputIds]);
    model.dispose();
  });

  test('applies dropout only in training, and leaks nothing', () => {
    const { model, encoder } = textEncoder({ vocabSize: tokenizer.vocab.length, maxLength: 16, dim: 8, heads: 2, layers: 1, dropout: 0.5 });
    const batch = tokenizer.encode(corpus, { maxLength: 16 });
    expectNoLeaks(() => {
      const [a, b, c] = [
        encoder.encode(batch, { training: false }),
        encoder.encode(batch, { training: false }),
        encoder.encode(batch, { training: true }),
      ];
      expect(Array.from(b.dataSync())).toEqual(Array.from(a.dataSync()));
      expect(Array.from(c.dataSync())).not.toEqual(Array.from(a.dataSync()));
      tf.dispose([a, b, c]);
    }, 'encode');
    tf.dispose(batch);
    model.dispose();
  });

  test('refuses a width that heads do not divide', () => {
    expect(() => textEncoder({ vocabSize: 10, maxLength: 8, dim: 10, heads: 4 })).toThrow(/dim \(10\) must be a multiple of heads \(4\)/);
  });
});
