import * as tf from '@tensorflow/tfjs-core';
import { check, describe } from './errors.js';
import { chunkSeed, withSeededRandom } from './random-replay.js';
import { batchSize, chunkRanges, sliceBatch } from './split-input.js';
import { snapshotState } from './state-snapshot.js';
import type { Batch, Encoder, EncoderOutput, LossFunction } from './types.js';

/** How to build a GradCache. */
export interface GradCacheConfig<E = unknown> {
  /** The encoders, one per input batch; the same Encoder may appear twice (shared weights). */
  encoders: readonly Encoder[];
  /** Rows per chunk: one number for every encoder, or one per encoder. */
  chunkSize: number | readonly number[];
  /** The loss over the full-batch reps; it may close over variables of its own (a temperature). */
  loss: LossFunction<E>;
  /** Base seed of random replay; the same seed gives the same dropout masks. Default: random. */
  seed?: number;
  /** Splits one encoder's batch into chunks; default: slices every tensor along its first dimension. */
  splitInput?: (batch: Batch, chunkSize: number, encoderIndex: number) => Batch[];
  /** Turns an encoder's output into its [rows, d] rep; default: the output, which must be that tensor. */
  getRep?: (output: EncoderOutput, encoderIndex: number) => tf.Tensor2D;
}

/**
 * The result of `computeGradients`; the caller owns and disposes every tensor in it
 * (`tf.dispose(result)` does both). A type, not an interface, so that it is a `tf.TensorContainer`.
 */
export type GradCacheResult = {
  /** The full-batch loss. */
  loss: tf.Scalar;
  /** The full-batch gradient of every trainable variable (encoders' and the loss's), by variable name. */
  grads: tf.NamedTensorMap;
};

/** The result of `step`; holds no tensors. */
export interface StepResult {
  /** The full-batch loss before the update. */
  loss: number;
}

/** One encoder's batch cut into chunks. */
interface ChunkPlan {
  /** Rows of each chunk. */
  readonly sizes: readonly number[];
  /** Chunk j; a new tensor for the default split (dispose it), a stored one for a custom split. */
  take(j: number): Batch;
}

const TRAINING = { training: true } as const;

/**
 * Gradient caching (Gao et al. 2021): the exact gradient of a loss over a large batch, at the
 * activation memory of one chunk, for the price of one extra forward pass.
 *
 * 1. forward every chunk without a tape and concatenate the reps;
 * 2. compute the loss on the full reps and its gradient with respect to them — the cache;
 * 3. re-forward each chunk under a tape and back-propagate its slice of the cache (`dy`) into the
 *    encoder's variables, accumulating over chunks.
 *
 * Dropout is replayed exactly in step 3 (see `withSeededRandom`); state variables are left as one
 * chunked forward leaves them. The optimizer step is `step`; `computeGradients` only computes.
 *
 * ```ts
 * const cache = new GradCache({ encoders: [queryEncoder, docEncoder], chunkSize: 64,
 *   loss: ([q, d]) => infoNCE(q, d, { temperature: 0.05 }) });
 * const { loss } = cache.step(tf.train.adam(1e-3), [queries, docs]); // B = 1024, 64 rows at a time
 * ```
 */
export class GradCache<E = unknown> {
  /** The encoders, in the order of the inputs. */
  readonly encoders: readonly Encoder[];
  /** Rows per chunk, one per encoder. */
  readonly chunkSizes: readonly number[];
  /** The base seed of random replay. */
  readonly seed: number;
  private readonly loss: LossFunction<E>;
  private readonly splitInputFn: GradCacheConfig<E>['splitInput'];
  private readonly getRepFn: GradCacheConfig<E>['getRep'];
  /** Variables the loss closed over, in the order first seen; part of the fixed optimizer order. */
  private readonly lossVariables: tf.Variable[] = [];
  private stepCount = 0;

