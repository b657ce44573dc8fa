import type * as tf from '@tensorflow/tfjs-core';
import { type AutoChunk, ChunkPlanner } from './auto-chunk.js';
import { CachedBatch, checkOptimizer } from './cached-batch.js';
import { batchSize, type ChunkPlan, planChunks } from './chunk-input.js';
import { checkLive, type GradCacheConfig, type ResolvedConfig, resolveConfig } from './config.js';
import { check, describe } from './errors.js';
import { LossVariables } from './loss-variables.js';
import type { BeginOptions, GradCacheResult, StepResult } from './results.js';
import { type Batch, type Encoder, isFrozen } from './types.js';

/**
 * Gradient caching (Gao et al. 2021): the exact gradient of a loss over a large batch, at the
 * activation memory of one chunk, for the price of one extra forward pass. The three phases are in
 * phases.ts; this class holds the configuration, the chunk sizes and the batch index, and feeds a
 * `CachedBatch` whole batches. `computeGradients` only computes; `step` also applies one optimizer
 * update; `begin` hands the caller a batch to feed one chunk at a time.
 *
 * ```ts
 * const gradCache = new GradCache({ encoders: [queryEncoder, docEncoder], chunkSize: 64,
 *   loss: ([q, d]) => infoNCE(q!, d!, { temperature: 0.05 }) });
 * const { loss } = gradCache.step(tf.train.adam(1e-3), [queries, docs]); // B = 1024, 64 rows at a time
 * ```
 */
export class GradCache<E = unknown> {
  /** The checked configuration, every option filled in. */
  readonly config: ResolvedConfig<E>;
  /** The encoders, in the order of the inputs. */
  readonly encoders: readonly Encoder[];
  /** The base seed of random replay. */
  readonly seed: number;
  private readonly lossVariables: LossVariables;
  private readonly planner: ChunkPlanner<E>;
  private nextBatch = 0;

  constructor(config: GradCacheConfig<E>) {
    this.config = resolveConfig(config);
    this.encoders = this.config.encoders;
    this.seed = this.config.seed;
    this.lossVariables = new LossVariables(this.config.lossVariables, new Set(this.encoders.flatMap((e) => e.trainableVariables)));
    this.planner = new ChunkPlanner(this.config);
  }

  /** Rows per chunk, one per encoder; with chunkSize 'auto', what the last batch sizes chose ([] before the first batch). */
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

  /** The index the next batch gets: how many batches have begun. Random replay seeds each chunk by it. */
  get batchIndex(): number {
    return this.nextBatch;
  }

  /** Sets the next batch's index, to resume a run from a checkpoint with the same random replay. */
  set batchIndex(value: number) {
    check(
      Number.isInteger(value) && value >= 0,
      'INVALID_OPTION',
      () => `GradCache.batchIndex: must be an integer ≥ 0 (the batch to resume at), got ${describe(value)}.`,
    );
    this.nextBatch = value;
  }

  /**
   * Every trainable variable this GradCache returns a gradient for, in the fixed order `step` hands
   * them to the optimizer: the encoders' (first appearance; frozen encoders have none), then the loss's.
   */
  get variables(): tf.Variable[] {
    const encoders = this.encoders.filter((e) => !isFrozen(e)).flatMap((e) => e.trainableVariables);
    return [...new Set([...encoders, ...this.lossVariables.list])];
  }

  /**
   * Begins a batch to be fed a chunk at a time (`add`), for batches that do not exist at once — data
   * arriving from a loader, 1024² images re-loaded for the re-forward (`load`). `computeGradients`
   * and `step` are this with every chunk of their inputs added.
   */
  begin(options: BeginOptions = {}): CachedBatch<E> {
    return this.beginBatch(options, () => {});
  }

  /**
   * The loss of the whole batch and the gradient of every trainable variable, by variable name, as
   * if all inputs ran as one batch. `inputs[i]` is the whole batch of `encoders[i]`; `extra` goes to
   * the loss unchanged. The caller owns and disposes the returned tensors; gradients that are not
   * finite are returned and named in `nonFinite`. On any error nothing is returned, no tensor is
   * leaked and state variables are put back. Reads one small tensor synchronously (the batch's
   * checks); on a GPU backend use `computeGradientsAsync`.
   */
  computeGradients(inputs: readonly Batch[], extra?: E): GradCacheResult {
    return this.fill(inputs, extra).computeGradients(extra);
  }

  /**
   * `computeGradients` without any synchronous read: the checks are read with `await data()`, so
   * WebGPU and WebGL never stall (and WebGPU in Node, which cannot read synchronously, works). The
   * same gradients, bit for bit, on any backend.
   */
  computeGradientsAsync(inputs: readonly Batch[], extra?: E): Promise<GradCacheResult> {
    return this.fill(inputs, extra).computeGradientsAsync(extra);
  }

  /**
   * `computeGradients`, then one optimizer update over the full variable set in one fixed order
   * (tfjs optimizers key their slots by position), clipped to `clipNorm`, then frees the gradients.
   * A loss or gradient that is NaN or infinite throws before anything is applied; if anything
   * throws, every variable (trainable and state) is left as it was before the step.
   */
  step(optimizer: tf.Optimizer, inputs: readonly Batch[], extra?: E): StepResult {
    checkOptimizer(optimizer, 'GradCache.step');
    return this.fill(inputs, extra).step(optimizer, extra);
  }

  /** `step` without any synchronous read (see `computeGradientsAsync`); use it on WebGPU and WebGL. */
  stepAsync(optimizer: tf.Optimizer, inputs: readonly Batch[], extra?: E): Promise<StepResult> {
    checkOptimizer(optimizer, 'GradCache.stepAsync');
    return this.fill(inputs, extra).stepAsync(optimizer, extra);
  }

  private beginBatch(options: BeginOptions, onEnd: () => void): CachedBatch<E> {
    this.checkLive();
    const host = { config: this.config, lossVariables: this.lossVariables, variables: () => this.variables };
    return new CachedBatch(host, this.nextBatch++, options, onEnd);
  }

  /**
   * Phase 1 for whole batches: a batch with every chunk of `inputs` added, each chunk taken again
   * for the re-forward (a new slice, or the custom chunkInput's chunk, freed when the batch ends).
   */
  private fill(inputs: readonly Batch[], extra: E | undefined): CachedBatch<E> {
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
    const plans: ChunkPlan[] = [];
    const release = (): void => plans.forEach((plan) => plan.dispose());
    try {
      for (const [i, batch] of inputs.entries()) {
        plans.push(planChunks(batch, rows[i] as number, chunkSizes[i] as number, i, this.config.chunkInput[i]));
      }
    } catch (error) {
      release();
      throw error;
    }
    const batch = this.beginBatch({ load: (i, j) => (plans[i] as ChunkPlan).take(j) }, release);
    for (const [i, plan] of plans.entries()) for (let j = 0; j < plan.sizes.length; j++) batch.add(i);
    return batch;
  }

  /** Every variable a batch reads must be alive; a learnable temperature replaced between steps is forgotten. */
  private checkLive(): void {
    const stateVariables = this.encoders.flatMap((e) => e.stateVariables ?? []);
    checkLive([...this.encoders.flatMap((e) => e.trainableVariables), ...stateVariables], 'GradCache.computeGradients');
    const { lossVariables } = this.config;
    if (Array.isArray(lossVariables)) checkLive(lossVariables, 'GradCache.computeGradients (lossVariables)');
    this.lossVariables.forgetDisposed();
  }
}
