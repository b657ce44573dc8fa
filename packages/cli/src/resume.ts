import { join } from 'node:path';
import { hasCheckpoint, readCheckpointState } from '@gradcache/trainer/node';
import { UsageError } from './args.js';

/** A setting a resumed run keeps: its key in the checkpoint's meta and the flag that sets it. */
export type RunSettings = Record<string, string>;

/**
 * For `--resume`: the meta of the run in `checkpoints`, with every flag of `settings` the command
 * line leaves out filled in from it (so `gradcache train --model m --data d --resume` continues the
 * same run). Undefined without --resume.
 */
export async function resumeSettings(
  values: Record<string, string | boolean | undefined>,
  checkpoints: string,
  settings: RunSettings,
): Promise<Record<string, unknown> | undefined> {
  if (values['resume'] !== true) return undefined;
  if (!(await hasCheckpoint(checkpoints))) throw new UsageError(`--resume: no checkpoint in ${checkpoints}; train without --resume first.`);
  const { meta } = await readCheckpointState(checkpoints);
  for (const [key, flag] of Object.entries(settings)) {
    const saved = meta[key];
    if (values[flag] === undefined && (typeof saved === 'string' || typeof saved === 'number')) values[flag] = String(saved);
  }
  return meta;
}

/**
 * Refuses a resumed run whose settings differ from the checkpoint's: its learning-rate schedule
 * (warm-up and cosine over all its steps) and its batch order were planned with them, so changing
 * one mid-run would silently restart the schedule or reshuffle the data rather than continue.
 */
export function checkResumed(
  saved: Record<string, unknown> | undefined,
  meta: Record<string, unknown>,
  settings: RunSettings,
  dir: string,
): void {
  if (saved === undefined) return;
  const changed = Object.entries(settings).filter(([key]) => key in saved && JSON.stringify(saved[key]) !== JSON.stringify(meta[key]));
  if (changed.length === 0) return;
  const list = changed.map(([key, flag]) => `--${flag} ${String(meta[key])} (the run's: ${String(saved[key])})`).join(', ');
  throw new UsageError(
    `--resume: ${list} differ${changed.length === 1 ? 's' : ''} from the run in ${dir}. A resumed run keeps its settings — its ` +
      `learning-rate schedule and batch order were planned with them. Drop ${changed.length === 1 ? 'that flag' : 'those flags'} to continue it, ` +
      `or start a new run from its weights (--model ${join(dir, 'model')}, once it has finished).`,
  );
}
