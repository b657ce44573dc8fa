import * as tf from '@tensorflow/tfjs-core';
import type { Batch, Encoder } from '@gradcache/core';
import { fnv1a, type TrainingPair } from '@gradcache/data';
import type { PairsFile } from '@gradcache/data/node';
import { infoNCE, type PairIds, symmetricInfoNCE } from '@gradcache/losses';
import { encodeAll, type RetrievalMetrics, retrievalMetrics, type TrainingData } from '@gradcache/trainer';
import { check } from './errors.js';

/** A text encoder and the tokenizer that makes its batches: a `PretrainedModel`, or a saved tfjs model with a tokenizer. */
export interface TextModel {
  readonly encoder: Encoder;
  readonly tokenizer: { encode(texts: readonly string[]): Batch };
}

/** The losses a pairs task trains with. */
export const PAIR_LOSSES = ['infonce', 'symmetric'] as const;

/** Options of pairsTask. */
export interface PairsTaskOptions {
  /** The encoder, for queries and documents alike (sentence-transformers' bi-encoder). */
  model: TextModel;
  /** The training pairs (`openPairs`). */
  train: PairsFile;
  /**
   * `'infonce'` (default): each query against every document of the batch — its positive, the other
   * rows' positives and every hard negative (DPR, MultipleNegativesRankingLoss). `'symmetric'`: also
   * each document against every query (CLIP); no hard negatives.
   */
  loss?: (typeof PAIR_LOSSES)[number];
  /** Softmax temperature (sentence-transformers' scale 20 is τ = 0.05). Default 0.05. */
  temperature?: number;
}

/** A ready-to-train task on your pairs: GradCache's encoders, loss and data for `fit`. */
export interface PairsTask {
  encoders: [Encoder, Encoder];
  /** Takes the batch's text ids as `extra`: a document with the same text as a query's positive is not one of its negatives. */
  loss: (reps: tf.Tensor2D[], ids: PairIds | undefined) => tf.Scalar;
  train: TrainingData<PairIds>;
}

/** Each query's id is its positive's text; each document row's, its own text: equal texts are one document. */
function idsOf(pairs: readonly TrainingPair[]): PairIds {
  return {
    queries: pairs.map((p) => fnv1a(p.positive)),
    documents: pairs.flatMap((p) => [p.positive, ...p.negatives].map((t) => fnv1a(t))),
  };
}

/**
 * Fine-tuning on a pairs file: each batch reads its rows from disk, tokenizes the queries and the
 * documents (positive, then its hard negatives, per row — infoNCE's `hardNegatives` layout), and
 * masks false negatives by text: a duplicate of a query's positive elsewhere in the batch is not
 * counted against it. Padding is to the longest text of the batch; GradCache's chunks keep it.
 *
 * ```ts
 * const model = await loadPretrained('./all-MiniLM-L6-v2');
 * const task = pairsTask({ model, train: await openPairs('train.jsonl') });
 * await fit({ ...task, data: task.train, optimizer, batchSize: 256, chunkSize: 'auto', epochs: 1 });
 * ```
 */
export function pairsTask(options: PairsTaskOptions): PairsTask {
  const { model, train, loss = 'infonce', temperature = 0.05 } = options;
  check(
    (PAIR_LOSSES as readonly string[]).includes(loss),
    'INVALID_OPTION',
    () => `pairsTask: loss must be one of ${PAIR_LOSSES.join(', ')}, got ${String(loss)}.`,
  );
  check(
    Number.isFinite(temperature) && temperature > 0,
    'INVALID_OPTION',
    () => `pairsTask: temperature must be a positive number, got ${String(temperature)}.`,
  );
  const hardNegatives = train.negatives;
  check(
    loss === 'infonce' || hardNegatives === 0,
    'INVALID_OPTION',
    () => `pairsTask: ${train.path} has ${hardNegatives} hard negatives per row; the symmetric loss takes pairs only. Use loss 'infonce'.`,
  );
  /** The ids of the rows `batch` read last (fit calls `extra` right after `batch`). */
  let last: { key: string; ids: PairIds } | undefined;
  const keyOf = (indices: readonly number[]): string => indices.join(',');
  return {
    encoders: [model.encoder, model.encoder],
    loss: ([q, d], ids) =>
      loss === 'symmetric'
        ? symmetricInfoNCE(q as tf.Tensor2D, d as tf.Tensor2D, { temperature })
        : infoNCE(q as tf.Tensor2D, d as tf.Tensor2D, { temperature, hardNegatives, ...(ids === undefined ? {} : { ids }) }),
    train: {
      size: train.size,
      async batch(indices) {
        const pairs = await train.read(indices);
        last = { key: keyOf(indices), ids: idsOf(pairs) };
        const queries = model.tokenizer.encode(pairs.map((p) => p.query));
        const documents = model.tokenizer.encode(pairs.flatMap((p) => [p.positive, ...p.negatives]));
        return [queries, documents];
      },
      extra: (indices) => (loss === 'infonce' && last?.key === keyOf(indices) ? last.ids : undefined),
    },
  };
}

/**
 * An information-retrieval evaluation on held-out pairs, as sentence-transformers'
 * InformationRetrievalEvaluator: every distinct query against the corpus of every distinct positive
 * and negative text; a query's relevant documents are its positives. recall@1/10, MRR, nDCG@10.
 */
export async function evaluatePairs(
  model: TextModel,
  pairs: readonly TrainingPair[],
  options: { batchSize?: number } = {},
): Promise<RetrievalMetrics> {
  check(pairs.length > 0, 'INVALID_OPTION', () => 'evaluatePairs: no pairs to evaluate.');
  const { batchSize = 64 } = options;
  const corpus = new Map<string, number>();
  const queries = new Map<string, Set<number>>();
  for (const p of pairs) {
    for (const t of [p.positive, ...p.negatives]) if (!corpus.has(t)) corpus.set(t, corpus.size);
    const relevant = queries.get(p.query) ?? new Set<number>();
    relevant.add(corpus.get(p.positive) as number);
    queries.set(p.query, relevant);
  }
  const texts = [...corpus.keys()];
  const queryTexts = [...queries.keys()];
  const encode = (list: string[]) =>
    encodeAll(model.encoder, list.length, (idx) => model.tokenizer.encode(idx.map((i) => list[i] as string)), batchSize);
  const [q, d] = [encode(queryTexts), encode(texts)];
  try {
    return await retrievalMetrics(
      q,
      d,
      queryTexts.map((t) => [...(queries.get(t) as Set<number>)]),
      { ks: [1, 10] },
    );
  } finally {
    tf.dispose([q, d]);
  }
}
