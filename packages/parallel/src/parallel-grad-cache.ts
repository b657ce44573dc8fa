import { pathToFileURL } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import type { Batch, GradCacheResult, LossFunction, StepResult } from '@gradcache/core';
import { applyInOrder, batchSize, chunkRanges, LossVariables, repGradients, setLearningRate, sliceBatch } from '@gradcache/core/internal';
import { check, ParallelError } from './errors.js';
import {
  type BackwardResult,
  batchToWire,
  type ForwardResult,
  fromWire,
  type InitResult,
  type ReplicaState,
  type Request,
  toWire,
  workerOf,
} from './protocol.js';
import { requestAll, resetAll, WorkerClient } from './worker-client.js';

/** Options of `ParallelGradCache.create`. */
export interface ParallelOptions<E = unknown> {
  /** Worker threads, each with its own backend and replica of the encoders. */
  workers: number;
  /**
   * The replica module (a file URL or path) every worker imports: it exports
   * `createReplica(options) → { encoders, optimizer? }`. Worker 0's initial weights are copied to
   * the others, so the module need not seed them.
   */
  replica: URL | string;
  /** Passed to `createReplica` (structured-cloneable). */
  replicaOptions?: unknown;
  /** Rows per chunk: one for every encoder, or one per encoder. */
  chunkSize: number | readonly number[];
  /** The loss over the gathered reps of the whole batch; runs on this (the coordinating) thread. */
  loss: LossFunction<E>;
  /**
   * Which variables of this thread the loss trains (a temperature), as GradCache's lossVariables:
   * 'auto' (default) — those the loss reads; a list; or 'none'. `step` applies them with `lossOptimizer`.
   */
  lossVariables?: 'auto' | 'none' | readonly tf.Variable[];
  /** Applies the loss variables' gradients in `step`; required when the loss trains any. */
  lossOptimizer?: tf.Optimizer;
  /** Base seed of random replay: chunk j of encoder i replays chunkSeed(seed, batchIndex, i, j) on whichever worker. Default 0. */
  seed?: number;
  /** The workers' backend. Default 'wasm'. */
  backend?: 'wasm' | 'cpu';
  /** Largest allowed replay drift, or false (as GradCache's replayTolerance). Default 1e-4. */
  replayTolerance?: number | false;
  /** Clip the gradients to this global L2 norm in `step` (as GradCache's clipNorm). */
  clipNorm?: number;
}

/** One batch's results, gathered here: the loss, the workers' gradient sum (flat) and the loss variables' gradients. */
interface Gathered {
  loss: number;
  flat: Float32Array;
  lossGrads: [tf.Variable, tf.Tensor][];
}

/**
 * GradCache over worker threads (data parallelism), for more than one core. One batch:
 *
 * 1. each worker encodes its shard of chunks (contiguous blocks of every encoder's chunks) without
 *    a tape (`forwardChunk`) and sends the reps back;
 * 2. this thread gathers them in order and runs phase 2 (`repGradients`), then sends each worker its
 *    chunks' slices of the rep gradients;
 * 3. each worker re-encodes its chunks with the same randomness (`backwardChunks`) and sends its
 *    gradient sum; the sums are added here once, in worker order (an all-reduce), and every replica
 *    applies the same update (`applyInOrder`) — so replicas stay bit-identical.
 *
 * The phases are core's (phases.ts), so frozen encoders, auxiliary losses, the loss checks and
 * `lossVariables: 'auto'` behave as in one process; chunk j of encoder i replays the seed of its
 * global index on whichever worker runs it, so the gradient is the one-process GradCache gradient for
 * any number of workers. A worker that throws or exits fails the batch with a ParallelError before
 * anything is applied anywhere.
 *
 * ```ts
 * const parallel = await ParallelGradCache.create({ workers: 2, replica: new URL('./towers.js', import.meta.url),
 *   chunkSize: 32, loss: ([q, d]) => infoNCE(q!, d!, { temperature: 0.05 }) });
 * const { loss } = await parallel.step([queries, docs]);
 * await parallel.close();
 * ```
 */
export class ParallelGradCache<E = unknown> {
  private nextBatch = 0;
  private closed = false;
  /** The last rate `setLearningRate` set: a restarted replica gets it too. */
  private learningRate: number | undefined;
  private readonly lossVariables: LossVariables;

