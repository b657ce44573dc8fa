// The engine's building blocks, for the other @gradcache packages (the trainer's strategies, the
// parallel engine, test references) and engines built like them. Not needed to use GradCache; no
// stability promise beyond the workspace.
export {
  backwardChunk,
  backwardChunks,
  encodeChunk,
  forwardChunk,
  repGradients,
  type BackwardJob,
  type ChunkJob,
  type EncodedChunk,
  type RepGradients,
} from './phases.js';
export { applyInOrder, type ApplyOptions } from './apply-in-order.js';
export { defaultMemoryBudget } from './auto-chunk.js';
export { batchChecks, readChecks, relativeDrift, type DriftSite } from './checks.js';
export { batchSize, batchTensors, chunkBatch, chunkRanges, sliceBatch, type ChunkRange } from './chunk-input.js';
export { resolveConfig } from './config.js';
export { LossVariables } from './loss-variables.js';
export { chunkSeed, withSeededRandom } from './random-replay.js';
export { setLearningRate } from './set-learning-rate.js';
export { snapshotState, type StateSnapshot } from './state-snapshot.js';
export { discardTape } from './tape.js';
export { isFrozen } from './types.js';
