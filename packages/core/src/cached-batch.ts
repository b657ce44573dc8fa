import * as tf from '@tensorflow/tfjs-core';
import { applyInOrder } from './apply-in-order.js';
import { batchChecks, type DriftSite, readChecks } from './checks.js';
import { batchTensors, cloneBatch } from './chunk-input.js';
import type { ResolvedConfig } from './config.js';
import { check, describe, GradCacheError } from './errors.js';
import type { LossVariables } from './loss-variables.js';
import { type BackwardJob, backwardChunks, type ChunkJob, forwardChunk, repGradients } from './phases.js';
import { chunkSeed } from './random-replay.js';
import type { BeginOptions, GradCacheResult, StepResult } from './results.js';
import { type StateSnapshot, snapshotState } from './state-snapshot.js';
import { discardTape } from './tape.js';
import { type Batch, type Encoder, isFrozen } from './types.js';

/** What the owning GradCache lends a batch. */
export interface BatchHost<E> {
  readonly config: ResolvedConfig<E>;
  readonly lossVariables: LossVariables;
  /** Trainable variables in the fixed order: encoders' (first appearance), then the loss's. */
  variables(): tf.Variable[];
}

/** `optimizer` must be a tf.Optimizer (INVALID_OPTIMIZER). */
export function checkOptimizer(optimizer: tf.Optimizer, method: string): void {
  check(
    typeof (optimizer as Partial<tf.Optimizer> | null)?.applyGradients === 'function',
    'INVALID_OPTIMIZER',
    () => `${method}: optimizer must be a tf.Optimizer (e.g. tf.train.adam(1e-3)), got ${describe(optimizer)}.`,
  );
}

/** One chunk's first pass: its rep (and auxiliary loss), owned by the batch; a copy of its input if kept. */
interface FirstPass {
  rep: tf.Tensor2D;
  auxLoss: tf.Scalar | undefined;
  kept: Batch | undefined;
}

/** Phases 2 and 3 computed, nothing read back yet. */
interface Pending {
  loss: tf.Scalar;
  grads: tf.NamedTensorMap;
  /** `batchChecks`: [loss, squared gradient norm, each chunk's drift, each gradient's finiteness], read once. */
  checks: tf.Tensor1D;
  sites: DriftSite[];
}

/**
 * One batch of gradient caching fed a chunk at a time, for batches that never exist at once (data
 * from a loader; 1024² images re-loaded for the re-forward). `gradCache.begin()` starts one:
 *
 * 1. `add(encoderIndex, chunk?)` runs phase 1 on the chunk now and keeps only its rep;
 * 2. `computeGradients` / `step` (and their async forms) run phases 2 and 3 (phases.ts) — each chunk
 *    re-encoded from the copy kept, or re-loaded by `load` — read the batch's checks once, and end it.
 *
 * State variables end as one chunked forward leaves them. On any error nothing leaks and every
 * variable is put back; `abandon()` drops a batch. `GradCache.computeGradients(inputs)` is this with
 * every chunk of `inputs` added.
 *
 * ```ts
 * const batch = gradCache.begin({ load: (i, j) => loadChunk(i, j) }); // chunk j of encoder i, again
 * for (let j = 0; j < 64; j++) for (const i of [0, 1]) batch.add(i); // 64 chunks, one alive at a time
 * const { loss } = await batch.stepAsync(optimizer);
 * ```
 */
export class CachedBatch<E = unknown> {
  private readonly chunks: FirstPass[][];
  private readonly initialState: StateSnapshot;
  private open = true;
  private released = false;

