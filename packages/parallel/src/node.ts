import { createRequire } from 'node:module';
import { dirname, extname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import * as tf from '@tensorflow/tfjs-core';
import { type Batch, batchSize, chunkRanges, type LossFunction, sliceBatch } from '@gradcache/core';
import { check, ParallelError } from './errors.js';
import {
  type BackwardResult,
  batchToWire,
  buffersOf,
  type ForwardResult,
  fromWire,
  type InitResult,
  type Reply,
  type Request,
  toWire,
  workerOf,
} from './protocol.js';

export * from './index.js';
export type { Replica } from './worker.js';

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
  /** The loss over the gathered full-batch reps; runs on this (the coordinating) thread. */
  loss: LossFunction<E>;
  /** Variables of the loss itself (a temperature), on this thread; trained by `lossOptimizer`. */
  lossVariables?: readonly tf.Variable[];
  lossOptimizer?: tf.Optimizer;
  /** Base seed of random replay: chunk j of encoder i replays chunkSeed(seed, step, i, j) on whichever worker. Default 0. */
  seed?: number;
  /** The workers' backend. Default 'wasm'. */
  backend?: 'wasm' | 'cpu';
  /** Largest allowed replay drift (as GradCache's replayTolerance). Default 1e-4. */
  replayTolerance?: number;
}

/** The result of `computeGradients`: tensors on this thread, owned by the caller. */
export type ParallelResult = {
  loss: tf.Scalar;
  /** By variable name (worker 0's names), then the loss variables'. */
  grads: tf.NamedTensorMap;
};

interface Pending {
  resolve: (value: unknown) => void;
  reject: (error: Error) => void;
}

/** One worker thread and its requests in flight. */
class Replica {
  private nextId = 0;
  private readonly pending = new Map<number, Pending>();
  /** Set when the thread failed or exited: every later request fails with it. */
  failure: ParallelError | undefined;
  /** False once the thread has exited. */
  alive = true;
  readonly exited: Promise<void>;

  constructor(
    readonly index: number,
    readonly worker: Worker,
  ) {
    worker.on('message', (reply: Reply) => {
      const pending = this.pending.get(reply.id);
      if (pending === undefined) return;
      this.pending.delete(reply.id);
      if (reply.ok) pending.resolve(reply.result);
      else pending.reject(new ParallelError('WORKER_FAILED', `worker ${index}: ${reply.error.message}`));
    });
    worker.on('error', (error) => this.fail(new ParallelError('WORKER_FAILED', `worker ${index} crashed: ${error.message}`)));
    this.exited = new Promise((resolve) => {
      worker.on('exit', (code) => {
        this.alive = false;
        this.fail(
          new ParallelError('WORKER_EXITED', `worker ${index} exited (code ${code}) in the middle of a step; nothing was applied.`),
        );
        resolve();
      });
    });
  }

  private fail(error: ParallelError): void {
    this.failure ??= error;
    for (const p of this.pending.values()) p.reject(this.failure);
    this.pending.clear();
  }

  request<T>(request: Request): Promise<T> {
    if (this.failure !== undefined) return Promise.reject(this.failure);
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.worker.postMessage({ id, request }, buffersOf(request));
    });
  }
}

/** Sends each worker its request (built per worker; undefined: none) and waits for all; any failure fails the call. */
async function all<T>(replicas: readonly Replica[], build: (worker: number) => Request | undefined): Promise<T[]> {
  const failed = replicas.find((r) => r.failure !== undefined);
  if (failed !== undefined) throw failed.failure as ParallelError;
  const results = await Promise.allSettled(
    replicas.map((r, k) => {
      const request = build(k);
      return request === undefined ? Promise.resolve(undefined as T) : r.request<T>(request);
    }),
  );
  const rejected = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (rejected !== undefined) {
    // Drop what the other workers hold for this step, where they still can.
    await Promise.allSettled(replicas.filter((r) => r.failure === undefined).map((r) => r.request({ type: 'reset' })));
    throw rejected.reason instanceof ParallelError ? rejected.reason : new ParallelError('WORKER_FAILED', String(rejected.reason));
  }
  return results.map((r) => (r as PromiseFulfilledResult<T>).value);
}

