import * as tf from '@tensorflow/tfjs-core';
import { check, checkInteger } from './errors.js';

/** NFKC, lower case, `_` as a space, whitespace collapsed and trimmed: how every WordNet text is compared. */
export function normalizeText(text: string): string {
  return text.normalize('NFKC').toLowerCase().replace(/_/g, ' ').replace(/\s+/g, ' ').trim();
}

/** 32-bit FNV-1a over UTF-16 code units: the same bucket for a string on every platform. */
export function fnv1a(text: string, basis = 0x811c9dc5): number {
  let hash = basis >>> 0;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash;
}

/** Options of hashedNgrams. */
export interface HashedNgramOptions {
  /** Hash buckets; ids are 1…buckets−1 (0 is padding). Default 2¹⁵. Give the embedding encoder the same number as its `vocabSize` (a larger id is out of its table). */
  buckets?: number;
  /** Features per text, the rest dropped (words first, then n-grams in text order). Default 64. */
  maxLength?: number;
  /** Character n-gram sizes, taken over each word in `<word>` boundary marks. Default [3]. */
  ngrams?: readonly number[];
}

/** The hashed features of one text: its words, then the character n-grams of each word. */
export function ngramFeatures(text: string, ngrams: readonly number[] = [3]): string[] {
  const words = normalizeText(text).match(/[\p{L}\p{N}]+/gu) ?? [];
  const features = words.map((w) => `w:${w}`);
  for (const word of words) {
    const marked = `<${word}>`;
    for (const n of ngrams) {
      for (let i = 0; i + n <= marked.length; i++) features.push(`c:${marked.slice(i, i + n)}`);
    }
  }
  return features;
}

/**
 * Texts as bags of hashed word and character n-gram ids (fastText's features), padded to the longest
 * text of the batch (at most `maxLength`): the `{ inputIds, attentionMask }` record that
 * `embeddingBagEncoder` and `textEncoder` take. The caller owns both tensors.
 *
 * ```ts
 * const batch = hashedNgrams(['a domestic cat', 'feline'], { buckets: 1 << 15 });
 * ```
 */
export function hashedNgrams(
  texts: readonly string[],
  options: HashedNgramOptions = {},
): { inputIds: tf.Tensor2D; attentionMask: tf.Tensor2D } {
  const { buckets = 1 << 15, maxLength = 64, ngrams = [3] } = options;
  checkInteger('hashedNgrams', 'buckets', buckets, 2);
  checkInteger('hashedNgrams', 'maxLength', maxLength, 1);
  check(
    ngrams.every((n) => Number.isInteger(n) && n > 0),
    'INVALID_OPTION',
    () => `hashedNgrams: ngrams must be positive integers, got [${ngrams.join(', ')}].`,
  );
  check(
    texts.length > 0 && texts.every((t) => typeof t === 'string'),
    'INVALID_DATA',
    () => `hashedNgrams: texts must be a non-empty array of strings, got ${texts.length === 0 ? 'an empty array' : 'a non-string'}.`,
  );
  const rows = texts.map((t) =>
    ngramFeatures(t, ngrams)
      .slice(0, maxLength)
      .map((f) => 1 + (fnv1a(f) % (buckets - 1))),
  );
  const width = Math.max(1, ...rows.map((r) => r.length));
  const ids = new Int32Array(texts.length * width);
  const mask = new Float32Array(texts.length * width);
  rows.forEach((row, i) => {
    ids.set(row, i * width);
    mask.fill(1, i * width, i * width + row.length);
  });
  return { inputIds: tf.tensor2d(ids, [texts.length, width], 'int32'), attentionMask: tf.tensor2d(mask, [texts.length, width]) };
}
