export { benchmark, benchmarkTable, type BenchmarkOptions, type BenchmarkRow } from './benchmark.js';
export { TrainerError, type TrainerErrorCode } from './errors.js';
export { encodeAll, knnAccuracy, retrievalMetrics, type RetrievalMetrics } from './evaluate.js';
export { setLearningRate } from '@gradcache/core/internal';
export {
  fit,
  type Evaluation,
  type FitCallbacks,
  type FitOptions,
  type FitResult,
  type OutOfMemoryEvent,
  type Pool,
  type PoolFitOptions,
  type Position,
  type RunOptions,
  type StepLog,
  type TrainingData,
} from './fit.js';
export { warmupCosine, type LearningRateSchedule, type WarmupCosineOptions } from './schedule.js';
export { accumulatedGradients, encoderVariables, fullBatchGradients, STRATEGIES, type Strategy } from './strategies.js';
