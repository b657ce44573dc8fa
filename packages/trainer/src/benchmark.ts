import * as tf from '@tensorflow/tfjs-core';
import { type Batch, type Encoder, GradCache, type LossFunction, measureMemory } from '@gradcache/core';
import { batchSize, sliceBatch } from '@gradcache/core/internal';
import { check, checkInteger } from './errors.js';
import { accumulatedGradients, encoderVariables, fullBatchGradients, STRATEGIES, type Strategy } from './strategies.js';

/** Options of benchmark. */
export interface BenchmarkOptions<E = unknown> {
  encoders: readonly Encoder[];
  loss: LossFunction<E>;
  /** One batch per encoder with at least max(batchSizes) rows; smaller batches are its first rows. */
  inputs: readonly Batch[];
  chunkSizes: readonly number[];
  /** Default: the inputs' row count. */
  batchSizes?: readonly number[];
  /** What to measure, each case one batch's gradients (no optimizer update). Default full, cached and accumulate. */
  strategies?: readonly Strategy[];
  /** Timed rounds per case, cases interleaved within a round; the median is reported. Default 5. */
  rounds?: number;
  /** Called after each measured case (for progress). */
  onCase?: (row: BenchmarkRow) => void;
}

/** One measured case. */
export interface BenchmarkRow {
  strategy: Strategy;
  /** Rows per batch (for 'small', the rows of the batch the chunk-sized steps would cover). */
  batchSize: number;
  /** null for the full batch; for 'small', the rows of its one plain step. */
  chunkSize: number | null;
  /** Median step time over the rounds. */
  ms: number;
  /** Peak tensor bytes of one step above what was live before it. */
  peakBytes: number;
  msPerRow: number;
  /** ms ÷ the full-batch step's at the same batch size (null when that did not run). */
  timeRatio: number | null;
  memoryRatio: number | null;
  /** Set when the case failed (e.g. out of memory): its message. */
  error?: string;
}

/** Waits for a step's work to finish (its loss read back), then frees what it returned. */
async function settle(
  step: { loss: tf.Scalar; grads: tf.NamedTensorMap } | Promise<{ loss: tf.Scalar; grads: tf.NamedTensorMap }>,
): Promise<void> {
  const { loss, grads } = await step;
  try {
    await loss.data();
  } finally {
    tf.dispose([loss, grads]);
  }
}

const median = (xs: readonly number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
};

/**
 * Measures the speed/memory trade-off on your encoders and loss: for each batch size, the plain
 * full-batch gradient, GradCache and naive accumulation at each chunk size — median time over
 * interleaved rounds (these machines are noisy: ratios in one run matter, not milliseconds) and
 * the peak tensor memory of one step. A case that throws (out of memory) is reported with its error.
 * Each timed step ends when its loss has been read back with `await data()`, so on a GPU backend the
 * time is the GPU's, not how long queueing the work took — and nothing reads synchronously (WebGPU).
 *
 * ```ts
 * const rows = await benchmark({ encoders: [queryEncoder, docEncoder], loss, inputs: [queries, docs], chunkSizes: [16, 64] });
 * console.log(benchmarkTable(rows));
 * ```
 */
