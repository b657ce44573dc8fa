export { benchmark, benchmarkTable, type BenchmarkOptions, type BenchmarkRow, type BenchmarkStrategy } from './benchmark.js';
export { TrainerError, type TrainerErrorCode } from './errors.js';
export { encodeAll, knnAccuracy, retrievalMetrics, type RetrievalMetrics } from './evaluate.js';
export {
  fit,
  setLearningRate,
  STRATEGIES,
  type FitCallbacks,
  type FitOptions,
  type FitResult,
  type Position,
  type StepLog,
  type Strategy,
  type TrainingData,
} from './fit.js';
export { warmupCosine, type LearningRateSchedule, type WarmupCosineOptions } from './schedule.js';
export {
  accumulatedGradients,
  applyGradients,
  encoderVariables,
  fullBatchGradients,
  type ApplyOptions,
  type Gradients,
} from './steps.js';
