import * as tf from '@tensorflow/tfjs-core';
import type { Encoder, LossFunction } from '@gradcache/core';
import { fit, type Strategy, type TrainingData, warmupCosine } from '@gradcache/trainer';
import { consoleProgress } from '@gradcache/trainer/node';

/** What the demos compare: one strategy's run. */
export interface StrategyRun {
  label: string;
  /** The largest peak tensor memory of any step's gradient computation (what the strategy changes). */
  gradientPeakBytes: number;
  /** The largest peak of any whole step, the optimizer update included. */
  peakBytes: number;
  seconds: number;
  steps: number;
}

/** The demos' labels for a strategy at batch B in chunks of C. */
export function strategyLabel(strategy: Strategy, batch: number, chunk: number): string {
  return {
    full: `full batch B=${batch}`,
    cached: `GradCache B=${batch} (chunks of ${chunk})`,
    accumulate: `accumulation ${batch / chunk}×${chunk}`,
    small: `small batch B=${chunk}`,
  }[strategy];
}

/**
 * Trains a task's encoders with one strategy (Adam, 5 % linear warm-up then cosine decay), with a
 * progress bar; reports time and the largest peaks from fit's log.
 */
export async function trainStrategy(
  task: { encoders: readonly Encoder[]; loss: LossFunction; train: TrainingData },
  settings: { strategy: Strategy; batch: number; chunk: number; epochs: number; lr: number; seed: number },
): Promise<StrategyRun> {
  const { strategy, batch, chunk, epochs, lr, seed } = settings;
  const steps = Math.floor(task.train.size / (strategy === 'small' ? chunk : batch)) * epochs;
  const label = strategyLabel(strategy, batch, chunk);
  const optimizer = tf.train.adam(lr);
  const start = performance.now();
  const { history } = await fit({
    encoders: task.encoders,
    loss: task.loss,
    optimizer,
    data: task.train,
    batchSize: batch,
    chunkSize: chunk,
    strategy,
    epochs,
    seed,
    learningRate: warmupCosine({ peak: lr }),
    callbacks: [consoleProgress({ label })],
  });
  const seconds = (performance.now() - start) / 1000;
  optimizer.dispose();
  const max = (f: (h: (typeof history)[number]) => number): number => Math.max(...history.map(f));
  return { label, gradientPeakBytes: max((h) => h.gradientPeakBytes), peakBytes: max((h) => h.peakBytes), seconds, steps };
}
