import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { wordnetRetrievalTask, type WordNetTaskOptions } from '@gradcache/recipes/node';
import { encoderVariables } from '@gradcache/trainer';
import { hasCheckpoint, loadCheckpoint, readCheckpointState } from '@gradcache/trainer/node';
import { choice, formatMetrics, parse, setBackend, UsageError } from '../args.js';

export const EVAL_HELP = `gradcache eval — evaluate a checkpoint written by gradcache train

Usage: gradcache eval --checkpoint <dir> [--split test|validation] [--backend wasm|cpu|webgpu]

  --checkpoint <dir>  the --out folder of gradcache train, or the checkpoint folder itself

Prints recall@1, recall@10, MRR and nDCG@10 of definition → words retrieval on the split.
`;

/** `gradcache eval`: rebuilds the recipe's towers from a checkpoint's meta, loads the weights, evaluates a split. */
export async function evaluate(args: string[], out: (line: string) => void): Promise<void> {
  const values = parse('eval', args, { checkpoint: { type: 'string' }, split: { type: 'string' }, backend: { type: 'string' } });
  if (values['help'] === true) return out(EVAL_HELP);
  const dir = values['checkpoint'] as string | undefined;
  if (dir === undefined) throw new UsageError('--checkpoint is required. See gradcache eval --help.');
  const split = choice('split', values['split'], ['test', 'validation'] as const, 'test');
  await setBackend(values['backend']);
  // The --out folder of train (checkpoints/ inside it), or a folder saveCheckpoint wrote directly.
  const checkpoints = (await hasCheckpoint(dir)) ? dir : join(dir, 'checkpoints');
  if (!(await hasCheckpoint(checkpoints))) {
    throw new UsageError(`--checkpoint: no checkpoint in ${dir} or ${checkpoints}; run gradcache train --out ${dir} first.`);
  }
  // The task's options come from the checkpoint, so the towers are rebuilt as they were trained.
  const { meta } = await readCheckpointState(checkpoints);
  const task = await wordnetRetrievalTask((meta['taskOptions'] ?? {}) as WordNetTaskOptions);
  const optimizer = tf.train.adam(Number(meta['lr'] ?? 0.001));
  try {
    const { position } = await loadCheckpoint(checkpoints, { variables: encoderVariables(task.encoders), optimizer });
    out(`${split} after ${position.step} steps: ${formatMetrics(await task.evaluate(split))}`);
  } finally {
    optimizer.dispose();
    task.dispose();
  }
}