  constructor(
    private readonly host: BatchHost<E>,
    /** The batch index of random replay: chunk j of encoder i replays `chunkSeed(seed, batchIndex, i, j)`. */
    readonly batchIndex: number,
    private readonly options: BeginOptions = {},
    /** Called once when the batch ends, however it ends. */
    private readonly onEnd: () => void = () => {},
  ) {
    check(
      options.load === undefined || typeof options.load === 'function',
      'INVALID_OPTION',
      () => `GradCache.begin: load must be a function (encoderIndex, chunkIndex) => Batch, got ${describe(options.load)}.`,
    );
    this.chunks = host.config.encoders.map(() => []);
    this.initialState = snapshotState(this.stateVariables());
  }

  /** Rows added so far, per encoder. */
  get rows(): number[] {
    return this.chunks.map((c) => c.reduce((n, p) => n + p.rep.shape[0], 0));
  }

  /**
   * Phase 1 for one chunk of encoder `encoderIndex`: encodes it now, outside any gradient scope, and
   * keeps its rep. Without `chunk`, it comes from `load(encoderIndex, chunkIndex)`. The caller keeps
   * owning `chunk` and may free it at once (the batch keeps a copy, or, with `load`, nothing). On
   * error the batch is abandoned (nothing leaked, state put back).
   */
  add(encoderIndex: number, chunk?: Batch): void {
    this.checkOpen('add');
    const { encoders } = this.host.config;
    check(
      Number.isInteger(encoderIndex) && encoderIndex >= 0 && encoderIndex < encoders.length,
      'INVALID_OPTION',
      () => `CachedBatch.add: encoderIndex must be in [0, ${encoders.length}), got ${describe(encoderIndex)}.`,
    );
    const { load } = this.options;
    check(
      chunk !== undefined || load !== undefined,
      'INVALID_INPUT',
      () =>
        `CachedBatch.add: no chunk for encoder ${encoderIndex}, and the batch has no load to fetch one; pass a chunk or begin({ load }).`,
    );
    const passes = this.chunks[encoderIndex] as FirstPass[];
    try {
      const input = chunk ?? (() => (load as NonNullable<BeginOptions['load']>)(encoderIndex, passes.length));
      const { rep, auxLoss } = forwardChunk(this.job(encoderIndex, passes.length, input));
      const keep = chunk !== undefined && load === undefined && !isFrozen(encoders[encoderIndex] as Encoder);
      // tf.clone shares the data, so the caller may free its own chunk at once.
      const kept = keep ? (tf.tidy(() => cloneBatch(chunk) as tf.TensorContainer) as Batch) : undefined;
      passes.push({ rep, auxLoss, kept });
    } catch (error) {
      this.abandon();
      throw error;
    }
  }

  /**
   * Phases 2 and 3: the loss of the whole batch and the gradient of every trainable variable, by
   * name (`GradCacheResult`); the caller owns the tensors. Reads one small tensor synchronously; on
   * WebGPU/WebGL use `computeGradientsAsync`. Ends the batch.
   */
  computeGradients(extra?: E): GradCacheResult {
    return this.end(extra, undefined, true) as GradCacheResult;
  }

  /** `computeGradients` with no synchronous read (`await data()`). */
  computeGradientsAsync(extra?: E): Promise<GradCacheResult> {
    return this.end(extra, undefined, false) as Promise<GradCacheResult>;
  }

  /**
   * `computeGradients`, then one optimizer step over every variable in the fixed order
   * (`applyInOrder`, clipped to `clipNorm`), and frees the gradients. A non-finite loss or gradient
   * throws before anything is applied; if anything throws, every variable (trainable and state) is
   * left as it was before the batch.
   */
  step(optimizer: tf.Optimizer, extra?: E): StepResult {
    return this.end(extra, optimizer, true) as StepResult;
  }

  /** `step` with no synchronous read. */
  stepAsync(optimizer: tf.Optimizer, extra?: E): Promise<StepResult> {
    return this.end(extra, optimizer, false) as Promise<StepResult>;
  }

  /** Drops the batch: frees its reps and kept inputs and puts the state variables back. Idempotent. */
  abandon(): void {
    if (!this.open) return;
    this.open = false;
    this.disposeChunks();
    this.initialState.restore();
    this.release();
  }

