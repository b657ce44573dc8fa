import * as tf from '@tensorflow/tfjs-core';
import { checkLive, type GradCacheConfig, type ResolvedConfig, rememberConfig, resolveConfig } from './config.js';
import { check, describe } from './errors.js';
import { type AutoChunk, ChunkPlanner } from './auto-chunk.js';
import {
  type BeginOptions,
  CachedStep,
  checkOptimizer,
  encodeChunk,
  type GradCacheResult,
  isFrozen,
  type StepHost,
  type StepResult,
} from './cached-step.js';
import { batchSize, batchTensors, type ChunkPlan, planChunks } from './split-input.js';
import type { Batch, Encoder } from './types.js';

export type { GradCacheResult, StepResult } from './cached-step.js';

/**
 * Gradient caching (Gao et al. 2021): the exact gradient of a loss over a large batch, at the
 * activation memory of one chunk, for the price of one extra forward pass.
 *
 * 1. forward every chunk without a tape and concatenate the reps;
 * 2. compute the loss on the full reps and its gradient with respect to them — the cache;
 * 3. re-forward each chunk under a tape and back-propagate its slice of the cache (`dy`) into the
 *    encoder's variables, accumulating over chunks.
 *
 * The phases are in `CachedStep` (cached-step.ts); this class holds the configuration, the chunk
 * plan and the step count, and feeds a step whole batches. Dropout is replayed exactly in step 3
 * (see `withSeededRandom`), and each re-forward is checked against its first pass; state variables
 * are left as one chunked forward leaves them. The optimizer update is `step`; `computeGradients`
 * only computes; `begin` feeds a step one chunk at a time.
 *
 * ```ts
 * const gradCache = new GradCache({ encoders: [queryEncoder, docEncoder], chunkSize: 64,
 *   loss: ([q, d]) => infoNCE(q!, d!, { temperature: 0.05 }) });
 * const { loss } = gradCache.step(tf.train.adam(1e-3), [queries, docs]); // B = 1024, 64 rows at a time
 * ```
 */
export class GradCache<E = unknown> {
  /** The encoders, in the order of the inputs. */
  readonly encoders: readonly Encoder[];
  /** The base seed of random replay. */
  readonly seed: number;
  private readonly config: ResolvedConfig<E>;
  /** With lossVariables 'auto': the variables the loss was seen to read, in the order first seen. */
  private readonly seenLossVariables: tf.Variable[] = [];
  private stepCount = 0;
  private readonly planner: ChunkPlanner<E>;

  constructor(config: GradCacheConfig<E>) {
    this.config = resolveConfig(config);
    rememberConfig(this, this.config);
    this.encoders = this.config.encoders;
    this.planner = new ChunkPlanner(this.config, (_encoder, i, chunk) => encodeChunk(this.config, chunk, i).rep);
    this.seed = this.config.seed;
  }

  /** Rows per chunk, one per encoder; with chunkSize 'auto', what the last batch sizes chose ([] before the first step). */
  get chunkSize(): readonly number[] {
    return this.planner.sizes;
  }

  /** With chunkSize 'auto': the choice, its measured costs and the predicted peak; else undefined. */
  get autoChunk(): AutoChunk | undefined {
    return this.planner.choice;
  }

  /** The chunk size per encoder for these inputs (with 'auto', measured once per set of batch sizes). */
  planChunkSizes(inputs: readonly Batch[], extra?: E): readonly number[] {
    return this.planner.plan(inputs, extra);
  }

  /** How many times gradients have been computed; the step index used for random replay. */
  get steps(): number {
    return this.stepCount;
  }

  /** Sets the step index, to resume a run from a checkpoint with the same random replay. */
  set steps(value: number) {
    check(
      Number.isInteger(value) && value >= 0,
      'INVALID_OPTION',
      () => `GradCache.steps: must be an integer ≥ 0 (the step to resume at), got ${describe(value)}.`,
    );
    this.stepCount = value;
  }

  /**
   * Every trainable variable this GradCache returns a gradient for, in the fixed order `step` hands
   * them to the optimizer: the encoders' (first appearance; frozen encoders have none), then the loss's.
   */
  get variables(): tf.Variable[] {
    const { lossVariables } = this.config;
    const own = lossVariables === 'none' ? [] : lossVariables === 'auto' ? this.seenLossVariables : lossVariables;
    return [...new Set([...this.encoders.filter((e) => !isFrozen(e)).flatMap((e) => e.trainableVariables), ...own])];
  }

  /**
   * Starts a step to be fed a chunk at a time (`add`), for batches that do not exist at once — data
   * arriving from a loader, 1024² images re-loaded for the re-forward (`load`). `computeGradients`
   * and `step` are this with every chunk of their inputs added.
   */
  begin(options: BeginOptions = {}): CachedStep<E> {
    this.checkLive();
    return new CachedStep(this.host, this.stepCount++, options);
  }

