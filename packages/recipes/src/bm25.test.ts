import { describe, expect, test } from 'vitest';
import { bm25Retrieval } from './bm25.js';
import type { RecipeError } from './errors.js';

describe('bm25Retrieval', () => {
  test('ranks by shared words; a query with no word in common with its document ranks last', () => {
    const metrics = bm25Retrieval(['a small cat', 'the dog barks', 'zebra crossing'], ['dog', 'cat, true cat', 'bird'], [1, 0, 2], {
      ks: [1, 2],
    });
    // Ranks 1, 1 and 3 (of 3 documents).
    expect(metrics.recall).toEqual({ 1: 2 / 3, 2: 2 / 3 });
    expect(metrics.mrr).toBeCloseTo((1 + 1 + 1 / 3) / 3, 12);
    expect(metrics.ndcg10).toBeCloseTo((1 + 1 + 1 / Math.log2(4)) / 3, 12);
    expect([metrics.queries, metrics.documents]).toEqual([3, 3]);
  });

  test('ties count against the query, as in retrievalMetrics; a rarer shared word outranks a common one', () => {
    const tied = bm25Retrieval(['cat'], ['cat', 'cat', 'dog'], [1]);
    expect(tied.recall[1]).toBe(0);
    expect(tied.mrr).toBe(1 / 2);
    // One word of the query each, the same length: "mammal" is in two documents, "feline" in one — the rarer word wins.
    expect(bm25Retrieval(['feline mammal'], ['mammal', 'feline', 'mammal pet'], [1]).recall[1]).toBe(1);
    expect(bm25Retrieval(['feline mammal'], ['mammal', 'feline', 'mammal pet'], [0]).mrr).toBe(1 / 2);
  });

  test('refuses a relevant list that does not fit', () => {
    const refused = (f: () => unknown) => {
      try {
        f();
      } catch (error) {
        return [(error as RecipeError).name, (error as RecipeError).code, (error as Error).message];
      }
      return undefined;
    };
    expect(refused(() => bm25Retrieval(['a'], ['a', 'b'], [2]))?.slice(0, 2)).toEqual(['RecipeError', 'INVALID_OPTION']);
    expect(refused(() => bm25Retrieval(['a', 'b'], ['a'], [0]))?.[2]).toMatch(/^bm25Retrieval: relevant needs one document index/);
    expect(refused(() => bm25Retrieval([], ['a'], []))?.[2]).toMatch(/^bm25Retrieval: needs queries and documents/);
  });
});
