export { benchmark, benchmarkTable, type BenchmarkOptions, type BenchmarkRow } from './benchmark.js';
export { TrainerError, type TrainerErrorCode } from './errors.js';
export { encodeAll, knnAccuracy, retrievalMetrics, type RetrievalMetrics } from './evaluate.js';
export {
  fit,
  setLearningRate,
  type Evaluation,
  type FitCallbacks,
  type FitOptions,
  type FitResult,
  type OutOfMemoryEvent,
  type Position,
  type StepLog,
  type TrainingData,
} from './fit.js';
export { warmupCosine, type LearningRateSchedule, type WarmupCosineOptions } from './schedule.js';
export { accumulatedGradients, encoderVariables, fullBatchGradients, STRATEGIES, type Strategy } from './strategies.js';