  private constructor(
    private readonly clients: WorkerClient[],
    private readonly init: Request,
    private readonly options: ParallelOptions<E>,
    private readonly layout: InitResult,
    private readonly chunkSizes: readonly number[],
  ) {
    this.lossVariables = new LossVariables(options.lossVariables ?? 'auto');
  }

  /** Starts the workers, builds a replica in each, and copies worker 0's weights to the others. */
  static async create<E>(options: ParallelOptions<E>): Promise<ParallelGradCache<E>> {
    const { workers, replica, replayTolerance, lossVariables = 'auto' } = options;
    check(
      Number.isInteger(workers) && workers >= 1,
      'INVALID_OPTION',
      () => `ParallelGradCache.create: workers must be an integer ≥ 1, got ${String(workers)}.`,
    );
    check(
      replica instanceof URL || typeof replica === 'string',
      'INVALID_OPTION',
      () => `ParallelGradCache.create: replica must be a module URL or path exporting createReplica, got ${String(replica)}.`,
    );
    check(
      replayTolerance === undefined || replayTolerance === false || (typeof replayTolerance === 'number' && replayTolerance >= 0),
      'INVALID_OPTION',
      () => `ParallelGradCache.create: replayTolerance must be a number ≥ 0 or false, got ${String(replayTolerance)}.`,
    );
    check(
      lossVariables === 'auto' ||
        lossVariables === 'none' ||
        (Array.isArray(lossVariables) && lossVariables.every((v) => v instanceof tf.Variable)),
      'INVALID_OPTION',
      () => `ParallelGradCache.create: lossVariables must be 'auto', 'none' or an array of tf.Variable, got ${String(lossVariables)}.`,
    );
    const href = replica instanceof URL ? replica.href : pathToFileURL(replica).href;
    const clients = Array.from({ length: workers }, (_, k) => new WorkerClient(k));
    try {
      const init = {
        type: 'init',
        replica: href,
        options: options.replicaOptions,
        backend: options.backend ?? 'wasm',
        seed: options.seed ?? 0,
      } as const;
      const layouts = await requestAll<InitResult>(clients, () => init);
      const first = layouts[0] as InitResult;
      const encoders = first.frozen.length;
      const sizes = typeof options.chunkSize === 'number' ? Array<number>(encoders).fill(options.chunkSize) : [...options.chunkSize];
      check(
        sizes.length === encoders && sizes.every((s) => Number.isInteger(s) && s > 0),
        'INVALID_OPTION',
        () =>
          `ParallelGradCache.create: chunkSize must be a positive integer, or one per encoder (${encoders}), got ${String(options.chunkSize)}.`,
      );
      await requestAll(clients, (k) => (k === 0 ? undefined : { type: 'setWeights', buffer: first.weights.slice(0) }));
      return new ParallelGradCache(clients, init, options, first, sizes);
    } catch (error) {
      await Promise.all(clients.map((c) => c.stop()));
      throw error;
    }
  }

  /** The index the next batch gets (a failed batch used one too); random replay seeds each chunk by it (as GradCache's batchIndex). */
  get batchIndex(): number {
    return this.nextBatch;
  }

  /** Sets the next batch's index: to retry a failed batch with the same replay, or to resume from a checkpoint. */
  set batchIndex(value: number) {
    check(
      Number.isInteger(value) && value >= 0,
      'INVALID_OPTION',
      () => `ParallelGradCache.batchIndex: must be an integer ≥ 0 (the batch to resume at), got ${String(value)}.`,
    );
    this.nextBatch = value;
  }

  /** The number of workers. */
  get workers(): number {
    return this.clients.length;
  }

  /** Worker threads still running (all of them until one dies or `close`). */
  get liveWorkers(): number {
    return this.clients.filter((c) => c.alive).length;
  }

  /**
   * The loss and gradients of the whole batch, as one GradCache process would compute them, as
   * tensors on this thread (the caller owns them): the replicas' variables by worker 0's names, then
   * the loss variables'. Nothing is applied.
   */
  async computeGradients(inputs: readonly Batch[], extra?: E): Promise<GradCacheResult> {
    const { loss, flat, lossGrads } = await this.run(inputs, extra);
    let at = 0;
    const grads: tf.NamedTensorMap = {};
    for (const { name, shape } of this.layout.variables) {
      const size = shape.reduce((a, b) => a * b, 1);
      grads[name] = tf.tensor(flat.subarray(at, at + size), shape);
      at += size;
    }
    for (const [v, g] of lossGrads) grads[v.name] = g;
    const { gradNorm, nonFinite } = await this.inspect(flat, lossGrads);
    return { loss: tf.scalar(loss), grads, nonFinite, gradNorm };
  }

