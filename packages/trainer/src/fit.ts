import * as tf from '@tensorflow/tfjs-core';
import { type Batch, type Encoder, type LossFunction, measureMemory } from '@gradcache/core';
import { batchCount, epochBatches } from '@gradcache/data';
import { check, checkInteger } from './errors.js';
import type { LearningRateSchedule } from './schedule.js';
import { localStepper, poolStepper } from './steppers.js';
import type { Strategy } from './strategies.js';

/**
 * The training set, as fit sees it: how many rows an epoch has, and the inputs of any rows.
 *
 * ```ts
 * const data: TrainingData = {
 *   size: queries.shape[0],
 *   batch: (indices) => [tf.gather(queries, indices), tf.gather(docs, indices)], // one Batch per encoder
 * };
 * ```
 */
export interface TrainingData<E = unknown> {
  /** Rows in one epoch. Each epoch takes ⌊size / batch⌋ batches in a seeded order; the rows left over go unseen that epoch (a different remainder each epoch). */
  size: number;
  /** The inputs of the rows at `indices`, one Batch per encoder (or a promise of them: rows read from disk). fit frees them after the step. */
  batch(indices: readonly number[], epoch: number): Batch[] | Promise<Batch[]>;
  /** What the loss gets as `extra` for these rows (labels, ids for false-negative masking), if anything. Called after `batch`. */
  extra?(indices: readonly number[], epoch: number): E | undefined;
}

/** Where a run is: the next step, and the epoch and batch it will take. */
export interface Position {
  epoch: number;
  batch: number;
  step: number;
}

/** What fit reports after each step. */
export interface StepLog {
  /** The step just taken, 1-based: the optimizer has taken this many steps. */
  step: number;
  totalSteps: number;
  epoch: number;
  /** The batch just taken, 1-based, of `batchesPerEpoch`. */
  batch: number;
  batchesPerEpoch: number;
  loss: number;
  learningRate: number;
  /** The global gradient norm before clipping. */
  gradNorm: number;
  rows: number;
  ms: number;
  /** Bytes of live tensors after the step. */
  tensorBytes: number;
  /** The step's peak tensor bytes above what was live before it (batch, gradients, optimizer update). */
  peakBytes: number;
  /** The peak while computing the gradients alone — what the strategy changes (the optimizer update is the same for all). */
  gradientPeakBytes: number;
}

/** Hooks fit awaits between steps. */
export interface FitCallbacks {
  onStep?(log: StepLog, position: Position): void | Promise<void>;
  onEpochEnd?(epoch: number, position: Position): void | Promise<void>;
  /** After each evaluation (`FitOptions.evaluation`): its metrics and where the run is. */
  onEvaluation?(metrics: Record<string, number>, position: Position): void | Promise<void>;
  /** With `outOfMemory: 'shrink'`: a step ran out of memory and is about to be retried with smaller chunks. */
  onOutOfMemory?(event: OutOfMemoryEvent, position: Position): void | Promise<void>;
  /** With a pool and `workerExit: 'restart'`: a worker died during a step; `replaced` workers were restarted and the step is about to be retried. */
  onRestart?(event: { step: number; replaced: number; error: Error }, position: Position): void | Promise<void>;
}

/** A step that ran out of memory, and what its retry uses. */
export interface OutOfMemoryEvent {
  /** The step being retried, 1-based (as StepLog's). */
  step: number;
  /** The chunk sizes (per encoder) that ran out. */
  chunkSize: readonly number[];
  /** The retry's chunk size, or with chunkSize 'auto' its memory budget (the chunks are measured again). */
  retry: { chunkSize: number } | { memoryBudget: number };
  error: Error;
}

/** Evaluation while training: `evaluate` runs every `everySteps` steps and after the last step. */
export interface Evaluation {
  everySteps: number;
  evaluate(position: Position): Promise<Record<string, number>>;
}

/** What every run of fit takes: the data, the batches, the budget and the hooks. */
export interface RunOptions<E = unknown> {
  data: TrainingData<E>;
  /** Rows per optimizer step for `'full'`, `'cached'` and `'accumulate'` (and with a pool). */
  batchSize: number;
  epochs: number;
  /** Seeds the batch order (and dropout, except with a pool: its own `seed` does). Default 0. */
  seed?: number;
  /** Sets the optimizer's learning rate before each step, from the step and the run's total steps. Default: left as it is. */
  learningRate?: LearningRateSchedule;
  callbacks?: readonly FitCallbacks[];
  /** Resume here (from a checkpoint). Default the start. */
  start?: Position;
  /** Stops the run after the current step (the result's position says where, to resume). */
  signal?: AbortSignal;
  /** Evaluate while training (a held-out set): every `everySteps` steps and at the end; results to `onEvaluation` and in the result. */
  evaluation?: Evaluation;
}