/** Terminates every worker and waits until each thread has exited. */
async function stopAll(replicas: readonly Replica[]): Promise<void> {
  await Promise.all(
    replicas.map(async (r) => {
      await r.worker.terminate();
      await r.exited;
    }),
  );
}

/**
 * Starts a worker thread on worker.js beside this file — or, when running from TypeScript source
 * (tests, the benchmarks), on worker.ts through tsx's loader, with the workspace's source condition.
 */
function startWorker(): Worker {
  const ext = extname(fileURLToPath(import.meta.url));
  const url = new URL(`./worker${ext}`, import.meta.url);
  if (ext !== '.ts') return new Worker(url);
  // tsx's ESM API registers its loader in this thread for every import after it.
  const root = dirname(createRequire(import.meta.url).resolve('tsx/package.json'));
  const tsx = pathToFileURL(join(root, 'dist', 'esm', 'api', 'index.mjs')).href;
  const boot = `import(${JSON.stringify(tsx)}).then((m) => { m.register(); return import(${JSON.stringify(url.href)}); })`;
  return new Worker(boot, { eval: true, execArgv: [...new Set([...process.execArgv, '--conditions=@gradcache/source'])] });
}

/**
 * GradCache over worker threads (data parallelism), for more than one core. One step:
 *
 * 1. each worker encodes its shard of chunks (contiguous blocks of every encoder's chunks) without
 *    a tape and sends the reps back;
 * 2. this thread gathers them in order, computes the loss on the full batch and its gradient with
 *    respect to the reps (the cache), and sends each worker its chunks' slices;
 * 3. each worker re-encodes its chunks with the same randomness, back-propagates, and sends its
 *    gradient sum; the sums are added here once, in worker order (an all-reduce), and every replica
 *    applies the same update with its own optimizer — so replicas stay bit-identical.
 *
 * Chunk j of encoder i replays the seed of its global index on whichever worker runs it, so the
 * gradient is the one-process GradCache gradient for any number of workers (no world-size factor:
 * each worker's sum is already a share of the full-batch gradient). Tensors travel as transferred
 * ArrayBuffers. A worker that throws or exits fails the step with a ParallelError before anything
 * is applied anywhere.
 *
 * ```ts
 * const parallel = await ParallelGradCache.create({ workers: 2, replica: new URL('./towers.js', import.meta.url),
 *   chunkSize: 32, loss: ([q, d]) => infoNCE(q!, d!, { temperature: 0.05 }) });
 * const { loss } = await parallel.step([queries, docs]);
 * await parallel.close();
 * ```
 */
export class ParallelGradCache<E = unknown> {
  private stepCount = 0;
  private closed = false;

  private constructor(
    private readonly replicas: readonly Replica[],
    private readonly options: ParallelOptions<E>,
    private readonly layout: InitResult,
  ) {}

  /** Starts the workers, builds a replica in each, and copies worker 0's weights to the others. */
  static async create<E>(options: ParallelOptions<E>): Promise<ParallelGradCache<E>> {
    const { workers, replica } = options;
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
    const href = replica instanceof URL ? replica.href : pathToFileURL(replica).href;
    const replicas = Array.from({ length: workers }, (_, k) => new Replica(k, startWorker()));
    try {
      const init = {
        type: 'init',
        replica: href,
        options: options.replicaOptions,
        backend: options.backend ?? 'wasm',
        seed: options.seed ?? 0,
      } as const;
      const layouts = await all<InitResult>(replicas, () => init);
      const first = layouts[0] as InitResult;
      const sizes = typeof options.chunkSize === 'number' ? Array(first.encoders).fill(options.chunkSize) : [...options.chunkSize];
      check(
        sizes.length === first.encoders && sizes.every((s) => Number.isInteger(s) && s > 0),
        'INVALID_OPTION',
        () =>
          `ParallelGradCache.create: chunkSize must be a positive integer, or one per encoder (${first.encoders}), got ${String(options.chunkSize)}.`,
      );
      await all(replicas, (k) => (k === 0 ? undefined : { type: 'setWeights', buffer: first.weights.slice(0) }));
      return new ParallelGradCache(replicas, options, first);
    } catch (error) {
      await stopAll(replicas);
      throw error;
    }
  }

  /** How many steps have run; the step index of random replay. */
  get steps(): number {
    return this.stepCount;
  }

  /** The number of workers. */
  get workers(): number {
    return this.replicas.length;
  }