export async function benchmark<E>(options: BenchmarkOptions<E>): Promise<BenchmarkRow[]> {
  const { encoders, loss, inputs, chunkSizes, strategies = ['full', 'cached', 'accumulate'], rounds = 5 } = options;
  check(inputs.length === encoders.length, 'INVALID_OPTION', () => `benchmark: ${encoders.length} encoders but ${inputs.length} inputs.`);
  const available = Math.min(...inputs.map((b, i) => batchSize(b, 'benchmark', `inputs[${i}]`)));
  const batchSizes = options.batchSizes ?? [available];
  for (const b of batchSizes) checkInteger('benchmark', 'batchSizes[]', b, 1);
  for (const c of chunkSizes) checkInteger('benchmark', 'chunkSizes[]', c, 1);
  checkInteger('benchmark', 'rounds', rounds, 1);
  for (const s of strategies)
    check(
      STRATEGIES.includes(s),
      'INVALID_OPTION',
      () => `benchmark: strategies must be among ${STRATEGIES.join(', ')}, got ${String(s)}.`,
    );
  check(
    batchSizes.every((b) => b <= available),
    'INVALID_OPTION',
    () => `benchmark: batch sizes up to ${Math.max(...batchSizes)} need inputs of that many rows; they have ${available}.`,
  );
  const variables = encoderVariables(encoders);
  const rows: BenchmarkRow[] = [];
  for (const batchSize of batchSizes) {
    const batch = inputs.map((b) => sliceBatch(b, { begin: 0, size: batchSize }));
    const chunkBatches: Batch[] = [];
    const cases: { strategy: Strategy; chunkSize: number | null; run: () => Promise<void> }[] = [];
    if (strategies.includes('full'))
      cases.push({ strategy: 'full', chunkSize: null, run: () => settle(fullBatchGradients(encoders, loss, variables, batch)) });
    for (const chunkSize of chunkSizes) {
      if (strategies.includes('cached')) {
        const gradCache = new GradCache({ encoders, chunkSize, loss });
        cases.push({ strategy: 'cached', chunkSize, run: () => settle(gradCache.computeGradientsAsync(batch)) });
      }
      if (strategies.includes('accumulate')) {
        cases.push({
          strategy: 'accumulate',
          chunkSize,
          run: () => settle(accumulatedGradients(encoders, loss, variables, batch, chunkSize)),
        });
      }
      if (strategies.includes('small')) {
        const small = batch.map((b) => sliceBatch(b, { begin: 0, size: Math.min(chunkSize, batchSize) }));
        cases.push({ strategy: 'small', chunkSize, run: () => settle(fullBatchGradients(encoders, loss, variables, small)) });
        chunkBatches.push(...small);
      }
    }
    const times = cases.map((): number[] => []);
    const peaks = cases.map(() => 0);
    const errors = cases.map((): string | undefined => undefined);
    for (const [k, c] of cases.entries()) {
      try {
        peaks[k] = (await measureMemory(c.run)).peakBytes; // also the warm-up
      } catch (error) {
        errors[k] = (error as Error).message;
      }
    }
    for (let round = 0; round < rounds; round++) {
      for (const [k, c] of cases.entries()) {
        if (errors[k] !== undefined) continue;
        const start = performance.now();
        await c.run();
        times[k]?.push(performance.now() - start);
      }
    }
    const full = cases.findIndex((c, k) => c.strategy === 'full' && errors[k] === undefined);
    cases.forEach((c, k) => {
      const ms = errors[k] === undefined ? median(times[k] as number[]) : Number.NaN;
      const fullMs = full < 0 ? undefined : median(times[full] as number[]);
      const row: BenchmarkRow = {
        strategy: c.strategy,
        batchSize,
        chunkSize: c.chunkSize,
        ms,
        peakBytes: peaks[k] as number,
        msPerRow: ms / batchSize,
        timeRatio: fullMs === undefined ? null : ms / fullMs,
        memoryRatio: full < 0 ? null : (peaks[k] as number) / (peaks[full] as number),
        ...(errors[k] === undefined ? {} : { error: errors[k] as string }),
      };
      rows.push(row);
      options.onCase?.(row);
    });
    tf.dispose([batch, chunkBatches] as tf.TensorContainer);
  }
  return rows;
}

const mib = (bytes: number): string => `${(bytes / 2 ** 20).toFixed(1)} MiB`;

/** The rows as a markdown table. */
export function benchmarkTable(rows: readonly BenchmarkRow[]): string {
  const name = (r: BenchmarkRow): string =>
    r.strategy === 'full'
      ? 'full batch'
      : `${r.strategy === 'cached' ? 'cached' : r.strategy === 'small' ? `small batch (one step of ${r.chunkSize} rows)` : 'naive accumulation'}${r.strategy === 'small' ? '' : `, chunk ${r.chunkSize}`}`;
  const ratio = (x: number | null): string => (x === null ? '–' : `${x.toFixed(2)}×`);
  return [
    '| B | step | median time | time ÷ full | ms / row | peak tensor memory | memory ÷ full |',
    '|---|---|---|---|---|---|---|',
    ...rows.map((r) =>
      r.error === undefined
        ? `| ${r.batchSize} | ${name(r)} | ${r.ms.toFixed(1)} ms | ${ratio(r.timeRatio)} | ${r.msPerRow.toFixed(3)} | ${mib(r.peakBytes)} | ${ratio(r.memoryRatio)} |`
        : `| ${r.batchSize} | ${name(r)} | failed: ${r.error.split('\n')[0]?.slice(0, 80)} | | | | |`,
    ),
  ].join('\n');
}
