import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '@gradcache/backend';
import { encoderVariables, fit, STRATEGIES, type Strategy, TrainerError, warmupCosine } from '@gradcache/trainer';
import { consoleProgress, hasCheckpoint, jsonlLog, loadCheckpoint, saveCheckpoint, wordnetRetrievalTask } from '@gradcache/trainer/node';

/** A bad command line: printed with the command's usage, exit code 2. */
export class UsageError extends Error {
  override name = 'UsageError';
}

const TRAIN_HELP = `gradcache train — train a retriever on WordNet (definition → words) with GradCache

Usage: gradcache train [options]

  --strategy <s>      cached (GradCache, default) | accumulate | small
  --batch <n>         rows per optimizer step (cached, accumulate)   [256]
  --chunk <n>         rows per chunk; per step for small              [32]
  --epochs <n>                                                        [4]
  --lr <x>            peak learning rate (Adam, warm-up + cosine)     [0.005]
  --seed <n>          initial weights, batch order, dropout           [0]
  --train-pairs <n>   use the first n training pairs                  [all]
  --backend <b>       wasm | cpu                                      [wasm]
  --out <dir>         checkpoints and metrics.jsonl                   [runs/wordnet]
  --resume            continue from the checkpoint in --out
  -h, --help
`;

const EVAL_HELP = `gradcache eval — evaluate a checkpoint written by gradcache train

Usage: gradcache eval --checkpoint <dir> [--split test|validation] [--backend wasm|cpu]

Prints recall@1, recall@10, MRR and nDCG@10 of definition → words retrieval on the split.
`;

const HELP = `gradcache — exact large-batch contrastive learning on one device

Usage: gradcache <command> [options]

Commands:
  train   train a model (gradcache train --help)
  eval    evaluate a checkpoint (gradcache eval --help)
`;

function number(name: string, value: string | undefined, fallback: number, integer = true): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isFinite(n) || (integer && !Number.isInteger(n)) || n < 0) {
    throw new UsageError(`--${name} must be a ${integer ? 'non-negative integer' : 'non-negative number'}, got '${value}'.`);
  }
  return n;
}

type Options = Record<string, { type: 'string' | 'boolean'; short?: string }>;

/** Parses flags strictly (unknown flags and missing values are errors): string and boolean values by name. */
function parse(args: string[], options: Options, help: string): { values: Record<string, string | boolean | undefined> } {
  try {
    const { values } = parseArgs({
      args,
      options: { ...options, help: { type: 'boolean', short: 'h' } },
      strict: true,
      allowPositionals: false,
    });
    return { values: values as Record<string, string | boolean | undefined> };
  } catch (error) {
    throw new UsageError(`${(error as Error).message}\n\n${help}`);
  }
}

async function setBackend(value: string | undefined): Promise<void> {
  const backend = value ?? 'wasm';
  if (backend !== 'wasm' && backend !== 'cpu') throw new UsageError(`--backend must be wasm or cpu, got '${backend}'.`);
  // tfjs's banner ("looks like you are running TensorFlow.js in Node.js") would interleave with the
  // progress output; the backend is named in the first line instead.
  tf.env().set('PROD', true);
  await initBackend(backend);
}

