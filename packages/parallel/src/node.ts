// The Node entry: the worker-thread pool. The main entry holds only the protocol and ParallelError.
export * from './index.js';
export { ParallelGradCache, type ParallelOptions } from './parallel-grad-cache.js';
export type { Replica } from './worker.js';