  /** The one path behind the four entry points: phases 2 and 3, one read (sync or async), then settle. */
  private end(extra: E | undefined, optimizer: tf.Optimizer | undefined, sync: boolean): unknown {
    if (optimizer !== undefined) {
      try {
        checkOptimizer(optimizer, `CachedBatch.${sync ? 'step' : 'stepAsync'}`);
      } catch (error) {
        this.abandon();
        throw error;
      }
    }
    const pending = this.compute(extra);
    const settle = (values: ArrayLike<number>) => this.settle(pending, values, optimizer);
    const failed = (error: unknown): never => {
      this.fail(pending);
      throw error;
    };
    if (!sync) return pending.checks.data().then(settle, failed);
    let values: ArrayLike<number>;
    try {
      values = pending.checks.dataSync();
    } catch (error) {
      return failed(error);
    }
    return settle(values);
  }

  /** Phases 2 and 3 in one tidy, nothing read back. On error, state is restored and the tape dropped. */
  private compute(extra: E | undefined): Pending {
    this.checkOpen('computeGradients');
    const missing = this.chunks.flatMap((c, i) => (c.length === 0 ? [i] : []));
    check(
      missing.length === 0,
      'INPUT_COUNT',
      () => `CachedBatch: no chunk was added for encoder(s) ${missing.join(', ')}; every encoder needs at least one.`,
    );
    this.open = false;
    const { config, lossVariables } = this.host;
    const batchRows = this.rows;
    const finalState = snapshotState(this.stateVariables());
    let reps: tf.Tensor2D[] = [];
    try {
      const pending = tf.tidy(() => {
        // Phase 2 on the whole batch's reps; each chunk's auxiliary loss counts by its share of the batch.
        reps = this.chunks.map((c) =>
          c.length === 1
            ? tf.clone((c[0] as FirstPass).rep)
            : tf.concat(
                c.map((p) => p.rep),
                0,
              ),
        );
        const offered = lossVariables.offered();
        const phase2 = repGradients(config.loss, reps, extra, { frozen: config.encoders.map(isFrozen), lossVariables: offered });
        const auxTerms = this.chunks.flatMap((c, i) =>
          c.flatMap((p) => (p.auxLoss === undefined ? [] : [tf.mul(p.auxLoss, p.rep.shape[0] / (batchRows[i] as number))])),
        );
        const loss = auxTerms.length === 0 ? phase2.loss : (tf.addN([phase2.loss, ...auxTerms]) as tf.Scalar);

        // Phase 3 from the state phase 1 started from: each chunk of each trained encoder, its slice of the rep gradients.
        this.initialState.restore();
        const jobs: BackwardJob[] = this.chunks.flatMap((c, i) => {
          const repGrads = phase2.repGrads[i];
          if (repGrads === undefined) return []; // frozen
          let begin = 0;
          return c.map((p, j) => {
            const rows = p.rep.shape[0];
            const at = begin;
            begin += rows;
            return {
              job: this.job(i, j, p.kept ?? (() => (this.options.load as NonNullable<BeginOptions['load']>)(i, j))),
              dy: c.length === 1 ? repGrads : () => tf.slice(repGrads, at, rows),
              first: p.rep,
              auxWeight: p.auxLoss === undefined ? undefined : rows / (batchRows[i] as number),
            };
          });
        });
        const encoderVariables = [...new Set(config.encoders.filter((e) => !isFrozen(e)).flatMap((e) => e.trainableVariables))];
        const phase3 = backwardChunks(jobs, encoderVariables, config.replayTolerance !== false);
        finalState.restore();

        // Every variable's gradient in the fixed order; one the loss reads directly adds its own.
        const byVariable = new Map(encoderVariables.map((v, k) => [v, phase3.grads[k] as tf.Tensor]));
        offered.forEach((v, k) => {
          const g = phase2.lossGrads[k];
          if (g === undefined) return;
          lossVariables.seen(v);
          const own = byVariable.get(v);
          byVariable.set(v, own === undefined ? g : tf.add(own, g));
        });
        const grads = Object.fromEntries(this.host.variables().map((v) => [v.name, byVariable.get(v) ?? tf.zerosLike(v)]));
        const measured = jobs.flatMap(({ job }, k) => {
          const drift = phase3.drifts[k];
          return drift === undefined ? [] : [{ site: { encoderIndex: job.encoderIndex, chunkIndex: job.chunkIndex }, drift }];
        });
        return {
          loss,
          grads,
          checks: batchChecks(
            loss,
            measured.map((m) => m.drift),
            grads,
          ),
          sites: measured.map((m) => m.site),
        } as unknown as tf.TensorContainer;
      }) as unknown as Pending;
      tf.dispose(reps); // the batch's, even if the loss kept them (tf.keep)
      this.disposeChunks();
      return pending;
    } catch (error) {
      discardTape();
      tf.dispose(reps);
      this.disposeChunks();
      this.initialState.restore();
      this.release();
      throw error;
    } finally {
      finalState.dispose();
    }
  }

