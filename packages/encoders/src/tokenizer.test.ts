import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, test } from 'vitest';
import { useBackend } from '@gradcache/testing';
import { SPECIAL_TOKENS, WordPieceTokenizer } from './tokenizer.js';

beforeAll(() => useBackend('cpu'));

describe('WordPieceTokenizer', () => {
  const corpus = ['playing played plays player', 'playing again', 'the player plays', 'Hello, world!'];
  const tokenizer = WordPieceTokenizer.fromCorpus(corpus, { vocabSize: 40, minFrequency: 2 });

  test('starts its vocabulary with the special tokens and learns frequent pieces', () => {
    expect(tokenizer.vocab.slice(0, 4)).toEqual([...SPECIAL_TOKENS]);
    expect(tokenizer.vocab).toContain('play'); // "play" starts 6 of the 10 words: merged early
    expect(tokenizer.vocab.length).toBeLessThanOrEqual(40);
  });

  test('splits words greedily into the longest pieces, continuations marked ##', () => {
    expect(tokenizer.tokenize('playing')).toEqual(['playing']); // a whole word of the corpus, merged
    // An unseen word: its first piece is the longest vocabulary prefix, the rest continuations.
    const pieces = tokenizer.tokenize('players');
    const longestPrefix = [...'players']
      .map((_, k) => 'players'.slice(0, k + 1))
      .filter((p) => tokenizer.vocab.includes(p))
      .at(-1);
    expect(pieces[0]).toBe(longestPrefix);
    expect(pieces.slice(1).every((p) => p.startsWith('##'))).toBe(true);
    expect(pieces.map((p) => p.replace(/^##/, '')).join('')).toBe('players');
    // Lower-cased, punctuation split off: the same pieces as the spaced-out lower-case text.
    expect(tokenizer.tokenize('Hello, WORLD!')).toEqual(tokenizer.tokenize('hello , world !'));
    expect(tokenizer.tokenize('Hello, WORLD!')).toContain(',');
  });

  test('round-trips text through ids, and maps unknown words to [UNK]', () => {
    expect(tokenizer.decode(tokenizer.encodeIds('the player plays'))).toBe('the player plays');
    const ids = tokenizer.encodeIds('the zebra plays');
    expect(ids[0]).toBe(2); // [CLS]
    expect(ids.at(-1)).toBe(3); // [SEP]
    expect(ids).toContain(1); // "zebra": no "z" in the corpus → [UNK]
    expect(tokenizer.decode(ids)).toBe('the [UNK] plays');
  });

  test('pads and truncates to maxLength, with a mask of the real tokens', () => {
    const { inputIds, attentionMask } = tokenizer.encode(['the player', 'playing played plays player playing played'], { maxLength: 6 });
    expect(inputIds.dtype).toBe('int32');
    const ids = inputIds.arraySync();
    expect(ids[0]).toEqual([
      2,
      ...tokenizer.encodeIds('the player').slice(1),
      ...Array(6 - tokenizer.encodeIds('the player').length).fill(0),
    ]);
    expect(ids[1]!.at(-1)).toBe(3); // truncated, still ends with [SEP]
    expect(attentionMask.arraySync()[0]).toEqual(ids[0]!.map((id) => (id === 0 ? 0 : 1)));
    tf.dispose([inputIds, attentionMask]);
  });

  test('refuses a vocabulary without the special tokens and a maxLength without room for them', () => {
    expect(() => new WordPieceTokenizer(['a', 'b'])).toThrow(/must start with \[PAD\], \[UNK\], \[CLS\], \[SEP\]/);
    expect(() => tokenizer.encode('x', { maxLength: 1 })).toThrow(/maxLength must be an integer ≥ 2/);
  });
});