  constructor(config: GradCacheConfig<E>) {
    const { encoders, chunkSize } = config;
    check(
      Array.isArray(encoders) && encoders.length > 0,
      'NO_ENCODERS',
      () => `GradCache: encoders must be a non-empty array of Encoder, got ${describe(encoders)}.`,
    );
    encoders.forEach((encoder, i) =>
      check(
        Array.isArray(encoder.trainableVariables) && encoder.trainableVariables.length > 0,
        'NO_TRAINABLE_VARIABLES',
        () =>
          `GradCache: encoder ${i} ('${encoder.name}') has no trainable variables; list the variables ` +
          'its encode reads in trainableVariables (functionEncoder: variables).',
      ),
    );
    const sizes = typeof chunkSize === 'number' ? encoders.map(() => chunkSize) : chunkSize;
    check(
      Array.isArray(sizes) && sizes.length === encoders.length,
      'INVALID_CHUNK_SIZE',
      () =>
        `GradCache: chunkSize must be one number or one per encoder (${encoders.length}), ` +
        `got ${describe(chunkSize)}.`,
    );
    sizes.forEach((size, i) =>
      check(
        Number.isInteger(size) && size > 0,
        'INVALID_CHUNK_SIZE',
        () => `GradCache: chunkSize for encoder ${i} must be a positive integer, got ${describe(size)}.`,
      ),
    );
    const seed = config.seed ?? Math.floor(Math.random() * 2 ** 31);
    check(
      Number.isFinite(seed),
      'INVALID_SEED',
      () => `GradCache: seed must be a finite number, got ${describe(config.seed)}.`,
    );
    this.encoders = [...encoders];
    this.chunkSizes = sizes;
    this.seed = seed;
    this.loss = config.loss;
    this.splitInputFn = config.splitInput;
    this.getRepFn = config.getRep;
  }

  /** How many times gradients have been computed; the step index used for random replay. */
  get steps(): number {
    return this.stepCount;
  }

  /**
   * Every trainable variable this cache returns a gradient for, in the fixed order `step` hands
   * them to the optimizer: the encoders' (first appearance), then the loss's (first seen).
   */
  get variables(): tf.Variable[] {
    return [...new Set([...this.encoders.flatMap((e) => e.trainableVariables), ...this.lossVariables])];
  }

  /**
   * The full-batch loss and the gradient of every trainable variable, by variable name, as if all
   * inputs ran as one batch. `inputs[i]` is the whole batch of `encoders[i]`; `extra` goes to the
   * loss unchanged. The caller owns and disposes the returned tensors. On any error nothing is
   * returned, no tensor is leaked and state variables are put back as they were.
   */
  computeGradients(inputs: readonly Batch[], extra?: E): GradCacheResult {
    const { loss, grads } = this.run(inputs, extra);
    return { loss, grads };
  }

  /**
   * `computeGradients`, then `optimizer.applyGradients` over the full variable set in one fixed
   * order (tfjs optimizers key their slots by position), then frees the gradients. A loss that is
   * NaN or infinite throws before anything is applied.
   */
  step(optimizer: tf.Optimizer, inputs: readonly Batch[], extra?: E): StepResult {
    const { loss, lossValue, grads } = this.run(inputs, extra);
    try {
      optimizer.applyGradients(this.variables.map((v) => ({ name: v.name, tensor: grads[v.name] as tf.Tensor })));
    } finally {
      loss.dispose();
      tf.dispose(grads);
    }
    return { loss: lossValue };
  }

  private run(inputs: readonly Batch[], extra: E | undefined): GradCacheResult & { lossValue: number } {
    check(
      Array.isArray(inputs) && inputs.length === this.encoders.length,
      'INPUT_COUNT',
      () =>
        `GradCache.computeGradients: inputs must hold one batch per encoder (${this.encoders.length}), ` +
        `got ${Array.isArray(inputs) ? `${inputs.length} batches` : describe(inputs)}.`,
    );
    const rows = inputs.map((batch, i) => batchSize(batch, 'GradCache.computeGradients', `inputs[${i}]`));
    const step = this.stepCount++;
    const stateVariables = this.encoders.flatMap((e) => e.stateVariables ?? []);
    const initialState = snapshotState(stateVariables);
    let lossValue = NaN;
    try {
      const result = tf.tidy(() => {
        const plans = inputs.map((batch, i) => this.splitInput(batch, rows[i] as number, i));
        const reps = plans.map((plan, i) => this.forwardNoGrad(plan, i, step));
        const finalState = snapshotState(stateVariables);
        try {
          const cache = this.buildCache(reps, extra);
          lossValue = cache.lossValue;
          initialState.restore();
          this.forwardBackward(plans, cache.repGrads, step, cache.grads);
          finalState.restore();
          return { loss: cache.loss, grads: this.orderedGrads(cache.grads) };
        } finally {
          finalState.dispose();
        }
      });
      return { ...result, lossValue };
    } catch (error) {
      discardTape();
      initialState.restore();
      throw error;
    } finally {
      initialState.dispose();
    }
  }

