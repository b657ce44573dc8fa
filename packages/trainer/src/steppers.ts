// How fit takes one step on one batch: on this thread by a strategy (a GradCache for 'cached'), or
// by a pool of workers that computes and applies it itself. fit's loop (fit.ts) is the same for both.
import * as tf from '@tensorflow/tfjs-core';
import { type Batch, GradCache, type GradCacheResult, isOutOfMemory, measureMemory } from '@gradcache/core';
import { applyInOrder, batchChecks, defaultMemoryBudget, readChecks, setLearningRate } from '@gradcache/core/internal';
import { check } from './errors.js';
import type { FitCallbacks, FitOptions, OutOfMemoryEvent, PoolFitOptions, Position } from './fit.js';
import { accumulatedGradients, encoderVariables, fullBatchGradients, STRATEGIES } from './strategies.js';

/** One step's figures: the loss, the global gradient norm before clipping, and the gradients' own peak bytes. */
export interface Stepped {
  lossValue: number;
  gradNorm: number;
  gradientPeakBytes: number;
}

/** One way of taking steps. */
export interface Stepper<E> {
  /** Rows one step takes. */
  rowsPerStep: number;
  setLearningRate(rate: number): Promise<void>;
  /** The gradients of one batch, applied: all or nothing. `position.step` is the step being taken (0-based). */
  step(inputs: Batch[], extra: E | undefined, position: Position): Promise<Stepped>;
  /** After a failed step: whether to take it again (having changed what needs changing; `tries` failures so far for this step). */
  recover(error: unknown, tries: number, position: Position): Promise<boolean>;
  /** The variables trained, in the optimizer's order. */
  variables(): tf.Variable[];
}

/** Steps on this thread: GradCache for 'cached', the strategies' gradients otherwise; retries out-of-memory steps with 'shrink'. */
export function localStepper<E>(options: FitOptions<E>, start: Position, callbacks: readonly FitCallbacks[]): Stepper<E> {
  const { encoders, loss, optimizer, batchSize, chunkSize, strategy = 'cached', seed = 0, clipNorm } = options;
  check(
    STRATEGIES.includes(strategy),
    'INVALID_OPTION',
    () => `fit: strategy must be one of ${STRATEGIES.join(', ')}, got ${String(strategy)}.`,
  );
  check(
    (chunkSize === 'auto' && strategy === 'cached') || (Number.isInteger(chunkSize) && (chunkSize as number) >= 1),
    'INVALID_OPTION',
    () =>
      `fit: chunkSize must be an integer ≥ 1${strategy === 'cached' ? " or 'auto'" : ` ('auto' is for the cached strategy)`}, got ${String(chunkSize)}.`,
  );
  check(
    clipNorm === undefined || (Number.isFinite(clipNorm) && clipNorm > 0),
    'INVALID_OPTION',
    () => `fit: clipNorm must be a positive number, got ${String(clipNorm)}.`,
  );
  const { memoryBudget, outOfMemory = 'throw' } = options;
  check(
    outOfMemory === 'throw' || (outOfMemory === 'shrink' && strategy === 'cached'),
    'INVALID_OPTION',
    () =>
      `fit: outOfMemory must be 'throw' or 'shrink' ('shrink' for the cached strategy only: the others' results depend on the chunk size), got ${String(outOfMemory)} with ${strategy}.`,
  );
  const makeGradCache = (size: number | 'auto', budget: number | undefined, batchIndex: number): GradCache<E> => {
    const made = new GradCache({ encoders, chunkSize: size, loss, seed, ...(budget === undefined ? {} : { memoryBudget: budget }) });
    made.batchIndex = batchIndex;
    return made;
  };
  let gradCache = strategy === 'cached' ? makeGradCache(chunkSize, memoryBudget, start.step) : undefined;
  let variables = gradCache?.variables ?? [...encoderVariables(encoders), ...(options.lossVariables ?? [])];

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

  return {
    rowsPerStep: strategy === 'small' ? (chunkSize as number) : batchSize,
    setLearningRate: async (rate) => setLearningRate(optimizer, rate),
    variables: () => variables,
    async step(inputs, extra, position) {
      const { result, peakBytes: gradientPeakBytes } = await measureMemory(() => gradients(inputs, position.step, extra));
      const { loss: value, grads, gradNorm, nonFinite } = result;
      try {
        const lossValue = (await value.data())[0] as number;
        const clip = clipNorm === undefined ? {} : { clipNorm };
        applyInOrder(optimizer, variables, grads, { nonFinite, gradNorm, ...clip, loss: lossValue, caller: `fit (step ${position.step})` });
        return { lossValue, gradientPeakBytes, gradNorm };
      } finally {
        tf.dispose([value, grads]);
      }
    },
    async recover(error, _tries, position) {
      if (outOfMemory !== 'shrink' || gradCache === undefined || !isOutOfMemory(error)) return false;
      const sizes = gradCache.chunkSize; // [] when 'auto' ran out while measuring
      if (sizes.length > 0 && Math.max(...sizes) <= 1) return false; // one row a chunk, and still out of memory
      const retry =
        gradCache.config.chunkSize === 'auto'
          ? {
              memoryBudget: Math.floor((gradCache.autoChunk?.memoryBudget ?? gradCache.config.memoryBudget ?? defaultMemoryBudget()) / 2),
            }
          : { chunkSize: Math.floor(Math.max(...sizes) / 2) };
      gradCache =
        'chunkSize' in retry
          ? makeGradCache(retry.chunkSize, undefined, position.step)
          : makeGradCache('auto', retry.memoryBudget, position.step);
      const event: OutOfMemoryEvent = { step: position.step + 1, chunkSize: sizes, retry, error: error as Error };
      for (const c of callbacks) await c.onOutOfMemory?.(event, { ...position });
      return true;
    },
  };
}

