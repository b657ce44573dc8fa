import { check, checkInteger } from './errors.js';

/** A learning rate per optimizer step (0-based). */
export type LearningRateSchedule = (step: number) => number;

/** Options of warmupCosine. */
export interface WarmupCosineOptions {
  /** The rate reached after warm-up. */
  peak: number;
  /** Steps of linear warm-up from peak/warmupSteps to peak. Default 0. */
  warmupSteps?: number;
  /** All steps: the cosine decays from peak to `final` over the steps after warm-up. */
  totalSteps: number;
  /** The rate at the last step. Default 0. */
  final?: number;
}

/**
 * Linear warm-up, then cosine decay (as in SimCLR and most contrastive recipes): step s < w gives
 * peak·(s+1)/w; then final + ½(peak − final)(1 + cos(π·(s − w)/(total − w))); past the end, final.
 */
export function warmupCosine(options: WarmupCosineOptions): LearningRateSchedule {
  const { peak, warmupSteps = 0, totalSteps, final = 0 } = options;
  check(Number.isFinite(peak) && peak > 0, 'INVALID_OPTION', () => `warmupCosine: peak must be a positive number, got ${peak}.`);
  checkInteger('warmupCosine', 'totalSteps', totalSteps, 1);
  checkInteger('warmupCosine', 'warmupSteps', warmupSteps, 0);
  check(
    warmupSteps <= totalSteps,
    'INVALID_OPTION',
    () => `warmupCosine: warmupSteps (${warmupSteps}) exceeds totalSteps (${totalSteps}).`,
  );
  check(final >= 0 && final <= peak, 'INVALID_OPTION', () => `warmupCosine: final must be in [0, peak], got ${final}.`);
  return (step) => {
    if (step < warmupSteps) return (peak * (step + 1)) / warmupSteps;
    const decay = totalSteps - warmupSteps;
    if (decay === 0 || step >= totalSteps) return final;
    return final + 0.5 * (peak - final) * (1 + Math.cos((Math.PI * (step - warmupSteps)) / decay));
  };
}