  /** Cuts encoder i's batch into chunks, lazily for the default split. */
  private splitInput(batch: Batch, rows: number, i: number): ChunkPlan {
    const chunkSize = this.chunkSizes[i] as number;
    const split = this.splitInputFn;
    if (split === undefined) {
      const ranges = chunkRanges(rows, chunkSize);
      return { sizes: ranges.map((r) => r.size), take: (j) => sliceBatch(batch, ranges[j] as (typeof ranges)[0]) };
    }
    const chunks = split(batch, chunkSize, i);
    check(
      Array.isArray(chunks) && chunks.length > 0,
      'INVALID_INPUT',
      () => `GradCache: splitInput for encoder ${i} must return a non-empty array of batches, got ${describe(chunks)}.`,
    );
    const sizes = chunks.map((c, j) => batchSize(c, 'GradCache', `splitInput(inputs[${i}])[${j}]`));
    return { sizes, take: (j) => chunks[j] as Batch };
  }

  /** Phase 1: encodes every chunk of encoder i outside any gradient scope; returns the full reps. */
  private forwardNoGrad(plan: ChunkPlan, i: number, step: number): tf.Tensor2D {
    const encoder = this.encoders[i] as Encoder;
    const chunkReps = plan.sizes.map((rows, j) =>
      tf.tidy(() => {
        const chunk = plan.take(j);
        const rep = withSeededRandom(chunkSeed(this.seed, step, i, j), () =>
          this.getRep(encoder.encode(chunk, TRAINING), i),
        );
        this.checkRep(rep, rows, i, j);
        return rep;
      }),
    );
    if (chunkReps.length === 1) return chunkReps[0] as tf.Tensor2D;
    const reps = tf.concat(chunkReps, 0);
    tf.dispose(chunkReps);
    return reps;
  }

  /**
   * Phase 2: the loss on the full reps, its gradient with respect to the reps (the cache), and the
   * gradients of any trainable variable the loss itself reads. Frees the reps.
   */
  private buildCache(
    reps: tf.Tensor2D[],
    extra: E | undefined,
  ): { loss: tf.Scalar; lossValue: number; repGrads: tf.Tensor2D[]; grads: Map<string, tf.Tensor> } {
    const variables = Object.values(tf.engine().registeredVariables).filter((v) => v.trainable);
    const { value, grads } = tf.engine().gradients(() => this.loss(reps, extra), [...reps, ...variables], undefined, true);
    check(
      value.rank === 0,
      'LOSS_NOT_SCALAR',
      () => `GradCache: the loss must return a scalar, but it returned ${describe(value)}; reduce it (e.g. tf.mean).`,
    );
    const lossValue = (value.dataSync() as Float32Array)[0] as number;
    check(
      Number.isFinite(lossValue),
      'LOSS_NOT_FINITE',
      () =>
        `GradCache: the loss is ${lossValue}; no gradient was applied. Check the inputs for NaN, lower the ` +
        'learning rate or raise the temperature.',
    );
    const repGrads = reps.map((rep, i) => (grads[i] as tf.Tensor2D | undefined) ?? tf.zerosLike(rep));
    tf.dispose(reps);
    const encoderVariables = new Set(this.encoders.flatMap((e) => e.trainableVariables));
    const variableGrads = new Map<string, tf.Tensor>();
    variables.forEach((v, k) => {
      const g = grads[reps.length + k];
      if (g === undefined) return;
      variableGrads.set(v.name, g);
      if (!encoderVariables.has(v) && !this.lossVariables.includes(v)) this.lossVariables.push(v);
    });
    return { loss: value as tf.Scalar, lossValue, repGrads, grads: variableGrads };
  }