async function train(args: string[], out: (line: string) => void): Promise<void> {
  const { values } = parse(
    args,
    {
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
    },
    TRAIN_HELP,
  );
  if (values['help'] === true) return out(TRAIN_HELP);
  const strategy = (values['strategy'] ?? 'cached') as Strategy;
  if (!STRATEGIES.includes(strategy)) throw new UsageError(`--strategy must be one of ${STRATEGIES.join(', ')}, got '${strategy}'.`);
  const batchSize = number('batch', values['batch'] as string | undefined, 256);
  const chunkSize = number('chunk', values['chunk'] as string | undefined, 32);
  const epochs = number('epochs', values['epochs'] as string | undefined, 4);
  const lr = number('lr', values['lr'] as string | undefined, 0.005, false);
  const seed = number('seed', values['seed'] as string | undefined, 0);
  const trainPairs = values['train-pairs'] === undefined ? undefined : number('train-pairs', values['train-pairs'] as string, 0);
  const dir = (values['out'] as string | undefined) ?? join('runs', 'wordnet');
  await setBackend(values['backend'] as string | undefined);

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
    learningRate: warmupCosine({ peak: lr, warmupSteps: Math.ceil(totalSteps / 20), totalSteps }),
    callbacks: [
      consoleProgress({ label: strategy }),
      jsonlLog(join(dir, 'metrics.jsonl'), { strategy }),
      {
        onEpochEnd: async (_epoch, position) =>
          void (await saveCheckpoint(checkpoints, { variables, optimizer, state: { position, meta } })),
      },
    ],
  });
  const metrics = task.evaluate('validation');
  out(`validation: ${formatMetrics(metrics)}`);
  optimizer.dispose();
  task.dispose();
}

function formatMetrics(m: { recall: Record<number, number>; mrr: number; ndcg10: number; queries: number }): string {
  const pct = (x: number | undefined): string => `${(100 * (x ?? Number.NaN)).toFixed(1)}%`;
  return `recall@1 ${pct(m.recall[1])}  recall@10 ${pct(m.recall[10])}  MRR ${m.mrr.toFixed(3)}  nDCG@10 ${m.ndcg10.toFixed(3)}  (${m.queries} queries)`;
}

async function evaluate(args: string[], out: (line: string) => void): Promise<void> {
  const { values } = parse(args, { checkpoint: { type: 'string' }, split: { type: 'string' }, backend: { type: 'string' } }, EVAL_HELP);
  if (values['help'] === true) return out(EVAL_HELP);
  const dir = values['checkpoint'] as string | undefined;
  if (dir === undefined) throw new UsageError(`--checkpoint is required.\n\n${EVAL_HELP}`);
  const split = (values['split'] as string | undefined) ?? 'test';
  if (split !== 'test' && split !== 'validation') throw new UsageError(`--split must be test or validation, got '${split}'.`);
  await setBackend(values['backend'] as string | undefined);
  const checkpoints = join(dir, 'checkpoints');
  if (!(await hasCheckpoint(checkpoints)))
    throw new UsageError(`--checkpoint: no checkpoint in ${checkpoints}; run gradcache train --out ${dir} first.`);
  // The task's options come from the checkpoint, so the towers are rebuilt as they were trained.
  const latest = (await readFile(join(checkpoints, 'latest'), 'utf8')).trim();
  const manifest = JSON.parse(await readFile(join(checkpoints, latest, 'checkpoint.json'), 'utf8')) as {
    meta: { taskOptions: Record<string, number>; lr: number };
  };
  const task = await wordnetRetrievalTask(manifest.meta.taskOptions);
  const optimizer = tf.train.adam(manifest.meta.lr);
  const { position } = await loadCheckpoint(checkpoints, { variables: encoderVariables(task.encoders), optimizer });
  out(`${split} after ${position.step} steps: ${formatMetrics(task.evaluate(split))}`);
  optimizer.dispose();
  task.dispose();
}

/** Runs the gradcache command line; returns the exit code. */
export async function main(argv: string[], out: (line: string) => void = (l) => process.stdout.write(`${l}\n`)): Promise<number> {
  const [command, ...rest] = argv;
  try {
    if (command === 'train') await train(rest, out);
    else if (command === 'eval') await evaluate(rest, out);
    else if (command === undefined || command === '--help' || command === '-h' || command === 'help') out(HELP);
    else throw new UsageError(`unknown command '${command}'.\n\n${HELP}`);
    return 0;
  } catch (error) {
    if (error instanceof UsageError || error instanceof TrainerError) {
      process.stderr.write(`gradcache: ${error.message}\n`);
      return 2;
    }
    throw error;
  }
}