/**
 * Workers that compute and apply whole steps themselves — a `ParallelGradCache` from
 * `@gradcache/parallel/node` (fit drives it instead of a GradCache on this thread).
 */
export interface Pool<E = unknown> {
  /** The index the next batch gets (random replay's seed); fit sets it to the step before each one. */
  batchIndex: number;
  /** One step on one batch: the loss and gradient norm, the update applied in every replica, or nothing applied anywhere. */
  step(inputs: readonly Batch[], extra?: E): Promise<{ loss: number; gradNorm: number }>;
  /** Sets every replica's optimizer's learning rate. */
  setLearningRate(rate: number): Promise<void>;
  /** Replaces dead workers by copies of a live replica; resolves to how many were replaced. */
  restart(): Promise<number>;
}

/** Options of fit over a pool of workers: the pool holds the encoders, loss, optimizer, chunk size and clipping. */
export interface PoolFitOptions<E = unknown> extends RunOptions<E> {
  pool: Pool<E>;
  /**
   * When a worker dies during a step (`WORKER_EXITED`): `'throw'` (default), or `'restart'` —
   * `pool.restart()` and retry the same step with the same replay (a failed step applied nothing, so
   * the run is the one it would have been), at most 3 times for one step; each to `onRestart`.
   */
  workerExit?: 'throw' | 'restart';
}

/** Options of fit. */
export interface FitOptions<E = unknown> extends RunOptions<E> {
  encoders: readonly Encoder[];
  loss: LossFunction<E>;
  optimizer: tf.Optimizer;
  /**
   * Rows per chunk (`'cached'`, `'accumulate'`), and per step for `'small'`; `'cached'` also takes
   * `'auto'`: the largest chunks within `memoryBudget` (GradCache's chunkSize 'auto').
   */
  chunkSize: number | 'auto';
  /** With chunkSize 'auto': bytes of tensor memory a step may use (GradCache's memoryBudget). */
  memoryBudget?: number;
  /** Default `'cached'`. */
  strategy?: Strategy;
  /** Clip the gradients to this global L2 norm. */
  clipNorm?: number;
  /** Variables of the loss (a learnable temperature) for `'full'`, `'accumulate'` and `'small'`; `'cached'` finds them itself. */
  lossVariables?: readonly tf.Variable[];
  /**
   * When a step runs out of memory (`isOutOfMemory`): `'throw'` (default), or `'shrink'` — retry
   * the same step with half the chunk size (with chunkSize 'auto': half the memory budget, the
   * chunks measured again), until it fits or the chunks are one row; each retry goes to
   * `onOutOfMemory`. `'cached'` only: its gradient does not depend on the chunk size, so the run is
   * the one it would have been (a failed step changes nothing).
   */
  outOfMemory?: 'throw' | 'shrink';
  pool?: undefined;
}

/** What fit returns. */
export interface FitResult {
  history: StepLog[];
  /** Where the run stopped: resume from here. */
  position: Position;
  /** The variables trained, in the fixed order the optimizer saw them (none with a pool: they live in its workers). */
  variables: tf.Variable[];
  /** Rows left out of every epoch because they do not fill a batch (size mod batch). */
  rowsLeftOver: number;
  /** Each evaluation's metrics, with the step it followed. */
  evaluations: { step: number; metrics: Record<string, number> }[];
}

/**
 * Trains `encoders` on `data` for `epochs` with one strategy, the same batches in the same order for
 * every strategy (a function of the seed and epoch): the comparison GradCache's paper makes, on any
 * data. Deterministic for a seed, and resumable bit-identically from a `start` position with the
 * optimizer state and weights restored (see `saveCheckpoint` in `@gradcache/trainer/node`).
 * With `pool` (a `ParallelGradCache`), the workers take each step; the loop, schedule, evaluation
 * and positions are the same.
 *
 * ```ts
 * const { history } = await fit({ encoders: [queryEncoder, docEncoder], loss, optimizer: tf.train.adam(1e-3), data,
 *   batchSize: 1024, chunkSize: 64, epochs: 3 });
 * ```
 */
