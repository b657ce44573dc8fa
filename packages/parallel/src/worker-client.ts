import { createRequire } from 'node:module';
import { dirname, extname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { ParallelError } from './errors.js';
import { buffersOf, type Reply, type Request } from './protocol.js';

interface Pending {
  resolve: (value: unknown) => void;
  reject: (error: Error) => void;
}

/** One worker thread and its requests in flight: a request is a promise of the worker's reply. */
export class WorkerClient {
  private nextId = 0;
  private readonly pending = new Map<number, Pending>();
  /** Set when the thread failed or exited: every later request fails with it. */
  failure: ParallelError | undefined;
  /** False once the thread has exited. */
  alive = true;
  readonly exited: Promise<void>;
  readonly worker: Worker;

  constructor(readonly index: number) {
    this.worker = startWorker();
    this.worker.on('message', (reply: Reply) => {
      const pending = this.pending.get(reply.id);
      if (pending === undefined) return;
      this.pending.delete(reply.id);
      if (reply.ok) pending.resolve(reply.result);
      else pending.reject(new ParallelError('WORKER_FAILED', `worker ${index}: ${reply.error.message}`, reply.error));
    });
    this.worker.on('error', (error) =>
      this.fail(
        new ParallelError('WORKER_FAILED', `worker ${index} crashed: ${error.message}`, { name: error.name, message: error.message }),
      ),
    );
    this.exited = new Promise((resolve) => {
      this.worker.on('exit', (code) => {
        this.alive = false;
        this.fail(
          new ParallelError('WORKER_EXITED', `worker ${index} exited (code ${code}) in the middle of a step; nothing was applied.`),
        );
        resolve();
      });
    });
  }

  request<T>(request: Request): Promise<T> {
    if (this.failure !== undefined) return Promise.reject(this.failure);
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.worker.postMessage({ id, request }, buffersOf(request));
    });
  }

  /** Terminates the thread and waits until it has exited. */
  async stop(): Promise<void> {
    await this.worker.terminate();
    await this.exited;
  }

  private fail(error: ParallelError): void {
    this.failure ??= error;
    for (const p of this.pending.values()) p.reject(this.failure);
    this.pending.clear();
  }
}

/**
 * Sends each worker its request (built per worker; undefined: none) and waits for all; any failure
 * fails the call, after the others have dropped what they held for the batch.
 */
export async function requestAll<T>(clients: readonly WorkerClient[], build: (worker: number) => Request | undefined): Promise<T[]> {
  const failed = clients.find((c) => c.failure !== undefined);
  if (failed !== undefined) throw failed.failure as ParallelError;
  const results = await Promise.allSettled(
    clients.map((c, k) => {
      const request = build(k);
      return request === undefined ? Promise.resolve(undefined as T) : c.request<T>(request);
    }),
  );
  const rejected = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (rejected !== undefined) {
    await resetAll(clients);
    throw rejected.reason instanceof ParallelError ? rejected.reason : new ParallelError('WORKER_FAILED', String(rejected.reason));
  }
  return results.map((r) => (r as PromiseFulfilledResult<T>).value);
}

/** Asks every live worker to drop what it holds for the current batch. */
export async function resetAll(clients: readonly WorkerClient[]): Promise<void> {
  await Promise.allSettled(clients.filter((c) => c.failure === undefined).map((c) => c.request({ type: 'reset' })));
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
