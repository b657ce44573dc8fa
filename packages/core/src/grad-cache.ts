import * as tf from '@tensorflow/tfjs-core';
import { checkLive, type GradCacheConfig, type ResolvedConfig, rememberConfig, resolveConfig } from './config.js';
import { check, describe, synchronous } from './errors.js';
import { type AutoChunk, ChunkPlanner } from './auto-chunk.js';
import { checkRep, checkReplayShape, type Drift, type DriftSite, readChecks, relativeDrift, stepChecks } from './replay-check.js';
import { chunkSeed, withSeededRandom } from './random-replay.js';
import { batchSize, type ChunkPlan, planChunks } from './split-input.js';
import { type StateSnapshot, snapshotState } from './state-snapshot.js';
import { discardTape } from './tape.js';
import type { Batch, Encoder } from './types.js';

/**
 * The result of `computeGradients`; the caller owns and disposes every tensor in it
 * (`tf.dispose(result)` does both). A type, not an interface, so that it is a `tf.TensorContainer`.
 */
export type GradCacheResult = {
  /** The full-batch loss. */
  loss: tf.Scalar;
  /** The full-batch gradient of every trainable variable (encoders' and the loss's), by variable name. */
  grads: tf.NamedTensorMap;
  /** Names of the variables whose gradient holds NaN or ±Infinity; empty when all are finite. */
  nonFinite: string[];
};

/** The result of `step`; holds no tensors. */
export interface StepResult {
  /** The full-batch loss before the update. */
  loss: number;
}

const TRAINING = { training: true } as const;

/** A step computed but not yet read: its tensors, and the state to put back if its checks fail. */
interface Pending {
  loss: tf.Scalar;
  grads: tf.NamedTensorMap;
  /** [loss, each chunk's replay drift, each gradient's finiteness (1 or 0)], read once. */
  checks: tf.Tensor1D;
  drifts: DriftSite[];
  initialState: StateSnapshot;
}

/** A step whose checks passed: `GradCacheResult` plus the loss as a number. */
type Settled = GradCacheResult & { lossValue: number };

function checkOptimizer(optimizer: tf.Optimizer, method: string): void {
  check(
    typeof (optimizer as Partial<tf.Optimizer> | null)?.applyGradients === 'function',
    'INVALID_OPTIMIZER',
    () => `GradCache.${method}: optimizer must be a tf.Optimizer (e.g. tf.train.adam(1e-3)), got ${describe(optimizer)}.`,
  );
}

