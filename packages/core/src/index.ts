export type { GradCacheConfig } from './config.js';
export { GradCacheError, type GradCacheErrorCode } from './errors.js';
export { functionEncoder, type FunctionEncoderSpec } from './function-encoder.js';
export { GradCache, type GradCacheResult, type StepResult } from './grad-cache.js';
export { measureMemory, type MemoryReport } from './memory.js';
export { chunkSeed, withSeededRandom } from './random-replay.js';
export { batchSize, chunkRanges, sliceBatch, splitInput, type ChunkRange } from './split-input.js';
export { snapshotState, type StateSnapshot } from './state-snapshot.js';
export type { Batch, EncodeContext, Encoder, EncoderOutput, LossFunction } from './types.js';