/** Most restarts for one step before fit gives up: a worker that dies on every try dies for a reason. */
const RESTARTS_PER_STEP = 3;

/** Steps by a pool of workers (ParallelGradCache); restarts dead workers with `workerExit: 'restart'`. */
export function poolStepper<E>(options: PoolFitOptions<E>, callbacks: readonly FitCallbacks[]): Stepper<E> {
  const { pool, workerExit = 'throw' } = options;
  check(
    typeof pool?.step === 'function' && typeof pool.setLearningRate === 'function' && typeof pool.restart === 'function',
    'INVALID_OPTION',
    () => 'fit: pool must be a ParallelGradCache (step, setLearningRate, restart, batchIndex).',
  );
  check(
    workerExit === 'throw' || workerExit === 'restart',
    'INVALID_OPTION',
    () => `fit: workerExit must be 'throw' or 'restart', got ${String(workerExit)}.`,
  );
  const refused = (['encoders', 'loss', 'optimizer', 'chunkSize', 'strategy', 'clipNorm', 'lossVariables', 'outOfMemory'] as const).filter(
    (name) => (options as unknown as Record<string, unknown>)[name] !== undefined,
  );
  check(
    refused.length === 0,
    'INVALID_OPTION',
    () => `fit: with a pool, ${refused.join(', ')} belong to the pool (ParallelGradCache.create); leave them out of fit's options.`,
  );
  return {
    rowsPerStep: options.batchSize,
    setLearningRate: (rate) => pool.setLearningRate(rate),
    variables: () => [],
    async step(inputs, extra, position) {
      pool.batchIndex = position.step; // the same replay for a retried step as for a first try
      const { result, peakBytes } = await measureMemory(() => pool.step(inputs, extra));
      return { lossValue: result.loss, gradNorm: result.gradNorm, gradientPeakBytes: peakBytes };
    },
    async recover(error, tries, position) {
      if (workerExit !== 'restart' || (error as { code?: unknown }).code !== 'WORKER_EXITED' || tries > RESTARTS_PER_STEP) return false;
      const replaced = await pool.restart();
      for (const c of callbacks) await c.onRestart?.({ step: position.step + 1, replaced, error: error as Error }, { ...position });
      return true;
    },
  };
}