export async function fit<E>(options: FitOptions<E> | PoolFitOptions<E>): Promise<FitResult> {
  const { data, batchSize, epochs, seed = 0, evaluation } = options;
  checkInteger('fit', 'batchSize', batchSize, 1);
  check(
    evaluation === undefined ||
      (Number.isInteger(evaluation.everySteps) && evaluation.everySteps >= 1 && typeof evaluation.evaluate === 'function'),
    'INVALID_OPTION',
    () => 'fit: evaluation must be { everySteps: an integer ≥ 1, evaluate(position) => Promise<metrics> }.',
  );
  checkInteger('fit', 'epochs', epochs, 1);
  check(
    typeof data?.batch === 'function' && Number.isInteger(data.size),
    'INVALID_OPTION',
    () => 'fit: data must be { size, batch(indices, epoch) }.',
  );
  check(
    options.learningRate === undefined || typeof options.learningRate === 'function',
    'INVALID_OPTION',
    () =>
      `fit: learningRate must be a function (step, totalSteps) => rate, such as warmupCosine({ peak }), got ${String(options.learningRate)}.`,
  );
  const position: Position = { ...(options.start ?? { epoch: 0, batch: 0, step: 0 }) };
  const callbacks = options.callbacks ?? [];
  const stepper = options.pool === undefined ? localStepper(options, position, callbacks) : poolStepper(options, callbacks);
  const { rowsPerStep } = stepper;
  const batchesPerEpoch = batchCount(data.size, rowsPerStep);
  check(
    batchesPerEpoch > 0,
    'INVALID_OPTION',
    () => `fit: the data has ${data.size} rows, fewer than one batch of ${rowsPerStep}; lower batchSize.`,
  );
  const totalSteps = batchesPerEpoch * epochs;
  const history: StepLog[] = [];

  const stopped = (): boolean => options.signal?.aborted === true;
  const evaluations: FitResult['evaluations'] = [];
  const evaluate = async (): Promise<void> => {
    const metrics = await (evaluation as Evaluation).evaluate({ ...position });
    evaluations.push({ step: position.step, metrics });
    for (const c of callbacks) await c.onEvaluation?.(metrics, { ...position });
  };
  for (; position.epoch < epochs && !stopped(); position.epoch++, position.batch = 0) {
    const batches = epochBatches(data.size, { batchSize: rowsPerStep, seed, epoch: position.epoch });
    for (; position.batch < batchesPerEpoch && !stopped(); ) {
      const start = performance.now();
      const learningRate = options.learningRate?.(position.step, totalSteps);
      check(
        learningRate === undefined || (Number.isFinite(learningRate) && learningRate >= 0),
        'INVALID_OPTION',
        () => `fit: the learning rate schedule gave ${learningRate} at step ${position.step}; it must give a finite number ≥ 0.`,
      );
      if (learningRate !== undefined) await stepper.setLearningRate(learningRate);
      const attempt = () =>
        measureMemory(async () => {
          const indices = batches[position.batch] as number[];
          const inputs = await data.batch(indices, position.epoch);
          try {
            return await stepper.step(inputs, data.extra?.(indices, position.epoch), position);
          } finally {
            tf.dispose(inputs as tf.TensorContainer);
          }
        });
      let report: Awaited<ReturnType<typeof attempt>>;
      for (let tries = 1; ; tries++) {
        try {
          report = await attempt();
          break;
        } catch (error) {
          if (!(await stepper.recover(error, tries, position))) throw error;
        }
      }
      const { result: stepped, peakBytes } = report;
      position.batch++;
      position.step++;
      const log: StepLog = {
        step: position.step,
        totalSteps,
        epoch: position.epoch,
        batch: position.batch,
        batchesPerEpoch,
        loss: stepped.lossValue,
        learningRate: learningRate ?? (options.pool === undefined ? optimizerRate(options.optimizer) : Number.NaN),
        gradNorm: stepped.gradNorm,
        rows: rowsPerStep,
        ms: performance.now() - start,
        tensorBytes: tf.memory().numBytes,
        peakBytes,
        gradientPeakBytes: stepped.gradientPeakBytes,
      };
      history.push(log);
      for (const c of callbacks) await c.onStep?.(log, { ...position });
      if (evaluation !== undefined && position.step % evaluation.everySteps === 0) await evaluate();
    }
    if (position.batch < batchesPerEpoch) break; // stopped by the signal mid-epoch
    for (const c of callbacks) await c.onEpochEnd?.(position.epoch, { epoch: position.epoch + 1, batch: 0, step: position.step });
  }
  if (evaluation !== undefined && evaluations.at(-1)?.step !== position.step) await evaluate();
  return { history, position, variables: stepper.variables(), rowsLeftOver: data.size % rowsPerStep, evaluations };
}

/** The rate an optimizer holds (NaN when it keeps none readable). */
function optimizerRate(optimizer: tf.Optimizer): number {
  return (optimizer as unknown as { learningRate?: number }).learningRate ?? Number.NaN;
}
