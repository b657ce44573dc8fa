import * as tf from '@tensorflow/tfjs-core';
import type { ResolvedConfig } from './config.js';
import { check, describe, GradCacheError, synchronous } from './errors.js';
import { chunkSeed, withSeededRandom } from './random-replay.js';
import { checkRep, checkReplayShape, type Drift, type DriftSite, readChecks, relativeDrift, stepChecks } from './replay-check.js';
import { batchSize, batchTensors, cloneBatch } from './split-input.js';
import { type StateSnapshot, snapshotState } from './state-snapshot.js';
import { discardTape } from './tape.js';
import type { Batch, Encoder } from './types.js';

/**
 * The result of `computeGradients`; the caller owns and disposes every tensor in it
 * (`tf.dispose(result)` does both). A type, not an interface, so that it is a `tf.TensorContainer`.
 */
export type GradCacheResult = {
  /** The full-batch loss (with every chunk's auxiliary term). */
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

/** Options of `gradCache.begin`. */
export interface BeginOptions {
  /**
   * Loads chunk `chunk` of encoder `encoder` again for the re-forward (and for `add(encoder)` with
   * no batch), inside that chunk's seeded `Math.random` scope — so augmentation drawn from
   * `Math.random` is replayed identically. With it, `add` keeps no input and only one chunk's inputs
   * are alive at a time; without it, `add` keeps a reference to each chunk until the step ends.
   */
  load?: (encoder: number, chunk: number) => Batch;
}

/** What the owning GradCache lends a step. */
export interface StepHost<E> {
  readonly config: ResolvedConfig<E>;
  /** Trainable variables in the fixed order: encoders' (first appearance), then the loss's (as seen so far). */
  variables(): tf.Variable[];
  /** Offers the loss phase's trainable variables and records those the loss was seen to read. */
  lossVariables(): { offered: tf.Variable[]; seen: (v: tf.Variable) => void };
}

const TRAINING = { training: true } as const;

/** `optimizer` must be a tf.Optimizer (INVALID_OPTIMIZER). */
export function checkOptimizer(optimizer: tf.Optimizer, method: string): void {
  check(
    typeof (optimizer as Partial<tf.Optimizer> | null)?.applyGradients === 'function',
    'INVALID_OPTIMIZER',
    () => `${method}: optimizer must be a tf.Optimizer (e.g. tf.train.adam(1e-3)), got ${describe(optimizer)}.`,
  );
}

/** An encoder the engine forwards once and never re-forwards: no trainable variables, or marked `frozen`. */
export function isFrozen(encoder: Encoder): boolean {
  return encoder.frozen === true || encoder.trainableVariables.length === 0;
}

/**
 * `encode`, then the rep (`getRep`, or the output itself, or its `rep` field) and the auxiliary loss
 * (the output's `auxLoss` field, a scalar), all required to be synchronous.
 */
export function encodeChunk<E>(config: ResolvedConfig<E>, chunk: Batch, i: number): { rep: tf.Tensor2D; aux: tf.Scalar | undefined } {
  const encoder = config.encoders[i] as Encoder;
  const output = synchronous(encoder.encode(chunk, TRAINING), () => `GradCache: encoder ${i} ('${encoder.name}').encode`);
  const record = output instanceof tf.Tensor || Array.isArray(output) ? undefined : (output as Readonly<Record<string, tf.Tensor>>);
  const aux = record?.['auxLoss'];
  check(
    aux === undefined || (aux instanceof tf.Tensor && aux.rank === 0),
    'INVALID_REP',
    () => `GradCache: encoder ${i} ('${encoder.name}') returned auxLoss ${describe(aux)}; it must be a scalar tensor.`,
  );
  const { getRep } = config;
  if (getRep !== undefined)
    return { rep: synchronous(getRep(output, i), () => `GradCache: getRep for encoder ${i}`), aux: aux as tf.Scalar };
  const rep = record === undefined ? output : record['rep'];
  check(
    rep instanceof tf.Tensor,
    'INVALID_REP',
    () =>
      `GradCache: encoder ${i} ('${encoder.name}') returned ${describe(output)} instead of a tensor (or { rep, auxLoss }); ` +
      'pass getRep to pick or pool the rep from it.',
  );
  return { rep: rep as tf.Tensor2D, aux: aux as tf.Scalar | undefined };
}

/**
 * Phase 1 for one chunk: encodes it outside any gradient scope with `Math.random` seeded by `seed`
 * (a function `input` is called inside that scope, so a loader's augmentation is replayed too), and
 * returns its rep and auxiliary loss as new tensors the caller owns.
 */
export function forwardChunk<E>(
  config: ResolvedConfig<E>,
  i: number,
  j: number,
  seed: string,
  input: Batch | (() => Batch),
): { rep: tf.Tensor2D; aux: tf.Scalar | undefined } {
  const out = tf.tidy(() =>
    withSeededRandom(seed, () => {
      const chunk = typeof input === 'function' ? input() : input;
      const rows = batchSize(chunk, 'GradCache', 'chunk');
      const { rep, aux } = encodeChunk(config, chunk, i);
      checkRep(rep, rows, (config.encoders[i] as Encoder).name, i, j);
      // Ours to free, even when encode returned its input or a variable.
      return aux === undefined ? { rep: tf.clone(rep) } : { rep: tf.clone(rep), aux: tf.clone(aux) };
    }),
  ) as { rep: tf.Tensor2D; aux?: tf.Scalar };
  return { rep: out.rep, aux: out.aux };
}

/**
 * Phase 3 for one chunk: re-encodes it under a tape with the same `seed` as its first pass and
 * back-propagates `dy` (its slice of the cache) — plus `auxWeight` times its auxiliary loss — into
 * the encoder's trainable variables. Returns one gradient per variable (undefined where none
 * reached it) and the drift of the replayed rep from `first` (a scalar), as tensors the caller
 * owns; call it inside a tidy.
 */
export function backwardChunk<E>(
  config: ResolvedConfig<E>,
  i: number,
  j: number,
  seed: string,
  input: Batch | (() => Batch),
  dy: tf.Tensor2D,
  first: tf.Tensor2D,
  auxWeight: number | undefined,
): { grads: (tf.Tensor | undefined)[]; drift: tf.Scalar | undefined } {
  const encoder = config.encoders[i] as Encoder;
  const variables = [...encoder.trainableVariables];
  let replayed: tf.Tensor2D | undefined;
  const { value, grads } = withSeededRandom(seed, () => {
    const chunk = typeof input === 'function' ? input() : input;
    return tf.engine().gradients(
      () => {
        const { rep, aux } = encodeChunk(config, chunk, i);
        const checked = checkReplayShape(rep, first, encoder.name, i, j);
        if (auxWeight === undefined) return checked;
        // With an auxiliary loss, back-propagate sum(rep ⊙ dy) + w·aux: its gradient is exactly the
        // cache's slice through the rep plus the auxiliary term's own.
        replayed = tf.keep(tf.clone(checked));
        return tf.add(tf.sum(tf.mul(rep, dy)), tf.mul(aux ?? tf.scalar(0), auxWeight));
      },
      variables,
      auxWeight === undefined ? dy : undefined,
      true,
    );
  });
  const rep = auxWeight === undefined ? (value as tf.Tensor2D) : (replayed as tf.Tensor2D);
  const drift = config.replayTolerance === false ? undefined : relativeDrift(rep, first);
  if (auxWeight !== undefined) rep.dispose();
  // encode returned a variable itself: its gradient is dy, which the caller does not own.
  return { grads: variables.map((_, k) => (grads[k] === dy ? tf.clone(dy) : grads[k])), drift };
}

/** One chunk's first pass: its rep (and auxiliary loss), owned by the step; a copy of its input if kept. */
interface FirstPass {
  rep: tf.Tensor2D;
  aux: tf.Scalar | undefined;
  kept: Batch | undefined;
}

/**
 * One step of gradient caching (Gao et al. 2021), a chunk at a time — the engine:
 *
 * 1. `add(i, chunk)`: encode the chunk without a tape, keep only its rep;
 * 2. `computeGradients(extra)`: the loss on the full reps and its gradient with respect to them — the
 *    cache — then each chunk re-encoded under a tape (kept, or re-loaded by `load`) with the same
 *    randomness, its slice of the cache back-propagated into the encoder's variables, summed.
 *
 * Dropout is replayed exactly (`withSeededRandom`), each re-forward is checked against its first
 * pass, and state variables end as one chunked forward leaves them. A frozen encoder is forwarded
 * once and never re-forwarded. An encoder's `auxLoss` is added to the loss, weighted by its chunk's
 * share of the batch, and back-propagated in that chunk's re-forward. The batch never has to exist
 * at once: only the current chunk's inputs are alive when the step has a `load`.
 *
 * ```ts
 * const step = gradCache.begin({ load: (i, j) => loadImages(i, j) }); // chunk j of encoder i, again
 * for (let j = 0; j < 64; j++) for (const i of [0, 1]) step.add(i);  // 64 chunks, one alive at a time
 * const { loss } = await step.stepAsync(optimizer);
 * ```
 */
export class CachedStep<E = unknown> {
  private readonly passes: FirstPass[][];
  private readonly initialState: StateSnapshot;
  private state: 'open' | 'done' = 'open';
  /** Rows per encoder, fixed when the step finishes (the auxiliary losses' weights). */
  private batchRows: number[] = [];

  constructor(
    private readonly host: StepHost<E>,
    /** The step index of random replay. */
    readonly index: number,
    private readonly options: BeginOptions = {},
  ) {
    check(
      options.load === undefined || typeof options.load === 'function',
      'INVALID_OPTION',
      () => `GradCache.begin: load must be a function (encoder, chunk) => Batch, got ${describe(options.load)}.`,
    );
    this.passes = host.config.encoders.map(() => []);
    this.initialState = snapshotState(this.stateVariables());
  }

  /** Rows added so far, per encoder. */
  get rows(): number[] {
    return this.passes.map((p) => p.reduce((n, c) => n + c.rep.shape[0], 0));
  }

  /**
   * Phase 1 for one chunk of encoder `i`: encodes it now, outside any gradient scope, and keeps its
   * rep. Without `chunk`, it comes from `load(i, j)`. The caller keeps owning `chunk` and may free it
   * at once (the step keeps a clone, or, with `load`, nothing). On error the step is abandoned
   * (nothing leaked, state put back).
   */
  add(i: number, chunk?: Batch): void {
    this.checkOpen('add');
    const { encoders } = this.host.config;
    check(
      Number.isInteger(i) && i >= 0 && i < encoders.length,
      'INVALID_OPTION',
      () => `CachedStep.add: encoder must be an index in [0, ${encoders.length}), got ${describe(i)}.`,
    );
    const { load } = this.options;
    check(
      chunk !== undefined || load !== undefined,
      'INVALID_INPUT',
      () => `CachedStep.add: no chunk for encoder ${i}, and the step has no load to fetch one; pass a batch or begin({ load }).`,
    );
    const j = (this.passes[i] as FirstPass[]).length;
    try {
      const keep = load === undefined && !isFrozen(encoders[i] as Encoder);
      const input = chunk ?? (() => (load as NonNullable<BeginOptions['load']>)(i, j));
      const { rep, aux } = forwardChunk(this.host.config, i, j, this.seedOf(i, j), input);
      // A kept chunk is copied (tf.clone shares the data), so the caller may free its own at once.
      (this.passes[i] as FirstPass[]).push({
        rep,
        aux,
        kept: keep && chunk !== undefined ? (tf.tidy(() => cloneBatch(chunk) as tf.TensorContainer) as Batch) : undefined,
      });
    } catch (error) {
      this.abandon();
      throw error;
    }
  }

  /**
   * Phases 2 and 3: the full-batch loss and the gradient of every trainable variable, by name. The
   * caller owns the returned tensors. Reads one small tensor synchronously; on WebGPU/WebGL use
   * `computeGradientsAsync`. Ends the step.
   */
  computeGradients(extra?: E): GradCacheResult {
    const { loss, grads, nonFinite } = this.settleSync(extra);
    this.initialState.dispose();
    return { loss, grads, nonFinite };
  }

  /** `computeGradients` with no synchronous read (`await data()`). */
  async computeGradientsAsync(extra?: E): Promise<GradCacheResult> {
    const { loss, grads, nonFinite } = await this.settleAsync(extra);
    this.initialState.dispose();
    return { loss, grads, nonFinite };
  }

  /**
   * `computeGradients`, then `optimizer.applyGradients` over every variable in one fixed order, and
   * frees the gradients. A non-finite loss or gradient throws before anything is applied; if anything
   * throws, every variable (trainable and state) is left as it was before the step.
   */
  step(optimizer: tf.Optimizer, extra?: E): StepResult {
    this.checkOptimizer(optimizer, 'step');
    const settled = this.settleSync(extra);
    try {
      return this.apply(optimizer, settled, this.initialState);
    } finally {
      this.initialState.dispose();
    }
  }

  /** `step` with no synchronous read. */
  async stepAsync(optimizer: tf.Optimizer, extra?: E): Promise<StepResult> {
    this.checkOptimizer(optimizer, 'stepAsync');
    const settled = await this.settleAsync(extra);
    try {
      return this.apply(optimizer, settled, this.initialState);
    } finally {
      this.initialState.dispose();
    }
  }

  /** Drops the step: frees its reps and kept inputs and puts the state variables back. Idempotent. */
  abandon(): void {
    if (this.state === 'done') return;
    this.state = 'done';
    this.disposePasses();
    this.initialState.restore();
    this.initialState.dispose();
  }

  private seedOf(i: number, j: number): string {
    return chunkSeed(this.host.config.seed, this.index, i, j);
  }

  private stateVariables(): tf.Variable[] {
    return this.host.config.encoders.flatMap((e) => e.stateVariables ?? []);
  }

  private checkOpen(method: string): void {
    if (this.state === 'done') {
      throw new GradCacheError(
        'STEP_FINISHED',
        `CachedStep.${method}: this step has already finished (or failed); begin a new one with gradCache.begin().`,
      );
    }
  }

  private checkOptimizer(optimizer: tf.Optimizer, method: string): void {
    try {
      checkOptimizer(optimizer, `CachedStep.${method}`);
    } catch (error) {
      this.abandon();
      throw error;
    }
  }

  private disposePasses(): void {
    for (const pass of this.passes.flat()) {
      tf.dispose([pass.rep, ...(pass.aux === undefined ? [] : [pass.aux]), ...(pass.kept === undefined ? [] : batchTensors(pass.kept))]);
    }
    for (const p of this.passes) p.length = 0;
  }

  private settleSync(extra: E | undefined): Settled {
    const pending = this.finish(extra);
    return this.settle(pending, () => pending.checks.dataSync());
  }

  private async settleAsync(extra: E | undefined): Promise<Settled> {
    const pending = this.finish(extra);
    let values: ArrayLike<number>;
    try {
      values = await pending.checks.data();
    } catch (error) {
      this.fail(pending);
      throw error;
    }
    return this.settle(pending, () => values);
  }

  /**
   * Phases 2 and 3 in one tidy, nothing read back: the loss, the gradients and the step's checks.
   * The chunk reps and kept inputs are freed; on error, state is restored and the tape dropped.
   */
  private finish(extra: E | undefined): Pending {
    this.checkOpen('computeGradients');
    const missing = this.passes.flatMap((p, i) => (p.length === 0 ? [i] : []));
    check(
      missing.length === 0,
      'INPUT_COUNT',
      () => `CachedStep: no chunk was added for encoder(s) ${missing.join(', ')}; every encoder needs at least one.`,
    );
    this.state = 'done';
    this.batchRows = this.rows;
    const finalState = snapshotState(this.stateVariables());
    try {
      const result = tf.tidy(() => {
        const reps = this.passes.map((p) =>
          p.length === 1
            ? tf.clone((p[0] as FirstPass).rep)
            : tf.concat(
                p.map((c) => c.rep),
                0,
              ),
        );
        const { loss, cache, grads } = this.buildCache(reps, extra);
        this.initialState.restore();
        const drifts = this.forwardBackward(cache, grads);
        finalState.restore();
        const ordered = Object.fromEntries(this.host.variables().map((v) => [v.name, grads.get(v.name) ?? tf.zerosLike(v)]));
        return {
          loss,
          grads: ordered,
          checks: stepChecks(loss, drifts, ordered),
          drifts: drifts.map(({ encoder, chunk }) => ({ encoder, chunk })),
        };
      });
      this.disposePasses();
      return result;
    } catch (error) {
      discardTape();
      this.disposePasses();
      this.initialState.restore();
      this.initialState.dispose();
      throw error;
    } finally {
      finalState.dispose();
    }
  }

  /** Reads a step's checks (`read` gives their values): throws on a bad loss or replay, else returns the result. */
  private settle(pending: Pending, read: () => ArrayLike<number>): Settled {
    try {
      const { lossValue, nonFinite } = readChecks(
        read(),
        pending.drifts,
        Object.keys(pending.grads),
        this.host.config.replayTolerance,
        this.host.config.encoders.map((e) => e.name),
      );
      pending.checks.dispose();
      return { loss: pending.loss, lossValue, grads: pending.grads, nonFinite };
    } catch (error) {
      this.fail(pending);
      throw error;
    }
  }

  /** A step that failed after `finish`: frees its tensors and puts the state variables back. */
  private fail(pending: Pending): void {
    tf.dispose([pending.loss, pending.grads, pending.checks]);
    this.initialState.restore();
    this.initialState.dispose();
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
      const variables = this.host.variables();
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

  /**
   * Phase 2: the loss on the full reps plus the chunks' auxiliary terms, its gradient with respect
   * to the reps (the cache), and the gradients of the trainable variables the loss itself reads.
   */
  private buildCache(
    reps: tf.Tensor2D[],
    extra: E | undefined,
  ): { loss: tf.Scalar; cache: (tf.Tensor2D | undefined)[]; grads: Map<string, tf.Tensor> } {
    const { offered, seen } = this.host.lossVariables();
    // A frozen encoder's reps get no cache: nothing back-propagates into it.
    const trained = reps.filter((_, i) => !isFrozen(this.host.config.encoders[i] as Encoder));
    const { value, grads } = tf.engine().gradients(() => this.callLoss(reps, extra), [...trained, ...offered], undefined, true);
    const cache = reps.map((rep) => {
      const k = trained.indexOf(rep);
      return k < 0 ? undefined : ((grads[k] as tf.Tensor2D | undefined) ?? tf.zerosLike(rep));
    });
    const variableGrads = new Map<string, tf.Tensor>();
    offered.forEach((v, k) => {
      const g = grads[trained.length + k];
      if (g === undefined) return;
      variableGrads.set(v.name, g);
      seen(v);
    });
    const auxTerms = this.passes.flatMap((p, i) => p.flatMap((c) => (c.aux === undefined ? [] : [tf.mul(c.aux, this.weightOf(i, c))])));
    const loss = auxTerms.length === 0 ? tf.clone(value) : tf.addN([value, ...auxTerms]);
    return { loss: loss as tf.Scalar, cache, grads: variableGrads };
  }

  /** A chunk's auxiliary loss counts by its share of the encoder's batch (a per-chunk mean becomes the batch mean). */
  private weightOf(i: number, pass: FirstPass): number {
    return pass.rep.shape[0] / (this.batchRows[i] as number);
  }

  /**
   * Phase 3: re-encodes each chunk of every encoder that is not frozen under a tape, with the same
   * randomness as phase 1, and back-propagates its slice of the cache (and its auxiliary loss) into
   * the encoder's variables, adding into `grads`. Returns each chunk's drift from its first pass.
   */
  private forwardBackward(cache: (tf.Tensor2D | undefined)[], grads: Map<string, tf.Tensor>): Drift[] {
    const drifts: Drift[] = [];
    const { encoders } = this.host.config;
    this.passes.forEach((passes, i) => {
      const encoder = encoders[i] as Encoder;
      if (isFrozen(encoder)) return;
      const variables = [...encoder.trainableVariables];
      const sizes = passes.map((c) => c.rep.shape[0]);
      const dys = sizes.length === 1 ? [cache[i] as tf.Tensor2D] : tf.split(cache[i] as tf.Tensor2D, sizes, 0);
      passes.forEach((pass, j) => {
        const dy = dys[j] as tf.Tensor2D;
        // The new sums are returned, not kept, so the enclosing tidy frees them if a later chunk fails.
        const { sums, drift } = tf.tidy(() => {
          const input = pass.kept ?? (() => (this.options.load as NonNullable<BeginOptions['load']>)(i, j));
          const weight = pass.aux === undefined ? undefined : this.weightOf(i, pass);
          const chunkGrads = backwardChunk(this.host.config, i, j, this.seedOf(i, j), input, dy, pass.rep, weight);
          const updated: tf.NamedTensorMap = {};
          variables.forEach((v, k) => {
            const g = chunkGrads.grads[k];
            if (g === undefined) return;
            const previous = grads.get(v.name);
            updated[v.name] = previous === undefined ? g : tf.add(previous, g);
          });
          return { sums: updated, drift: chunkGrads.drift };
        });
        for (const [name, sum] of Object.entries(sums)) {
          grads.get(name)?.dispose();
          grads.set(name, sum);
        }
        if (drift !== undefined) drifts.push({ encoder: i, chunk: j, value: drift });
      });
      if (sizes.length > 1) tf.dispose(dys);
    });
    return drifts;
  }

  /** The loss, required to be a synchronous function returning a scalar tensor. */
  private callLoss(reps: tf.Tensor2D[], extra: E | undefined): tf.Scalar {
    const value = synchronous(this.host.config.loss(reps, extra), () => 'GradCache: the loss');
    check(
      value instanceof tf.Tensor && value.rank === 0,
      'LOSS_NOT_SCALAR',
      () => `GradCache: the loss must return a scalar tensor, but it returned ${describe(value)}; reduce it (e.g. tf.mean).`,
    );
    return value as tf.Scalar;
  }
}

/** A step computed but not yet read: its tensors and where its drifts were measured. */
interface Pending {
  loss: tf.Scalar;
  grads: tf.NamedTensorMap;
  /** [loss, each chunk's replay drift, each gradient's finiteness (1 or 0)], read once. */
  checks: tf.Tensor1D;
  drifts: DriftSite[];
}

/** A step whose checks passed: `GradCacheResult` plus the loss as a number. */
type Settled = GradCacheResult & { lossValue: number };
