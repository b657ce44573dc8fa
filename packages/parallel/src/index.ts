// The browser-safe part: the protocol and its error class. The worker pool is Node-only:
// `import { ParallelGradCache } from '@gradcache/parallel/node'`.
export { ParallelError, type ParallelErrorCode } from './errors.js';
export {
  workerOf,
  type BackwardResult,
  type ChunkAddress,
  type ForwardResult,
  type InitResult,
  type Reply,
  type Request,
  type WireError,
} from './protocol.js';
