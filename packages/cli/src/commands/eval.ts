import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { openPairs } from '@gradcache/data/node';
import { evaluatePairs, wordnetRetrievalTask, type WordNetTaskOptions } from '@gradcache/recipes/node';
import { encoderVariables } from '@gradcache/trainer';
import { hasCheckpoint, loadCheckpoint, readCheckpointState } from '@gradcache/trainer/node';
import { choice, formatMetrics, number, parse, setBackend, UsageError } from '../args.js';
import { loadTextModel } from '../text-model.js';

export const EVAL_HELP = `gradcache eval — retrieval quality of a model on held-out pairs (or of a WordNet checkpoint)

Usage: gradcache eval --model <dir> --data <pairs> [--max-length <n>] [--backend wasm|cpu|webgpu]
       gradcache eval --checkpoint <dir> [--split test|validation] [--backend …]

  --model <dir>       a Hugging Face folder or a tfjs model with its tokenizer (as gradcache train writes)
  --data <file>       pairs (.jsonl, .csv, .tsv): every distinct query against the corpus of every
                      positive and negative; a query's positives are relevant
  --checkpoint <dir>  the --out folder of a WordNet gradcache train, or the checkpoint folder itself

Prints recall@1, recall@10, MRR and nDCG@10.
`;

/** `gradcache eval`: --model/--data (your pairs), or --checkpoint (the WordNet recipe). */
export async function evaluate(args: string[], out: (line: string) => void): Promise<void> {
  const values = parse('eval', args, {
    model: { type: 'string' },
    data: { type: 'string' },
    'max-length': { type: 'string' },
    checkpoint: { type: 'string' },
    split: { type: 'string' },
    backend: { type: 'string' },
  });
  if (values['help'] === true) return out(EVAL_HELP);
  const modelDir = values['model'] as string | undefined;
  const dir = values['checkpoint'] as string | undefined;
  if (modelDir !== undefined || values['data'] !== undefined) {
    const dataPath = values['data'] as string | undefined;
    if (modelDir === undefined || dataPath === undefined)
      throw new UsageError('--model and --data go together. See gradcache eval --help.');
    const maxLength = values['max-length'] === undefined ? undefined : number('max-length', values['max-length'], 0, { min: 2 });
    await setBackend(values['backend']);
    const file = await openPairs(dataPath);
    const pairs = await file.readAll().finally(() => file.close());
    const model = await loadTextModel(modelDir, maxLength === undefined ? {} : { maxLength });
    try {
      out(`${dataPath} with ${model.description}: ${formatMetrics(await evaluatePairs(model, pairs))}`);
    } finally {
      model.dispose();
    }
    return;
  }
  if (dir === undefined) throw new UsageError('give --model and --data, or --checkpoint. See gradcache eval --help.');
  const split = choice('split', values['split'], ['test', 'validation'] as const, 'test');
  await setBackend(values['backend']);
  // The --out folder of train (checkpoints/ inside it), or a folder saveCheckpoint wrote directly.
  const checkpoints = (await hasCheckpoint(dir)) ? dir : join(dir, 'checkpoints');
  if (!(await hasCheckpoint(checkpoints))) {
    throw new UsageError(`--checkpoint: no checkpoint in ${dir} or ${checkpoints}; run gradcache train --out ${dir} first.`);
  }
  // The task's options come from the checkpoint, so the towers are rebuilt as they were trained.
  const { meta } = await readCheckpointState(checkpoints);
  if (meta['task'] !== 'wordnet')
    throw new UsageError(`--checkpoint: ${checkpoints} is not a WordNet run; evaluate a model folder with --model and --data.`);
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
