import MiniSearch from 'minisearch';
import type { RetrievalMetrics } from '@gradcache/trainer';
import { check } from './errors.js';

/**
 * The lexical baseline a trained retriever has to beat: ranks every document for every query by
 * BM25 (MiniSearch's BM25+ — words lower-cased, no stemming) and scores the ranking with
 * retrievalMetrics' rules. `relevant[i]` is query i's document; ties count against the query, and a
 * document that shares no word with the query (score 0) ranks after every one that does, tied with
 * the rest — so a query with no word in common with its document gets rank `documents.length`.
 *
 * ```ts
 * const metrics = bm25Retrieval(['a small cat'], ['dog', 'cat, true cat'], [1]); // recall[1] === 1
 * ```
 */
export function bm25Retrieval(
  queries: readonly string[],
  documents: readonly string[],
  relevant: readonly number[],
  options: { ks?: readonly number[] } = {},
): RetrievalMetrics {
  const { ks = [1, 5, 10] } = options;
  const m = documents.length;
  check(queries.length > 0 && m > 0, 'INVALID_OPTION', () => `bm25Retrieval: needs queries and documents, got ${queries.length} and ${m}.`);
  check(
    relevant.length === queries.length && relevant.every((j) => Number.isInteger(j) && j >= 0 && j < m),
    'INVALID_OPTION',
    () => `bm25Retrieval: relevant needs one document index in [0, ${m}) per query (${queries.length}), got ${relevant.length} entries.`,
  );
  const index = new MiniSearch<{ id: number; text: string }>({ fields: ['text'] });
  index.addAll(documents.map((text, id) => ({ id, text })));
  const recall: Record<number, number> = Object.fromEntries(ks.map((k) => [k, 0]));
  let mrr = 0;
  let ndcg10 = 0;
  queries.forEach((query, i) => {
    const results = index.search(query);
    const own = results.find((r) => r.id === relevant[i])?.score ?? 0;
    // 1 + the documents scored higher + the others scored the same (a score of 0: every unmatched one).
    const rank = own > 0 ? results.filter((r) => r.score >= own).length : m;
    for (const k of ks) if (rank <= k) recall[k] = (recall[k] as number) + 1;
    mrr += 1 / rank;
    if (rank <= 10) ndcg10 += 1 / Math.log2(rank + 1);
  });
  const n = queries.length;
  for (const k of ks) recall[k] = (recall[k] as number) / n;
  return { recall, mrr: mrr / n, ndcg10: ndcg10 / n, queries: n, documents: m };
}