  /**
   * Phase 3: re-encodes each chunk under a tape with the same randomness as phase 1 and
   * back-propagates its slice of the cache into the encoder's variables, adding into `grads`.
   */
  private forwardBackward(
    plans: ChunkPlan[],
    repGrads: tf.Tensor2D[],
    step: number,
    grads: Map<string, tf.Tensor>,
  ): void {
    plans.forEach((plan, i) => {
      const encoder = this.encoders[i] as Encoder;
      const variables = [...encoder.trainableVariables];
      const cache = repGrads[i] as tf.Tensor2D;
      const dys = plan.sizes.length === 1 ? [cache] : tf.split(cache, [...plan.sizes], 0);
      dys.forEach((dy, j) => {
        // The new sums are returned, not kept, so the enclosing tidy frees them if a later chunk fails.
        const sums = tf.tidy(() => {
          const chunk = plan.take(j);
          const { value, grads: chunkGrads } = withSeededRandom(chunkSeed(this.seed, step, i, j), () =>
            tf.engine().gradients(() => this.getRep(encoder.encode(chunk, TRAINING), i), variables, dy, true),
          );
          check(
            tf.util.arraysEqual(value.shape, dy.shape),
            'REPLAY_MISMATCH',
            () =>
              `GradCache: encoder ${i} ('${encoder.name}') returned ${describe(value)} when re-encoding chunk ` +
              `${j}, but [${dy.shape.join(', ')}] the first time; encode must be deterministic given Math.random.`,
          );
          const updated: tf.NamedTensorMap = {};
          variables.forEach((v, k) => {
            const g = chunkGrads[k];
            if (g === undefined) return;
            const previous = grads.get(v.name);
            updated[v.name] = previous === undefined ? g : tf.add(previous, g);
          });
          return updated;
        });
        for (const [name, sum] of Object.entries(sums)) {
          grads.get(name)?.dispose();
          grads.set(name, sum);
        }
        dy.dispose();
      });
      cache.dispose();
    });
  }

  /** Every variable's gradient in the fixed order, zeros for a variable no path reached. */
  private orderedGrads(grads: Map<string, tf.Tensor>): tf.NamedTensorMap {
    return Object.fromEntries(this.variables.map((v) => [v.name, grads.get(v.name) ?? tf.zerosLike(v)]));
  }

  private getRep(output: EncoderOutput, i: number): tf.Tensor2D {
    if (this.getRepFn !== undefined) return this.getRepFn(output, i);
    check(
      output instanceof tf.Tensor,
      'INVALID_REP',
      () =>
        `GradCache: encoder ${i} ('${this.encoders[i]?.name}') returned ${describe(output)} instead of a tensor; ` +
        'pass getRep to pick or pool the rep from it.',
    );
    return output as tf.Tensor2D;
  }

  private checkRep(rep: tf.Tensor, rows: number, i: number, j: number): void {
    check(
      rep instanceof tf.Tensor && rep.rank === 2 && rep.shape[0] === rows && rep.dtype === 'float32',
      'INVALID_REP',
      () =>
        `GradCache: encoder ${i} ('${this.encoders[i]?.name}') returned ` +
        `${rep instanceof tf.Tensor ? `a ${rep.dtype} tensor of shape [${rep.shape.join(', ')}]` : describe(rep)} ` +
        `for chunk ${j} of ${rows} rows; the rep must be a float32 [${rows}, d] tensor (pass getRep to pick or pool it).`,
    );
  }
}

/**
 * An error thrown inside a gradient scope leaves tfjs's tape holding the tensors it saved for the
 * backward pass; drop them so a failed step leaks nothing.
 */
function discardTape(): void {
  const state = tf.engine().state as unknown as {
    gradientDepth: number;
    activeTape?: { saved?: tf.Tensor[] }[] | null;
  };
  if (state.gradientDepth !== 0 || state.activeTape == null) return;
  for (const node of state.activeTape) node.saved?.forEach((t) => t.dispose());
  state.activeTape = null;
}
