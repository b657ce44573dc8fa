import * as tf from '@tensorflow/tfjs-core';
import {
  type Batch,
  type Encoder,
  GradCache,
  type GradCacheResult,
  isOutOfMemory,
  type LossFunction,
  measureMemory,
} from '@gradcache/core';
import { applyInOrder, batchChecks, defaultMemoryBudget, readChecks } from '@gradcache/core/internal';
import { batchCount, epochBatches } from '@gradcache/data';
import { check, checkInteger } from './errors.js';
import type { LearningRateSchedule } from './schedule.js';
import { accumulatedGradients, encoderVariables, fullBatchGradients, STRATEGIES, type Strategy } from './strategies.js';

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

/** Options of fit. */
export interface FitOptions<E = unknown> {
  encoders: readonly Encoder[];
  loss: LossFunction<E>;
  optimizer: tf.Optimizer;
  data: TrainingData<E>;
  /** Rows per optimizer step for `'full'`, `'cached'` and `'accumulate'`. */
  batchSize: number;
  /**
   * Rows per chunk (`'cached'`, `'accumulate'`), and per step for `'small'`; `'cached'` also takes
   * `'auto'`: the largest chunks within `memoryBudget` (GradCache's chunkSize 'auto').
   */
  chunkSize: number | 'auto';
  /** With chunkSize 'auto': bytes of tensor memory a step may use (GradCache's memoryBudget). */
  memoryBudget?: number;
  /** Default `'cached'`. */
  strategy?: Strategy;
  epochs: number;
  /** Seeds the batch order and dropout. Default 0. */
  seed?: number;
  /** Sets the optimizer's learning rate before each step, from the step and the run's total steps. Default: left as it is. */
  learningRate?: LearningRateSchedule;
  /** Clip the gradients to this global L2 norm. */
  clipNorm?: number;
  /** Variables of the loss (a learnable temperature) for `'full'`, `'accumulate'` and `'small'`; `'cached'` finds them itself. */
  lossVariables?: readonly tf.Variable[];
  callbacks?: readonly FitCallbacks[];
  /** Resume here (from a checkpoint). Default the start. */
  start?: Position;
  /** Stops the run after the current step (the result's position says where, to resume). */
  signal?: AbortSignal;
  /** Evaluate while training (a held-out set): every `everySteps` steps and at the end; results to `onEvaluation` and in the result. */
  evaluation?: Evaluation;
  /**
   * When a step runs out of memory (`isOutOfMemory`): `'throw'` (default), or `'shrink'` — retry
   * the same step with half the chunk size (with chunkSize 'auto': half the memory budget, the
   * chunks measured again), until it fits or the chunks are one row; each retry goes to
   * `onOutOfMemory`. `'cached'` only: its gradient does not depend on the chunk size, so the run is
   * the one it would have been (a failed step changes nothing).
   */
  outOfMemory?: 'throw' | 'shrink';
}

/**
 * Sets an optimizer's learning rate. SGD and momentum keep −rate as a tensor (`setLearningRate`
 * replaces it: assigning the field alone changed nothing); Adam, RMSProp and the rest read the field.
 */
export function setLearningRate(optimizer: tf.Optimizer, rate: number): void {
  const o = optimizer as unknown as { learningRate: number; setLearningRate?: (rate: number) => void };
  if (typeof o.setLearningRate === 'function') o.setLearningRate(rate);
  else o.learningRate = rate;
}