  /**
   * One training step: the gradients, summed once, then the same update in every replica (and the
   * loss variables' on this thread), clipped to `clipNorm`. A non-finite loss or gradient, or a
   * failed worker, throws before anything is applied anywhere.
   */
  async step(inputs: readonly Batch[], extra?: E): Promise<StepResult> {
    check(
      this.layout.hasOptimizer,
      'INVALID_OPTION',
      () => 'ParallelGradCache.step: createReplica returned no optimizer; return one, or use computeGradients.',
    );
    const { loss, flat, lossGrads } = await this.run(inputs, extra);
    try {
      const { gradNorm, nonFinite } = await this.inspect(flat, lossGrads);
      check(
        nonFinite.length === 0,
        'GRADS_NOT_FINITE',
        () =>
          `ParallelGradCache.step: the gradients of ${nonFinite.join(', ')} hold NaN or Infinity (the loss, ${loss}, is finite); nothing was applied.`,
      );
      const { lossOptimizer } = this.options;
      check(
        lossGrads.length === 0 || lossOptimizer !== undefined,
        'INVALID_OPTION',
        () =>
          `ParallelGradCache.step: the loss trains ${lossGrads.map(([v]) => v.name).join(', ')} but there is no lossOptimizer; ` +
          "pass one, or lossVariables: 'none'.",
      );
      const { clipNorm } = this.options;
      const clip = clipNorm === undefined ? {} : { clipNorm };
      await this.requestAll(() => ({ type: 'apply', buffer: flat.slice().buffer as ArrayBuffer, gradNorm, ...clip }));
      if (lossOptimizer !== undefined && lossGrads.length > 0) {
        const grads = Object.fromEntries(lossGrads.map(([v, g]) => [v.name, g]));
        applyInOrder(
          lossOptimizer,
          lossGrads.map(([v]) => v),
          grads,
          { gradNorm, ...clip, caller: 'ParallelGradCache.step' },
        );
      }
      return { loss, gradNorm };
    } finally {
      tf.dispose(lossGrads.map(([, g]) => g));
    }
  }

  /** Sets the learning rate of every replica's optimizer and of `lossOptimizer` (a schedule: `fit` calls it before each step). */
  async setLearningRate(rate: number): Promise<void> {
    check(
      Number.isFinite(rate) && rate >= 0,
      'INVALID_OPTION',
      () => `ParallelGradCache.setLearningRate: rate must be a finite number ≥ 0, got ${String(rate)}.`,
    );
    check(
      this.layout.hasOptimizer,
      'INVALID_OPTION',
      () => 'ParallelGradCache.setLearningRate: createReplica returned no optimizer; return one.',
    );
    await this.requestAll(() => ({ type: 'setLearningRate', rate }));
    this.learningRate = rate;
    if (this.options.lossOptimizer !== undefined) setLearningRate(this.options.lossOptimizer, rate);
  }

  /** Each replica's trainable variables, flattened in order (to check that replicas agree). */
  async weights(): Promise<Float32Array[]> {
    const buffers = await this.requestAll(() => ({ type: 'weights' }) as const);
    return buffers.map((b) => new Float32Array(b as ArrayBuffer));
  }