  /** Worker threads still running (all of them until one dies or `close`). */
  get liveWorkers(): number {
    return this.replicas.filter((r) => r.alive).length;
  }

  /**
   * The full-batch loss and gradients, as one GradCache process would compute them, as tensors on
   * this thread (the caller owns them). Nothing is applied.
   */
  async computeGradients(inputs: readonly Batch[], extra?: E): Promise<ParallelResult> {
    const { loss, flat, lossGrads } = await this.run(inputs, extra);
    let at = 0;
    const grads: tf.NamedTensorMap = {};
    for (const { name, shape } of this.layout.variables) {
      const size = shape.reduce((a, b) => a * b, 1);
      grads[name] = tf.tensor(flat.subarray(at, at + size), shape);
      at += size;
    }
    (this.options.lossVariables ?? []).forEach((v, k) => {
      grads[v.name] = lossGrads[k] as tf.Tensor;
    });
    return { loss: tf.scalar(loss), grads };
  }

  /**
   * One training step: the gradients, summed once, then the same update in every replica (and the
   * loss variables' on this thread). A non-finite loss or gradient, or a failed worker, throws
   * before anything is applied anywhere.
   */
  async step(inputs: readonly Batch[], extra?: E): Promise<{ loss: number }> {
    check(
      this.layout.hasOptimizer,
      'INVALID_OPTION',
      () => 'ParallelGradCache.step: createReplica returned no optimizer; return one, or use computeGradients.',
    );
    const { loss, flat, lossGrads } = await this.run(inputs, extra);
    try {
      check(
        flat.every(Number.isFinite),
        'GRADS_NOT_FINITE',
        () => `ParallelGradCache.step: the gradients hold NaN or Infinity (the loss, ${loss}, is finite); nothing was applied.`,
      );
      await this.all(() => ({ type: 'apply', buffer: flat.slice().buffer as ArrayBuffer }));
      const { lossVariables = [], lossOptimizer } = this.options;
      if (lossVariables.length > 0 && lossOptimizer !== undefined) {
        lossOptimizer.applyGradients(lossVariables.map((v, k) => ({ name: v.name, tensor: lossGrads[k] as tf.Tensor })));
      }
    } finally {
      tf.dispose(lossGrads);
    }
    return { loss };
  }

  /** Each replica's trainable variables, flattened in order (to check that replicas agree). */
  async weights(): Promise<Float32Array[]> {
    const buffers = await this.all(() => ({ type: 'weights' }) as const);
    return buffers.map((b) => new Float32Array(b as ArrayBuffer));
  }

  /** Stops every worker; resolves when all threads have exited. Idempotent. */
  async close(): Promise<void> {
    this.closed = true;
    await stopAll(this.replicas);
  }

  private all<T>(build: (worker: number) => Request | undefined): Promise<T[]> {
    check(!this.closed, 'CLOSED', () => 'ParallelGradCache: the pool is closed; create a new one.');
    return all<T>(this.replicas, build);
  }

