import { check } from './errors.js';

/**
 * A learning rate per optimizer step: `step` is 0-based, `totalSteps` the run's length (fit passes
 * it, so a schedule never has to be told the total separately).
 */
export type LearningRateSchedule = (step: number, totalSteps: number) => number;

/** Options of warmupCosine. */
export interface WarmupCosineOptions {
  /** The rate reached after warm-up. */
  peak: number;
  /** The share of all steps spent in linear warm-up, in [0, 1). Default 0.05. */
  warmupFraction?: number;
  /** The rate at the last step. Default 0. */
  final?: number;
}

/**
 * Linear warm-up, then cosine decay (as in SimCLR and most contrastive recipes), over the run's
 * `totalSteps`: with w = ⌈warmupFraction·total⌉, step s < w gives peak·(s+1)/w; then
 * final + ½(peak − final)(1 + cos(π·(s − w)/(total − w))); past the end, final.
 *
 * ```ts
 * const rate = warmupCosine({ peak: 1e-3 }); // rate(step, totalSteps)
 * ```
 */
export function warmupCosine(options: WarmupCosineOptions): LearningRateSchedule {
  const { peak, warmupFraction = 0.05, final = 0 } = options;
  check(Number.isFinite(peak) && peak > 0, 'INVALID_OPTION', () => `warmupCosine: peak must be a positive number, got ${peak}.`);
  check(
    Number.isFinite(warmupFraction) && warmupFraction >= 0 && warmupFraction < 1,
    'INVALID_OPTION',
    () => `warmupCosine: warmupFraction must be in [0, 1), got ${warmupFraction}.`,
  );
  check(final >= 0 && final <= peak, 'INVALID_OPTION', () => `warmupCosine: final must be in [0, peak], got ${final}.`);
  return (step, totalSteps) => {
    const warmupSteps = Math.ceil(warmupFraction * totalSteps);
    if (step < warmupSteps) return (peak * (step + 1)) / warmupSteps;
    const decay = totalSteps - warmupSteps;
    if (decay <= 0 || step >= totalSteps) return final;
    return final + 0.5 * (peak - final) * (1 + Math.cos((Math.PI * (step - warmupSteps)) / decay));
  };
}