  /**
   * Replaces every worker that died or crashed by a new one holding the state of a live replica —
   * weights and optimizer state (Adam's moments, iterations and β powers; the rate last set), so training goes on as if
   * nothing had happened: a failed step applied nothing anywhere, so the live replicas hold the
   * weights of the last step that succeeded. Resolves to how many workers were replaced. Throws
   * WORKER_FAILED when no worker is left to copy from (load your last checkpoint into a new pool).
   */
  async restart(): Promise<number> {
    check(!this.closed, 'CLOSED', () => 'ParallelGradCache.restart: the pool is closed; create a new one.');
    const broken = this.clients.filter((c) => c.failure !== undefined).map((c) => c.index);
    if (broken.length === 0) return 0;
    const source = this.clients.find((c) => c.failure === undefined);
    if (source === undefined) {
      throw new ParallelError(
        'WORKER_FAILED',
        'ParallelGradCache.restart: every worker has failed, so no replica holds the weights; create a new pool and load your last checkpoint into it.',
      );
    }
    const state = await source.request<ReplicaState>({ type: 'state' });
    for (const k of broken) {
      await (this.clients[k] as WorkerClient).stop();
      const client = new WorkerClient(k);
      this.clients[k] = client;
      try {
        await client.request(this.init);
        // A copy for each: postMessage moves the buffers it is given.
        await client.request({ type: 'setState', state: structuredClone(state) });
        if (this.learningRate !== undefined) await client.request({ type: 'setLearningRate', rate: this.learningRate });
      } catch (error) {
        await client.stop();
        throw error;
      }
    }
    return broken.length;
  }

  /** Stops every worker; resolves when all threads have exited. Idempotent. */
  async close(): Promise<void> {
    this.closed = true;
    await Promise.all(this.clients.map((c) => c.stop()));
  }

  private requestAll<T>(build: (worker: number) => Request | undefined): Promise<T[]> {
    check(!this.closed, 'CLOSED', () => 'ParallelGradCache: the pool is closed; create a new one.');
    return requestAll<T>(this.clients, build);
  }

  /** The global gradient norm and the names of non-finite gradients, replicas' and loss variables'. */
  private async inspect(
    flat: Float32Array,
    lossGrads: readonly [tf.Variable, tf.Tensor][],
  ): Promise<{ gradNorm: number; nonFinite: string[] }> {
    let squared = 0;
    const nonFinite: string[] = [];
    let at = 0;
    for (const { name, shape } of this.layout.variables) {
      const end = at + shape.reduce((a, b) => a * b, 1);
      let finite = true;
      for (let k = at; k < end; k++) {
        const g = flat[k] as number;
        finite &&= Number.isFinite(g);
        squared += g * g;
      }
      if (!finite) nonFinite.push(name);
      at = end;
    }
    for (const [v, g] of lossGrads) {
      const values = await g.data();
      if (!values.every(Number.isFinite)) nonFinite.push(v.name);
      for (const x of values) squared += x * x;
    }
    return { gradNorm: Math.sqrt(squared), nonFinite };
  }