  /** Phases 1–3 across the workers; the summed gradient of every replica variable, flat, and the loss variables'. */
  private async run(inputs: readonly Batch[], extra: E | undefined): Promise<{ loss: number; flat: Float32Array; lossGrads: tf.Tensor[] }> {
    const encoders = this.layout.encoders;
    check(
      Array.isArray(inputs) && inputs.length === encoders,
      'INVALID_INPUT',
      () =>
        `ParallelGradCache: inputs must hold one batch per encoder (${encoders}), got ${Array.isArray(inputs) ? inputs.length : String(inputs)}.`,
    );
    const step = this.stepCount++;
    const sizes = typeof this.options.chunkSize === 'number' ? inputs.map(() => this.options.chunkSize as number) : this.options.chunkSize;
    const rows = inputs.map((b, i) => batchSize(b, 'ParallelGradCache', `inputs[${i}]`));
    const ranges = rows.map((n, i) => chunkRanges(n, sizes[i] as number));
    const owner = (i: number, j: number) => workerOf(j, (ranges[i] as unknown[]).length, this.replicas.length);

    // Phase 1 on the workers: each gets its chunks' inputs (moved, not copied).
    const shards = await Promise.all(
      this.replicas.map(async (_, w) =>
        Promise.all(
          ranges.flatMap((list, i) =>
            list.flatMap((range, j) => {
              if (owner(i, j) !== w) return [];
              return [
                (async () => {
                  const chunk = sliceBatch(inputs[i] as Batch, range);
                  try {
                    return { i, j, input: await batchToWire(chunk) };
                  } finally {
                    tf.dispose(chunk as tf.TensorContainer);
                  }
                })(),
              ];
            }),
          ),
        ),
      ),
    );
    const forwards = await this.all<ForwardResult>((w) => ({ type: 'forward', step, chunks: shards[w] ?? [] }));
    const byChunk = new Map(forwards.flatMap((f) => f.reps.map((r) => [`${r.i}/${r.j}`, r] as const)));

    // Phase 2 here: the loss on the gathered reps and its gradient with respect to them.
    const lossVariables = [...(this.options.lossVariables ?? [])];
    const { lossValue, dys, lossGrads, auxTotal } = tf.tidy(() => {
      const reps = ranges.map(
        (list, i) =>
          tf.concat(
            list.map((_, j) => fromWire((byChunk.get(`${i}/${j}`) as ForwardResult['reps'][number]).rep)),
            0,
          ) as tf.Tensor2D,
      );
      const { value, grads } = tf.engine().gradients(() => this.options.loss(reps, extra), [...reps, ...lossVariables], undefined, true);
      const cache = grads.slice(0, reps.length) as (tf.Tensor | undefined)[];
      return {
        lossValue: value,
        dys: cache.map((g, i) =>
          tf.split(
            g ?? tf.zerosLike(reps[i] as tf.Tensor),
            (ranges[i] ?? []).map((r) => r.size),
            0,
          ),
        ),
        lossGrads: (grads.slice(reps.length) as (tf.Tensor | undefined)[]).map(
          (g, k) => g ?? tf.zerosLike(lossVariables[k] as tf.Variable),
        ),
        auxTotal: [...byChunk.values()].reduce(
          (s, r) => s + (r.aux === null ? 0 : (r.aux * (r.rep.shape[0] as number)) / (rows[r.i] as number)),
          0,
        ),
      };
    });
    const loss = ((await lossValue.data())[0] as number) + auxTotal;
    lossValue.dispose();
    try {
      if (!Number.isFinite(loss)) {
        await this.all(() => ({ type: 'reset' }));
        throw new ParallelError(
          'LOSS_NOT_FINITE',
          `ParallelGradCache: the loss is ${loss}; nothing was applied. Check the inputs for NaN, lower the learning rate.`,
        );
      }
      // Phase 3 on the workers: each chunk's slice of the cache; one gradient sum per worker.
      const jobs = await Promise.all(
        this.replicas.map(async (_, w) =>
          Promise.all(
            (shards[w] ?? []).map(async ({ i, j }) => {
              const rep = byChunk.get(`${i}/${j}`) as ForwardResult['reps'][number];
              const dy = await toWire((dys[i] as tf.Tensor[])[j] as tf.Tensor);
              return rep.aux === null ? { i, j, dy } : { i, j, dy, auxWeight: (rep.rep.shape[0] as number) / (rows[i] as number) };
            }),
          ),
        ),
      );
      const partials = await this.all<BackwardResult>((w) => ({ type: 'backward', step, chunks: jobs[w] ?? [] }));
      const tolerance = this.options.replayTolerance ?? 1e-4;
      for (const { i, j, drift } of partials.flatMap((p) => p.drifts)) {
        check(
          !(drift > tolerance),
          'REPLAY_DRIFT',
          () =>
            `ParallelGradCache: encoder ${i} gave other values when re-encoding chunk ${j} (max difference ${drift.toExponential(2)} of the largest |rep|); encode must depend only on its input, its variables and Math.random.`,
        );
      }
      // The all-reduce: one sum per step, in worker order (the same float additions on every run).
      const flat = new Float32Array(partials[0]?.grads.byteLength === undefined ? 0 : partials[0].grads.byteLength / 4);
      for (const p of partials) {
        const part = new Float32Array(p.grads);
        for (let k = 0; k < flat.length; k++) flat[k] = (flat[k] as number) + (part[k] as number);
      }
      return { loss, flat, lossGrads };
    } catch (error) {
      tf.dispose(lossGrads);
      throw error;
    } finally {
      tf.dispose(dys.flat());
    }
  }
}