  /**
   * The full-batch loss and the gradient of every trainable variable, by variable name, as if all
   * inputs ran as one batch. `inputs[i]` is the whole batch of `encoders[i]`; `extra` goes to the
   * loss unchanged. The caller owns and disposes the returned tensors. Gradients that are not finite
   * are returned and named in `nonFinite`. On any error nothing is returned, no tensor is leaked and
   * state variables are put back as they were. Reads one small tensor synchronously (the step's
   * checks); on a GPU backend use `computeGradientsAsync`.
   */
  computeGradients(inputs: readonly Batch[], extra?: E): GradCacheResult {
    const { step, release } = this.fill(inputs, extra);
    try {
      return step.computeGradients(extra);
    } finally {
      release();
    }
  }

  /**
   * `computeGradients` without any synchronous read: the step's checks are read with
   * `await data()`, so WebGPU and WebGL never stall (and WebGPU in Node, which cannot read
   * synchronously at all, works). The same gradients, bit for bit, on any backend.
   */
  async computeGradientsAsync(inputs: readonly Batch[], extra?: E): Promise<GradCacheResult> {
    const { step, release } = this.fill(inputs, extra);
    try {
      return await step.computeGradientsAsync(extra);
    } finally {
      release();
    }
  }

  /**
   * `computeGradients`, then `optimizer.applyGradients` over the full variable set in one fixed
   * order (tfjs optimizers key their slots by position), then frees the gradients. A loss or a
   * gradient that is NaN or infinite throws before anything is applied; if anything throws, every
   * variable (trainable and state) is left as it was before the step.
   */
  step(optimizer: tf.Optimizer, inputs: readonly Batch[], extra?: E): StepResult {
    checkOptimizer(optimizer, 'GradCache.step');
    const { step, release } = this.fill(inputs, extra);
    try {
      return step.step(optimizer, extra);
    } finally {
      release();
    }
  }

  /** `step` without any synchronous read (see `computeGradientsAsync`); use it on WebGPU and WebGL. */
  async stepAsync(optimizer: tf.Optimizer, inputs: readonly Batch[], extra?: E): Promise<StepResult> {
    checkOptimizer(optimizer, 'GradCache.stepAsync');
    const { step, release } = this.fill(inputs, extra);
    try {
      return await step.stepAsync(optimizer, extra);
    } finally {
      release();
    }
  }

  /**
   * Phase 1 for whole batches: a step with every chunk of `inputs` added, each chunk re-taken for
   * the re-forward (a new slice, or the custom split's chunk). `release` frees a custom split's
   * chunks (not the inputs themselves) once the step is over.
   */
  private fill(inputs: readonly Batch[], extra: E | undefined): { step: CachedStep<E>; release: () => void } {
    check(
      Array.isArray(inputs) && inputs.length === this.encoders.length,
      'INPUT_COUNT',
      () =>
        `GradCache.computeGradients: inputs must hold one batch per encoder (${this.encoders.length}), ` +
        `got ${Array.isArray(inputs) ? `${inputs.length} batches` : describe(inputs)}.`,
    );
    const rows = inputs.map((batch, i) => batchSize(batch, 'GradCache.computeGradients', `inputs[${i}]`));
    const chunkSizes = this.planChunkSizes(inputs, extra);
    this.checkLive();
    const inputTensors = new Set(inputs.flatMap(batchTensors));
    const plans: ChunkPlan[] = [];
    const release = (): void => {
      if (this.config.splitInput === undefined) return;
      const made = plans.flatMap((plan) => plan.sizes.flatMap((_, j) => batchTensors(plan.take(j)))).filter((t) => !inputTensors.has(t));
      tf.dispose(made);
    };
    try {
      for (const [i, batch] of inputs.entries())
        plans.push(planChunks(batch, rows[i] as number, chunkSizes[i] as number, i, this.config.splitInput));
      const step = this.begin({ load: (i, j) => (plans[i] as ChunkPlan).take(j) });
      for (const [i, plan] of plans.entries()) for (let j = 0; j < plan.sizes.length; j++) step.add(i);
      return { step, release };
    } catch (error) {
      release();
      throw error;
    }
  }

  /** Every variable a step reads must be alive; a learnable temperature replaced between steps is forgotten. */
  private checkLive(): void {
    const stateVariables = this.encoders.flatMap((e) => e.stateVariables ?? []);
    checkLive([...this.encoders.flatMap((e) => e.trainableVariables), ...stateVariables], 'GradCache.computeGradients');
    if (Array.isArray(this.config.lossVariables)) checkLive(this.config.lossVariables, 'GradCache.computeGradients (lossVariables)');
    const live = this.seenLossVariables.filter((v) => !v.isDisposed);
    this.seenLossVariables.splice(0, this.seenLossVariables.length, ...live);
  }

  /** What a CachedStep borrows from this GradCache. */
  private get host(): StepHost<E> {
    const { config } = this;
    const encoderVariables = new Set(this.encoders.flatMap((e) => e.trainableVariables));
    return {
      config,
      variables: () => this.variables,
      lossVariables: () => {
        const { lossVariables } = config;
        const offered =
          lossVariables === 'none'
            ? []
            : lossVariables === 'auto'
              ? Object.values(tf.engine().registeredVariables).filter((v) => v.trainable)
              : [...lossVariables];
        return {
          offered,
          seen: (v) => {
            if (lossVariables === 'auto' && !encoderVariables.has(v) && !this.seenLossVariables.includes(v)) this.seenLossVariables.push(v);
          },
        };
      },
    };
  }
}