  /** Reads the checks: throws on a bad loss, replay or gradient; returns the gradients, or applies them. */
  private settle(pending: Pending, values: ArrayLike<number>, optimizer: tf.Optimizer | undefined): GradCacheResult | StepResult {
    const { config } = this.host;
    try {
      const { lossValue, gradNorm, nonFinite } = readChecks(
        values,
        pending.sites,
        Object.keys(pending.grads),
        config.replayTolerance,
        config.encoders.map((e) => e.name),
      );
      pending.checks.dispose();
      if (optimizer === undefined) return { loss: pending.loss, grads: pending.grads, nonFinite, gradNorm };
      const { clipNorm } = config;
      applyInOrder(optimizer, this.host.variables(), pending.grads, {
        nonFinite,
        gradNorm,
        ...(clipNorm === undefined ? {} : { clipNorm }),
        loss: lossValue,
        caller: 'GradCache.step',
      });
      tf.dispose([pending.loss, pending.grads]);
      return { loss: lossValue, gradNorm };
    } catch (error) {
      this.fail(pending);
      throw error;
    } finally {
      this.release();
    }
  }

  /** A batch that failed after phase 3: frees its tensors and puts the state variables back. */
  private fail(pending: Pending): void {
    tf.dispose([pending.loss, pending.grads, pending.checks]);
    this.initialState.restore();
    this.release();
  }

  /** Frees the state snapshot and tells the owner the batch is over; once. */
  private release(): void {
    if (this.released) return;
    this.released = true;
    this.initialState.dispose();
    this.onEnd();
  }

  private job(encoderIndex: number, chunkIndex: number, input: ChunkJob['input']): ChunkJob {
    const { encoders, seed, getRep } = this.host.config;
    return {
      encoder: encoders[encoderIndex] as Encoder,
      encoderIndex,
      chunkIndex,
      seed: chunkSeed(seed, this.batchIndex, encoderIndex, chunkIndex),
      input,
      getRep: getRep[encoderIndex],
    };
  }

  private stateVariables(): tf.Variable[] {
    return this.host.config.encoders.flatMap((e) => e.stateVariables ?? []);
  }

  private checkOpen(method: string): void {
    if (!this.open) {
      throw new GradCacheError(
        'BATCH_FINISHED',
        `CachedBatch.${method}: this batch has already ended (or failed); begin a new one with gradCache.begin().`,
      );
    }
  }

  private disposeChunks(): void {
    for (const p of this.chunks.flat()) {
      tf.dispose([p.rep, ...(p.auxLoss === undefined ? [] : [p.auxLoss]), ...(p.kept === undefined ? [] : batchTensors(p.kept))]);
    }
    for (const c of this.chunks) c.length = 0;
  }
}
