import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { wordnetRetrievalTask } from '@gradcache/recipes/node';
import { encoderVariables, fit, STRATEGIES, warmupCosine } from '@gradcache/trainer';
import { consoleProgress, hasCheckpoint, jsonlLog, loadCheckpoint, saveCheckpoint } from '@gradcache/trainer/node';
import { choice, formatMetrics, number, parse, setBackend, UsageError } from '../args.js';

export const TRAIN_HELP = `gradcache train — train a retriever on WordNet (definition → words) with GradCache

Usage: gradcache train [options]

  --strategy <s>      cached (GradCache, default) | full | accumulate | small
  --batch <n>         rows per optimizer step (full, cached, accumulate) [256]
  --chunk <n>         rows per chunk; per step for small              [32]
  --epochs <n>                                                        [4]
  --lr <x>            peak learning rate (Adam, 5 % warm-up + cosine) [0.005]
  --seed <n>          initial weights, batch order, dropout           [0]
  --train-pairs <n>   use the first n training pairs                  [all]
  --backend <b>       wasm | cpu | webgpu                             [wasm]
  --out <dir>         checkpoints/ and metrics.jsonl                  [runs/wordnet]
  --resume            continue from the checkpoint in --out
  -h, --help
`;

/** `gradcache train`: the WordNet recipe, a checkpoint after each epoch, validation metrics at the end. */
export async function train(args: string[], out: (line: string) => void): Promise<void> {
  const values = parse('train', args, {
    strategy: { type: 'string' },
    batch: { type: 'string' },
    chunk: { type: 'string' },
    epochs: { type: 'string' },
    lr: { type: 'string' },
    seed: { type: 'string' },
    'train-pairs': { type: 'string' },
    backend: { type: 'string' },
    out: { type: 'string' },
    resume: { type: 'boolean' },
  });
  if (values['help'] === true) return out(TRAIN_HELP);
  // Every flag is checked before any work starts (no folder made, no data read).
  const strategy = choice('strategy', values['strategy'], STRATEGIES, 'cached');
  const batchSize = number('batch', values['batch'], 256, { min: 1 });
  const chunkSize = number('chunk', values['chunk'], 32, { min: 1 });
  const epochs = number('epochs', values['epochs'], 4, { min: 1 });
  const lr = number('lr', values['lr'], 0.005, { integer: false });
  if (!(lr > 0)) throw new UsageError(`--lr must be a number > 0, got '${String(values['lr'])}'.`);
  const seed = number('seed', values['seed'], 0);
  const trainPairs = values['train-pairs'] === undefined ? undefined : number('train-pairs', values['train-pairs'], 0, { min: 2 });
  const dir = (values['out'] as string | undefined) ?? join('runs', 'wordnet');
  await setBackend(values['backend']);

  const taskOptions = { seed, ...(trainPairs === undefined ? {} : { trainPairs }) };
  const task = await wordnetRetrievalTask(taskOptions);
  const optimizer = tf.train.adam(lr);
  const variables = encoderVariables(task.encoders);
  const checkpoints = join(dir, 'checkpoints');
  const meta = { task: 'wordnet', taskOptions, strategy, batchSize, chunkSize, epochs, lr, seed };
  let start = { epoch: 0, batch: 0, step: 0 };
  if (values['resume'] === true) {
    if (!(await hasCheckpoint(checkpoints)))
      throw new UsageError(`--resume: no checkpoint in ${checkpoints}; train without --resume first.`);
    const state = await loadCheckpoint(checkpoints, { variables, optimizer });
    start = state.position;
    out(`resumed at step ${start.step} (epoch ${start.epoch + 1}, batch ${start.batch})`);
  }
  const rowsPerStep = strategy === 'small' ? chunkSize : batchSize;
  const totalSteps = Math.floor(task.train.size / rowsPerStep) * epochs;
  out(
    `WordNet definition → words on ${tf.getBackend()}: ${task.train.size} training pairs, ${strategy}, batch ${rowsPerStep}, ${totalSteps} steps → ${dir}`,
  );
  await fit({
    ...task,
    optimizer,
    data: task.train,
    batchSize,
    chunkSize,
    strategy,
    epochs,
    seed,
    start,
    learningRate: warmupCosine({ peak: lr }),
    callbacks: [
      consoleProgress({ label: strategy }),
      jsonlLog(join(dir, 'metrics.jsonl'), { strategy }),
      {
        onEpochEnd: async (_epoch, position) =>
          void (await saveCheckpoint(checkpoints, { variables, optimizer, state: { position, meta } })),
      },
    ],
  });
  out(`validation: ${formatMetrics(await task.evaluate('validation'))}`);
  optimizer.dispose();
  task.dispose();
}