/**
 * Gradient caching (Gao et al. 2021): the exact gradient of a loss over a large batch, at the
 * activation memory of one chunk, for the price of one extra forward pass.
 *
 * 1. forward every chunk without a tape and concatenate the reps;
 * 2. compute the loss on the full reps and its gradient with respect to them — the cache;
 * 3. re-forward each chunk under a tape and back-propagate its slice of the cache (`dy`) into the
 *    encoder's variables, accumulating over chunks.
 *
 * Dropout is replayed exactly in step 3 (see `withSeededRandom`), and each re-forward is checked
 * against its first pass; state variables are left as one chunked forward leaves them. The optimizer
 * update is `step`; `computeGradients` only computes.
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
    this.planner = new ChunkPlanner(this.config, (_encoder, i, chunk) => this.encode(chunk, i));
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
   * them to the optimizer: the encoders' (first appearance), then the loss's.
   */
  get variables(): tf.Variable[] {
    const { lossVariables } = this.config;
    const own = lossVariables === 'none' ? [] : lossVariables === 'auto' ? this.seenLossVariables : lossVariables;
    return [...new Set([...this.encoders.flatMap((e) => e.trainableVariables), ...own])];
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
    const { loss, grads, nonFinite } = this.settleSync(inputs, extra);
    return { loss, grads, nonFinite };
  }

  /**
   * `computeGradients` without any synchronous read: the step's checks are read with
   * `await data()`, so WebGPU and WebGL never stall (and WebGPU in Node, which cannot read
   * synchronously at all, works). The same gradients, bit for bit, on any backend.
   */
  async computeGradientsAsync(inputs: readonly Batch[], extra?: E): Promise<GradCacheResult> {
    const { loss, grads, nonFinite } = await this.settleAsync(inputs, extra);
    return { loss, grads, nonFinite };
  }

  /**
   * `computeGradients`, then `optimizer.applyGradients` over the full variable set in one fixed
   * order (tfjs optimizers key their slots by position), then frees the gradients. A loss or a
   * gradient that is NaN or infinite throws before anything is applied; if anything throws, every
   * variable (trainable and state) is left as it was before the step.
   */
  step(optimizer: tf.Optimizer, inputs: readonly Batch[], extra?: E): StepResult {
    checkOptimizer(optimizer, 'step');
    const state = snapshotState(this.stateVariables());
    try {
      return this.apply(optimizer, this.settleSync(inputs, extra), state);
    } finally {
      state.dispose();
    }
  }

  /** `step` without any synchronous read (see `computeGradientsAsync`); use it on WebGPU and WebGL. */
  async stepAsync(optimizer: tf.Optimizer, inputs: readonly Batch[], extra?: E): Promise<StepResult> {
    checkOptimizer(optimizer, 'stepAsync');
    const state = snapshotState(this.stateVariables());
    try {
      return this.apply(optimizer, await this.settleAsync(inputs, extra), state);
    } finally {
      state.dispose();
    }
  }

  private settleSync(inputs: readonly Batch[], extra: E | undefined): Settled {
    const pending = this.begin(inputs, extra);
    return this.settle(pending, () => pending.checks.dataSync());
  }

  private async settleAsync(inputs: readonly Batch[], extra: E | undefined): Promise<Settled> {
    const pending = this.begin(inputs, extra);
    let values: ArrayLike<number>;
    try {
      values = await pending.checks.data();
    } catch (error) {
      this.abandon(pending);
      throw error;
    }
    return this.settle(pending, () => values);
  }

  /** Applies settled gradients in the fixed variable order; on error every variable is put back. */
  private apply(optimizer: tf.Optimizer, settled: Settled, state: StateSnapshot): StepResult {
    const { loss, lossValue, grads, nonFinite } = settled;
    try {
      check(
        nonFinite.length === 0,
        'GRADS_NOT_FINITE',
        () =>
          `GradCache.step: the gradients of ${nonFinite.join(', ')} hold NaN or Infinity (the loss, ${lossValue}, is ` +
          'finite); nothing was applied. Check the inputs for Infinity, and lower the learning rate.',
      );
      const variables = this.variables;
      const weights = snapshotState(variables);
      try {
        optimizer.applyGradients(variables.map((v) => ({ name: v.name, tensor: grads[v.name] as tf.Tensor })));
      } catch (error) {
        weights.restore();
        throw error;
      } finally {
        weights.dispose();
      }
    } catch (error) {
      state.restore();
      throw error;
    } finally {
      loss.dispose();
      tf.dispose(grads);
    }
    return { loss: lossValue };
  }

  private stateVariables(): tf.Variable[] {
    return this.encoders.flatMap((e) => e.stateVariables ?? []);
  }

  /**
   * The three phases, in one tidy, with nothing read back: the loss, the gradients and one small
   * tensor of checks (the loss, each chunk's replay drift, each gradient's finiteness) that `settle`
   * reads. On error, state is restored and the tape dropped.
   */
  private begin(inputs: readonly Batch[], extra: E | undefined): Pending {
    check(
      Array.isArray(inputs) && inputs.length === this.encoders.length,
      'INPUT_COUNT',
      () =>
        `GradCache.computeGradients: inputs must hold one batch per encoder (${this.encoders.length}), ` +
        `got ${Array.isArray(inputs) ? `${inputs.length} batches` : describe(inputs)}.`,
    );
    const rows = inputs.map((batch, i) => batchSize(batch, 'GradCache.computeGradients', `inputs[${i}]`));
    const chunkSizes = this.planChunkSizes(inputs, extra);
    const stateVariables = this.stateVariables();
    checkLive([...this.encoders.flatMap((e) => e.trainableVariables), ...stateVariables], 'GradCache.computeGradients');
    if (Array.isArray(this.config.lossVariables)) checkLive(this.config.lossVariables, 'GradCache.computeGradients (lossVariables)');
    // A learnable temperature disposed and replaced between steps: forget the old one.
    const live = this.seenLossVariables.filter((v) => !v.isDisposed);
    this.seenLossVariables.splice(0, this.seenLossVariables.length, ...live);

    const step = this.stepCount++;
    const initialState = snapshotState(stateVariables);
    try {
      const result = tf.tidy(() => {
        const plans = inputs.map((batch, i) => planChunks(batch, rows[i] as number, chunkSizes[i] as number, i, this.config.splitInput));
        const reps = plans.map((plan, i) => this.forwardNoGrad(plan, i, step));
        const finalState = snapshotState(stateVariables);
        try {
          const { loss, cache, grads } = this.buildCache(reps, extra);
          initialState.restore();
          const drifts = this.forwardBackward(plans, reps, cache, step, grads);
          finalState.restore();
          const ordered = Object.fromEntries(this.variables.map((v) => [v.name, grads.get(v.name) ?? tf.zerosLike(v)]));
          return {
            loss,
            grads: ordered,
            checks: stepChecks(loss, drifts, ordered),
            drifts: drifts.map(({ encoder, chunk }) => ({ encoder, chunk })),
          };
        } finally {
          finalState.dispose();
        }
      });
      return { ...result, initialState };
    } catch (error) {
      discardTape();
      initialState.restore();
      initialState.dispose();
      throw error;
    }
  }

  /** Reads a step's checks (`read` gives their values): throws on a bad loss or replay, else returns the result. */
  private settle(pending: Pending, read: () => ArrayLike<number>): Settled {
    try {
      const { lossValue, nonFinite } = readChecks(
        read(),
        pending.drifts,
        Object.keys(pending.grads),
        this.config.replayTolerance,
        this.encoders.map((e) => e.name),
      );
      pending.checks.dispose();
      pending.initialState.dispose();
      return { loss: pending.loss, lossValue, grads: pending.grads, nonFinite };
    } catch (error) {
      this.abandon(pending);
      throw error;
    }
  }

  /** A step that failed after `begin`: frees its tensors and puts the state variables back. */
  private abandon(pending: Pending): void {
    tf.dispose([pending.loss, pending.grads, pending.checks]);
    pending.initialState.restore();
    pending.initialState.dispose();
  }

  /** Phase 1: encodes every chunk of encoder i outside any gradient scope; returns the full reps. */
  private forwardNoGrad(plan: ChunkPlan, i: number, step: number): tf.Tensor2D {
    const chunkReps = plan.sizes.map((rows, j) =>
      tf.tidy(() => {
        const chunk = plan.take(j);
        const rep = withSeededRandom(chunkSeed(this.seed, step, i, j), () => this.encode(chunk, i));
        checkRep(rep, rows, (this.encoders[i] as Encoder).name, i, j);
        return tf.clone(rep); // ours to free, even when encode returned its input or a variable
      }),
    );
    if (chunkReps.length === 1) return chunkReps[0] as tf.Tensor2D;
    const reps = tf.concat(chunkReps, 0);
    tf.dispose(chunkReps);
    return reps;
  }

  /**
   * Phase 2: the loss on the full reps, its gradient with respect to the reps (the cache), and the
   * gradients of the trainable variables the loss itself reads.
   */
  private buildCache(reps: tf.Tensor2D[], extra: E | undefined): { loss: tf.Scalar; cache: tf.Tensor2D[]; grads: Map<string, tf.Tensor> } {
    const { lossVariables } = this.config;
    const offered =
      lossVariables === 'none'
        ? []
        : lossVariables === 'auto'
          ? Object.values(tf.engine().registeredVariables).filter((v) => v.trainable)
          : [...lossVariables];
    const { value, grads } = tf.engine().gradients(() => this.callLoss(reps, extra), [...reps, ...offered], undefined, true);
    const cache = reps.map((rep, i) => (grads[i] as tf.Tensor2D | undefined) ?? tf.zerosLike(rep));
    const encoderVariables = new Set(this.encoders.flatMap((e) => e.trainableVariables));
    const variableGrads = new Map<string, tf.Tensor>();
    offered.forEach((v, k) => {
      const g = grads[reps.length + k];
      if (g === undefined) return;
      variableGrads.set(v.name, g);
      if (lossVariables === 'auto' && !encoderVariables.has(v) && !this.seenLossVariables.includes(v)) {
        this.seenLossVariables.push(v);
      }
    });
    return { loss: tf.clone(value), cache, grads: variableGrads };
  }

  /**
   * Phase 3: re-encodes each chunk under a tape with the same randomness as phase 1 and
   * back-propagates its slice of the cache into the encoder's variables, adding into `grads`.
   * Returns each chunk's drift from its first pass, to be read once with the gradients' check.
   */
  private forwardBackward(
    plans: ChunkPlan[],
    reps: tf.Tensor2D[],
    cache: tf.Tensor2D[],
    step: number,
    grads: Map<string, tf.Tensor>,
  ): Drift[] {
    const drifts: Drift[] = [];
    plans.forEach((plan, i) => {
      const variables = [...(this.encoders[i] as Encoder).trainableVariables];
      const sizes = [...plan.sizes];
      const dys = sizes.length === 1 ? [cache[i] as tf.Tensor2D] : tf.split(cache[i] as tf.Tensor2D, sizes, 0);
      const firsts = sizes.length === 1 ? [reps[i] as tf.Tensor2D] : tf.split(reps[i] as tf.Tensor2D, sizes, 0);
      dys.forEach((dy, j) => {
        const first = firsts[j] as tf.Tensor2D;
        // The new sums are returned, not kept, so the enclosing tidy frees them if a later chunk fails.
        const { sums, drift } = tf.tidy(() => {
          const chunk = plan.take(j);
          const { value, grads: chunkGrads } = withSeededRandom(chunkSeed(this.seed, step, i, j), () =>
            tf
              .engine()
              .gradients(
                () => checkReplayShape(this.encode(chunk, i), first, (this.encoders[i] as Encoder).name, i, j),
                variables,
                dy,
                true,
              ),
          );
          const updated: tf.NamedTensorMap = {};
          variables.forEach((v, k) => {
            const g = chunkGrads[k] === dy ? tf.clone(dy) : chunkGrads[k]; // encode returned the variable itself
            if (g === undefined) return;
            const previous = grads.get(v.name);
            updated[v.name] = previous === undefined ? g : tf.add(previous, g);
          });
          return { sums: updated, drift: this.config.replayTolerance === false ? undefined : relativeDrift(value, first) };
        });
        for (const [name, sum] of Object.entries(sums)) {
          grads.get(name)?.dispose();
          grads.set(name, sum);
        }
        if (drift !== undefined) drifts.push({ encoder: i, chunk: j, value: drift });
        tf.dispose([dy, first]);
      });
      tf.dispose([cache[i] as tf.Tensor, reps[i] as tf.Tensor]);
    });
    return drifts;
  }

  /** `encode` then `getRep`, both required to be synchronous. */
  private encode(chunk: Batch, i: number): tf.Tensor2D {
    const encoder = this.encoders[i] as Encoder;
    const output = synchronous(encoder.encode(chunk, TRAINING), () => `GradCache: encoder ${i} ('${encoder.name}').encode`);
    const { getRep } = this.config;
    if (getRep !== undefined) return synchronous(getRep(output, i), () => `GradCache: getRep for encoder ${i}`);
    check(
      output instanceof tf.Tensor,
      'INVALID_REP',
      () =>
        `GradCache: encoder ${i} ('${encoder.name}') returned ${describe(output)} instead of a tensor; pass getRep to pick or pool the rep from it.`,
    );
    return output as tf.Tensor2D;
  }

  /** The loss, required to be a synchronous function returning a scalar tensor. */
  private callLoss(reps: tf.Tensor2D[], extra: E | undefined): tf.Scalar {
    const value = synchronous(this.config.loss(reps, extra), () => 'GradCache: the loss');
    check(
      value instanceof tf.Tensor && value.rank === 0,
      'LOSS_NOT_SCALAR',
      () => `GradCache: the loss must return a scalar tensor, but it returned ${describe(value)}; reduce it (e.g. tf.mean).`,
    );
    return value as tf.Scalar;
  }
}