  /** Phases 1–3 across the workers: the loss, the summed gradient of every replica variable (flat), and the loss variables'. */
  private async run(inputs: readonly Batch[], extra: E | undefined): Promise<Gathered> {
    const { frozen } = this.layout;
    check(
      Array.isArray(inputs) && inputs.length === frozen.length,
      'INVALID_INPUT',
      () =>
        `ParallelGradCache: inputs must hold one batch per encoder (${frozen.length}), got ${Array.isArray(inputs) ? inputs.length : String(inputs)}.`,
    );
    const batchIndex = this.nextBatch++;
    const rows = inputs.map((b, i) => batchSize(b, 'ParallelGradCache', `inputs[${i}]`));
    const ranges = rows.map((n, i) => chunkRanges(n, this.chunkSizes[i] as number));
    const owner = (i: number, j: number) => workerOf(j, (ranges[i] as unknown[]).length, this.clients.length);
    const shards = this.clients.map((_, w) =>
      ranges.flatMap((list, i) => list.flatMap((range, j) => (owner(i, j) === w ? [{ encoderIndex: i, chunkIndex: j, range }] : []))),
    );

    // Phase 1 on the workers: each gets its chunks' inputs (moved, not copied).
    const forwardRequests = await Promise.all(
      shards.map(async (shard) => ({
        type: 'forward' as const,
        batchIndex,
        chunks: await Promise.all(
          shard.map(async ({ encoderIndex, chunkIndex, range }) => {
            const chunk = sliceBatch(inputs[encoderIndex] as Batch, range);
            try {
              return { encoderIndex, chunkIndex, input: await batchToWire(chunk) };
            } finally {
              tf.dispose(chunk as tf.TensorContainer);
            }
          }),
        ),
      })),
    );
    const forwards = await this.requestAll<ForwardResult>((w) => forwardRequests[w]);
    const byChunk = new Map(forwards.flatMap((f) => f.reps.map((r) => [`${r.encoderIndex}/${r.chunkIndex}`, r] as const)));
    const repOf = (i: number, j: number) => byChunk.get(`${i}/${j}`) as ForwardResult['reps'][number];
    const auxWeight = (i: number, j: number): number | undefined =>
      repOf(i, j).auxLoss === null ? undefined : (repOf(i, j).rep.shape[0] as number) / (rows[i] as number);

    // Phase 2 here, on the gathered reps.
    let phase2: { lossValue: tf.Scalar; dys: tf.Tensor[][]; lossGrads: [tf.Variable, tf.Tensor][] };
    try {
      const offered = this.lossVariables.offered();
      phase2 = tf.tidy(() => {
        const reps = ranges.map(
          (list, i) =>
            tf.concat(
              list.map((_, j) => fromWire(repOf(i, j).rep)),
              0,
            ) as tf.Tensor2D,
        );
        const { loss, repGrads, lossGrads } = repGradients(this.options.loss, reps, extra, { frozen, lossVariables: offered });
        const trained = offered.flatMap((v, k) => {
          const g = lossGrads[k];
          if (g === undefined) return [];
          this.lossVariables.seen(v);
          return [[v, g] as [tf.Variable, tf.Tensor]];
        });
        return {
          lossValue: loss,
          dys: repGrads.map((g, i) =>
            g === undefined
              ? []
              : tf.split(
                  g,
                  (ranges[i] ?? []).map((r) => r.size),
                  0,
                ),
          ),
          lossGrads: trained,
        } as unknown as tf.TensorContainer;
      }) as unknown as typeof phase2;
    } catch (error) {
      await resetAll(this.clients);
      throw error;
    }
    const { dys, lossGrads } = phase2;
    try {
      const auxTotal = [...byChunk.values()].reduce(
        (s, r) => s + (r.auxLoss === null ? 0 : r.auxLoss * (auxWeight(r.encoderIndex, r.chunkIndex) as number)),
        0,
      );
      const loss = ((await phase2.lossValue.data())[0] as number) + auxTotal;
      if (!Number.isFinite(loss)) {
        await resetAll(this.clients);
        throw new ParallelError(
          'LOSS_NOT_FINITE',
          `ParallelGradCache: the loss is ${loss}; nothing was applied. Check the inputs for NaN, lower the learning rate.`,
        );
      }
      // Phase 3 on the workers: each chunk of a trained encoder, its slice of the rep gradients.
      const backwardRequests = await Promise.all(
        shards.map(async (shard) => ({
          type: 'backward' as const,
          batchIndex,
          measureDrift: this.options.replayTolerance !== false,
          chunks: await Promise.all(
            shard
              .filter(({ encoderIndex }) => frozen[encoderIndex] !== true)
              .map(async ({ encoderIndex: i, chunkIndex: j }) => {
                const dy = await toWire((dys[i] as tf.Tensor[])[j] as tf.Tensor);
                const weight = auxWeight(i, j);
                return weight === undefined
                  ? { encoderIndex: i, chunkIndex: j, dy }
                  : { encoderIndex: i, chunkIndex: j, dy, auxWeight: weight };
              }),
          ),
        })),
      );
      const partials = await this.requestAll<BackwardResult>((w) => backwardRequests[w]);
      const tolerance = this.options.replayTolerance ?? 1e-4;
      for (const { encoderIndex, chunkIndex, drift } of partials.flatMap((p) => p.drifts)) {
        check(
          tolerance === false || !(drift > tolerance),
          'REPLAY_DRIFT',
          () =>
            `ParallelGradCache: encoder ${encoderIndex} gave other values when re-encoding chunk ${chunkIndex} (max difference ${drift.toExponential(2)} of the largest |rep|); encode must depend only on its input, its variables and Math.random.`,
        );
      }
      // The all-reduce: one sum per batch, in worker order (the same float additions on every run).
      const flat = new Float32Array(this.layout.variables.reduce((n, v) => n + v.shape.reduce((a, b) => a * b, 1), 0));
      for (const p of partials) {
        const part = new Float32Array(p.grads);
        for (let k = 0; k < flat.length; k++) flat[k] = (flat[k] as number) + (part[k] as number);
      }
      return { loss, flat, lossGrads };
    } catch (error) {
      tf.dispose(lossGrads.map(([, g]) => g));
      throw error;
    } finally {
      phase2.lossValue.dispose();
      tf.dispose(dys.flat());
    }
  }
}