/** What fit returns. */
export interface FitResult {
  history: StepLog[];
  /** Where the run stopped: resume from here. */
  position: Position;
  /** The variables trained, in the fixed order the optimizer saw them. */
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
 *
 * ```ts
 * const { history } = await fit({ encoders: [queryEncoder, docEncoder], loss, optimizer: tf.train.adam(1e-3), data,
 *   batchSize: 1024, chunkSize: 64, epochs: 3 });
 * ```
 */
export async function fit<E>(options: FitOptions<E>): Promise<FitResult> {
  const { encoders, loss, optimizer, data, batchSize, chunkSize, strategy = 'cached', epochs, seed = 0, clipNorm } = options;
  check(
    STRATEGIES.includes(strategy),
    'INVALID_OPTION',
    () => `fit: strategy must be one of ${STRATEGIES.join(', ')}, got ${String(strategy)}.`,
  );
  checkInteger('fit', 'batchSize', batchSize, 1);
  check(
    (chunkSize === 'auto' && strategy === 'cached') || (Number.isInteger(chunkSize) && (chunkSize as number) >= 1),
    'INVALID_OPTION',
    () =>
      `fit: chunkSize must be an integer ≥ 1${strategy === 'cached' ? " or 'auto'" : ` ('auto' is for the cached strategy)`}, got ${String(chunkSize)}.`,
  );
  const { evaluation } = options;
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
  check(
    clipNorm === undefined || (Number.isFinite(clipNorm) && clipNorm > 0),
    'INVALID_OPTION',
    () => `fit: clipNorm must be a positive number, got ${String(clipNorm)}.`,
  );
  const rowsPerStep = strategy === 'small' ? (chunkSize as number) : batchSize;
  const batchesPerEpoch = batchCount(data.size, rowsPerStep);
  check(
    batchesPerEpoch > 0,
    'INVALID_OPTION',
    () => `fit: the data has ${data.size} rows, fewer than one batch of ${rowsPerStep}; lower batchSize.`,
  );
  const totalSteps = batchesPerEpoch * epochs;
  const { memoryBudget, outOfMemory = 'throw' } = options;
  check(
    outOfMemory === 'throw' || (outOfMemory === 'shrink' && strategy === 'cached'),
    'INVALID_OPTION',
    () =>
      `fit: outOfMemory must be 'throw' or 'shrink' ('shrink' for the cached strategy only: the others' results depend on the chunk size), got ${String(outOfMemory)} with ${strategy}.`,
  );
  const position: Position = { ...(options.start ?? { epoch: 0, batch: 0, step: 0 }) };
  const makeGradCache = (size: number | 'auto', budget: number | undefined): GradCache<E> => {
    const made = new GradCache({ encoders, chunkSize: size, loss, seed, ...(budget === undefined ? {} : { memoryBudget: budget }) });
    made.batchIndex = position.step;
    return made;
  };
  let gradCache = strategy === 'cached' ? makeGradCache(chunkSize, memoryBudget) : undefined;
  const history: StepLog[] = [];
  let variables = gradCache?.variables ?? [...encoderVariables(encoders), ...(options.lossVariables ?? [])];
  const callbacks = options.callbacks ?? [];

  /** One batch's gradients by the strategy, with the loss, norm and finiteness read (asynchronously). */
  const gradients = async (inputs: Batch[], batchIndex: number, extra: E | undefined): Promise<GradCacheResult> => {
    if (gradCache !== undefined) {
      const result = await gradCache.computeGradientsAsync(inputs, extra);
      variables = gradCache.variables;
      return result;
    }
    const passed = extra === undefined ? {} : { extra };
    const { loss: value, grads } =
      strategy === 'accumulate'
        ? accumulatedGradients(encoders, loss, variables, inputs, chunkSize as number, { seed, batchIndex, ...passed })
        : fullBatchGradients(encoders, loss, variables, inputs, { seed, batchIndex, ...passed });
    // The same checks GradCache reads with its gradients, in one read.
    const checks = batchChecks(value, [], grads);
    try {
      const names = Object.keys(grads);
      const { gradNorm, nonFinite } = readChecks(await checks.data(), [], names, false, []);
      return { loss: value, grads, gradNorm, nonFinite };
    } catch (error) {
      tf.dispose([value, grads]);
      throw error;
    } finally {
      checks.dispose();
    }
  };

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
      if (learningRate !== undefined) setLearningRate(optimizer, learningRate);
      const attempt = () =>
        measureMemory(async () => {
          const indices = batches[position.batch] as number[];
          const inputs = await data.batch(indices, position.epoch);
          try {
            const extra = data.extra?.(indices, position.epoch);
            const { result, peakBytes: gradientPeakBytes } = await measureMemory(() => gradients(inputs, position.step, extra));
            const { loss: value, grads, gradNorm, nonFinite } = result;
            try {
              const lossValue = (await value.data())[0] as number;
              const clip = clipNorm === undefined ? {} : { clipNorm };
              applyInOrder(optimizer, variables, grads, {
                nonFinite,
                gradNorm,
                ...clip,
                loss: lossValue,
                caller: `fit (step ${position.step})`,
              });
              return { lossValue, gradientPeakBytes, gradNorm };
            } finally {
              tf.dispose([value, grads]);
            }
          } finally {
            tf.dispose(inputs as tf.TensorContainer);
          }
        });
      let report: Awaited<ReturnType<typeof attempt>>;
      for (;;) {
        try {
          report = await attempt();
          break;
        } catch (error) {
          if (outOfMemory !== 'shrink' || gradCache === undefined || !isOutOfMemory(error)) throw error;
          const sizes = gradCache.chunkSize; // [] when 'auto' ran out while measuring
          if (sizes.length > 0 && Math.max(...sizes) <= 1) throw error; // one row a chunk, and still out of memory
          const retry =
            gradCache.config.chunkSize === 'auto'
              ? {
                  memoryBudget: Math.floor(
                    (gradCache.autoChunk?.memoryBudget ?? gradCache.config.memoryBudget ?? defaultMemoryBudget()) / 2,
                  ),
                }
              : { chunkSize: Math.floor(Math.max(...sizes) / 2) };
          gradCache = 'chunkSize' in retry ? makeGradCache(retry.chunkSize, undefined) : makeGradCache('auto', retry.memoryBudget);
          const event: OutOfMemoryEvent = { step: position.step + 1, chunkSize: sizes, retry, error: error as Error };
          for (const c of callbacks) await c.onOutOfMemory?.(event, { ...position });
        }
      }
      const { result: measured, peakBytes } = report;
      const { lossValue, gradNorm, gradientPeakBytes } = measured;
      position.batch++;
      position.step++;
      const log: StepLog = {
        step: position.step,
        totalSteps,
        epoch: position.epoch,
        batch: position.batch,
        batchesPerEpoch,
        loss: lossValue,
        learningRate: learningRate ?? (optimizer as unknown as { learningRate?: number }).learningRate ?? Number.NaN,
        gradNorm,
        rows: rowsPerStep,
        ms: performance.now() - start,
        tensorBytes: tf.memory().numBytes,
        peakBytes,
        gradientPeakBytes,
      };
      history.push(log);
      for (const c of callbacks) await c.onStep?.(log, { ...position });
      if (evaluation !== undefined && position.step % evaluation.everySteps === 0) await evaluate();
    }
    if (position.batch < batchesPerEpoch) break; // stopped by the signal mid-epoch
    for (const c of callbacks) await c.onEpochEnd?.(position.epoch, { epoch: position.epoch + 1, batch: 0, step: position.step });
  }
  if (evaluation !== undefined && evaluations.at(-1)?.step !== position.step) await evaluate();
  return { history, position, variables, rowsLeftOver: data.size % rowsPerStep, evaluations };
}
