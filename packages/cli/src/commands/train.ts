import { appendFile, mkdir, rm } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { openPairs } from '@gradcache/data/node';
import { evaluatePairs, PAIR_LOSSES, pairsTask, wordnetRetrievalTask } from '@gradcache/recipes/node';
import {
  encoderVariables,
  type FitCallbacks,
  fit,
  type OutOfMemoryEvent,
  type Position,
  STRATEGIES,
  warmupCosine,
} from '@gradcache/trainer';
import { consoleProgress, jsonlLog, loadCheckpoint, saveCheckpoint } from '@gradcache/trainer/node';
import { bytes, choice, type Flags, formatMetrics, number, parse, setBackend, UsageError } from '../args.js';
import { checkResumed, type RunSettings, resumeSettings } from '../resume.js';
import { stopOnSignal } from '../stop-signal.js';
import { loadTextModel } from '../text-model.js';

export const TRAIN_HELP = `gradcache train — fine-tune a text encoder on your pairs with GradCache (or train the WordNet demo retriever)

Usage: gradcache train --model <dir> --data <pairs> [options]
       gradcache train [options]                      (no --model/--data: the WordNet recipe)

  --model <dir>       a Hugging Face folder (BERT/RoBERTa family, sentence-transformers) or a tfjs
                      model (model.json) with tokenizer.json or vocab.txt beside it
  --data <file>       training pairs: .jsonl ({"anchor", "positive", "negative"?}) or .csv/.tsv with
                      a header (anchor,positive[,negative]); streamed from disk
  --eval <file>       held-out pairs: recall@k, MRR, nDCG@10 every --eval-every steps; best model kept
  --eval-every <n>    steps between evaluations                      [each epoch]
  --loss <l>          infonce (in-batch and hard negatives) | symmetric   [infonce]
  --temperature <x>   softmax temperature                            [0.05]
  --strategy <s>      cached (GradCache, default) | full | accumulate | small
  --batch <n>         rows per optimizer step                        [256; WordNet 256]
  --chunk <n|auto>    rows per chunk, or auto (fits --memory)        [auto; WordNet 32]
  --memory <size>     with --chunk auto: tensor memory a step may use, e.g. 2GiB   [1.5GiB on wasm]
  --max-length <n>    tokens per text                                [the model's]
  --epochs <n>                                                       [1]
  --lr <x>            peak learning rate (Adam, 5 % warm-up + cosine) [2e-5; WordNet 0.01]
  --seed <n>          batch order, dropout (and WordNet's weights)   [0]
  --bad-rows <b>      error | skip (skipped rows are counted)        [error]
  --train-pairs <n>   WordNet only: a fixed random subset of n pairs [all]
  --backend <b>       wasm | cpu | webgpu                            [wasm]
  --out <dir>         model/, best/, checkpoints/, metrics.jsonl     [runs/<data or wordnet>]
  --save-every <n>    steps between checkpoints                      [each epoch]
  --resume            continue the run in --out from its last checkpoint, with its settings
  -h, --help

Writes <out>/model (the fine-tuned model, in the format it was read in), <out>/best (the best by
nDCG@10 when --eval is given), <out>/checkpoints (resumable), <out>/metrics.jsonl and eval.jsonl.
Ctrl-C stops after the current step and saves a checkpoint (exit 130); --resume continues from it.
`;

const FLAGS: Flags = {
  model: { type: 'string' },
  data: { type: 'string' },
  eval: { type: 'string' },
  'eval-every': { type: 'string' },
  loss: { type: 'string' },
  temperature: { type: 'string' },
  strategy: { type: 'string' },
  batch: { type: 'string' },
  chunk: { type: 'string' },
  memory: { type: 'string' },
  'max-length': { type: 'string' },
  epochs: { type: 'string' },
  lr: { type: 'string' },
  seed: { type: 'string' },
  'bad-rows': { type: 'string' },
  'train-pairs': { type: 'string' },
  backend: { type: 'string' },
  out: { type: 'string' },
  'save-every': { type: 'string' },
  resume: { type: 'boolean' },
};

/** What a resumed run keeps (meta key → flag); flags left out on --resume take these values. */
const RUN_SETTINGS: RunSettings = { strategy: 'strategy', batchSize: 'batch', epochs: 'epochs', lr: 'lr', seed: 'seed' };
const PAIRS_SETTINGS: RunSettings = { ...RUN_SETTINGS, loss: 'loss', temperature: 'temperature', data: 'data' };
const WORDNET_SETTINGS: RunSettings = { ...RUN_SETTINGS, chunkSize: 'chunk', trainPairs: 'train-pairs' };

/** Exit code of a run stopped by Ctrl-C or SIGTERM after saving its checkpoint (128 + SIGINT). */
const STOPPED = 130;

/**
 * The callbacks that save `checkpoints` (every `saveEvery` steps and at each epoch's end, never twice
 * for one step) and `finish`, which saves where a stopped run stopped and says how to continue.
 */
function checkpointing(
  checkpoints: string,
  contents: { variables: readonly tf.Variable[]; optimizer: tf.Optimizer; meta: Record<string, unknown> },
  saveEvery: number | undefined,
) {
  let savedAt = -1;
  const save = async (position: Position) => {
    if (position.step === savedAt) return;
    await saveCheckpoint(checkpoints, {
      variables: contents.variables,
      optimizer: contents.optimizer,
      state: { position, meta: contents.meta },
    });
    savedAt = position.step;
  };
  const callbacks: FitCallbacks = {
    onStep: async (_log, position) => {
      if (saveEvery !== undefined && position.step % saveEvery === 0) await save(position);
    },
    onEpochEnd: async (_epoch, position) => save(position),
  };
  return { callbacks, save };
}

/** `gradcache train`: your pairs with --model/--data, else the WordNet recipe. Returns the exit code (0, or 130 when stopped). */
export async function train(args: string[], out: (line: string) => void): Promise<number> {
  const values = parse('train', args, FLAGS);
  if (values['help'] === true) {
    out(TRAIN_HELP);
    return 0;
  }
  if (values['model'] !== undefined || values['data'] !== undefined) return trainPairs(values, out);
  for (const flag of ['eval', 'eval-every', 'loss', 'temperature', 'memory', 'max-length', 'bad-rows']) {
    if (values[flag] !== undefined)
      throw new UsageError(`--${flag} needs --model and --data (without them, train runs the WordNet recipe).`);
  }
  return trainWordNet(values, out);
}

/** Every flag of a run, checked before any work starts (no folder made, no data read). */
function learning(values: Record<string, string | boolean | undefined>, defaults: { lr: number; epochs: number }) {
  const strategy = choice('strategy', values['strategy'], STRATEGIES, 'cached');
  const lr = number('lr', values['lr'], defaults.lr, { integer: false });
  if (!(lr > 0)) throw new UsageError(`--lr must be a number > 0, got '${String(values['lr'])}'.`);
  return {
    strategy,
    batchSize: number('batch', values['batch'], 256, { min: 1 }),
    epochs: number('epochs', values['epochs'], defaults.epochs, { min: 1 }),
    lr,
    seed: number('seed', values['seed'], 0),
    saveEvery: values['save-every'] === undefined ? undefined : number('save-every', values['save-every'], 0, { min: 1 }),
  };
}

async function trainPairs(values: Record<string, string | boolean | undefined>, out: (line: string) => void): Promise<number> {
  const modelDir = values['model'] as string | undefined;
  const dataPath = values['data'] as string | undefined;
  if (modelDir === undefined || dataPath === undefined) throw new UsageError('--model and --data go together. See gradcache train --help.');
  const dir = (values['out'] as string | undefined) ?? join('runs', dataPath.replace(/^.*[\\/]/, '').replace(/\.\w+$/, ''));
  const checkpoints = join(dir, 'checkpoints');
  const saved = await resumeSettings(values, checkpoints, PAIRS_SETTINGS);
  const { strategy, batchSize, epochs, lr, seed, saveEvery } = learning(values, { lr: 2e-5, epochs: 1 });
  const chunkValue = values['chunk'] ?? 'auto';
  const chunkSize = chunkValue === 'auto' ? 'auto' : number('chunk', chunkValue, 32, { min: 1 });
  if (chunkSize === 'auto' && strategy !== 'cached')
    throw new UsageError(`--chunk auto is for the cached strategy; give --chunk a number for ${strategy}.`);
  const memoryBudget = bytes('memory', values['memory']);
  if (memoryBudget !== undefined && chunkSize !== 'auto') throw new UsageError('--memory applies to --chunk auto; drop one of them.');
  const loss = choice('loss', values['loss'], PAIR_LOSSES, 'infonce');
  const temperature = number('temperature', values['temperature'], 0.05, { integer: false });
  if (!(temperature > 0)) throw new UsageError(`--temperature must be a number > 0, got '${String(values['temperature'])}'.`);
  const maxLength = values['max-length'] === undefined ? undefined : number('max-length', values['max-length'], 0, { min: 2 });
  const badRows = choice('bad-rows', values['bad-rows'], ['error', 'skip'] as const, 'error');
  const evalPath = values['eval'] as string | undefined;
  const evalEvery = values['eval-every'] === undefined ? undefined : number('eval-every', values['eval-every'], 0, { min: 1 });
  if (evalEvery !== undefined && evalPath === undefined) throw new UsageError('--eval-every needs --eval.');
  const meta = { task: 'pairs', model: modelDir, data: resolve(dataPath), strategy, batchSize, epochs, lr, seed, loss, temperature };
  checkResumed(saved, meta, PAIRS_SETTINGS, dir);
  await setBackend(values['backend']);

  const trainFile = await openPairs(dataPath, { badRows });
  const evalPairs =
    evalPath === undefined
      ? undefined
      : await (async () => {
          const file = await openPairs(evalPath, { badRows });
          try {
            return await file.readAll();
          } finally {
            await file.close();
          }
        })();
  const model = await loadTextModel(modelDir, maxLength === undefined ? {} : { maxLength });
  const task = pairsTask({ model, train: trainFile, loss, temperature });
  const optimizer = tf.train.adam(lr);
  let start: Position = { epoch: 0, batch: 0, step: 0 };
  const { signal, release } = stopOnSignal(out);
  try {
    if (saved !== undefined) {
      start = (await loadCheckpoint(checkpoints, { variables: model.variables, optimizer })).position;
      out(`resumed at step ${start.step} (epoch ${start.epoch + 1}, batch ${start.batch})`);
    }
    const rowsPerStep = strategy === 'small' ? (chunkSize as number) : batchSize;
    if (trainFile.size < rowsPerStep)
      throw new UsageError(`--batch ${rowsPerStep} is more than the ${trainFile.size} pairs of ${dataPath}; lower --batch.`);
    const steps = Math.floor(trainFile.size / rowsPerStep) * epochs;
    out(`${model.description} on ${tf.getBackend()}`);
    out(
      `${trainFile.size} pairs from ${dataPath}${trainFile.negatives > 0 ? ` (${trainFile.negatives} hard negatives each)` : ''}` +
        `${trainFile.skipped.length > 0 ? `, ${trainFile.skipped.length} bad rows skipped` : ''}; ${strategy}, batch ${rowsPerStep}, ${steps} steps` +
        `${trainFile.size % rowsPerStep > 0 ? ` (${trainFile.size % rowsPerStep} rows left over each epoch)` : ''} → ${dir}`,
    );
    let best = Number.NEGATIVE_INFINITY;
    const saving = checkpointing(checkpoints, { variables: model.variables, optimizer, meta }, saveEvery);
    const callbacks: FitCallbacks[] = [
      consoleProgress({ label: strategy }),
      jsonlLog(join(dir, 'metrics.jsonl'), { strategy }),
      saving.callbacks,
      {
        onOutOfMemory: (event) => out(describeOutOfMemory(event)),
        onEvaluation: async (metrics, position) => {
          out(
            `eval at step ${position.step}: ${formatMetrics({ recall: { 1: metrics['recall1'] as number, 10: metrics['recall10'] as number }, mrr: metrics['mrr'] as number, ndcg10: metrics['ndcg10'] as number, queries: metrics['queries'] as number })}`,
          );
          await mkdir(dir, { recursive: true });
          await appendFile(join(dir, 'eval.jsonl'), `${JSON.stringify({ step: position.step, ...metrics })}\n`);
          if ((metrics['ndcg10'] ?? Number.NEGATIVE_INFINITY) > best) {
            best = metrics['ndcg10'] as number;
            await rm(join(dir, 'best'), { recursive: true, force: true });
            await model.save(join(dir, 'best'));
          }
        },
      },
    ];
    const evaluation =
      evalPairs === undefined
        ? undefined
        : {
            everySteps: evalEvery ?? Math.floor(trainFile.size / rowsPerStep),
            evaluate: async () => {
              const m = await evaluatePairs(model, evalPairs);
              return { recall1: m.recall[1] as number, recall10: m.recall[10] as number, mrr: m.mrr, ndcg10: m.ndcg10, queries: m.queries };
            },
          };
    const result = await fit({
      encoders: task.encoders,
      loss: task.loss,
      data: task.train,
      optimizer,
      batchSize,
      chunkSize,
      ...(memoryBudget === undefined ? {} : { memoryBudget }),
      strategy,
      epochs,
      seed,
      start,
      learningRate: warmupCosine({ peak: lr }),
      callbacks,
      signal,
      ...(strategy === 'cached' ? { outOfMemory: 'shrink' as const } : {}),
      ...(evaluation === undefined ? {} : { evaluation }),
    });
    if (signal.aborted) return await stopped(saving.save, result.position, steps, checkpoints, out);
    await rm(join(dir, 'model'), { recursive: true, force: true });
    await model.save(join(dir, 'model'));
    out(`wrote ${join(dir, 'model')}${evalPairs === undefined ? '' : ` and ${join(dir, 'best')} (nDCG@10 ${best.toFixed(3)})`}`);
    return 0;
  } finally {
    release();
    optimizer.dispose();
    model.dispose();
    await trainFile.close();
  }
}

async function trainWordNet(values: Record<string, string | boolean | undefined>, out: (line: string) => void): Promise<number> {
  const dir = (values['out'] as string | undefined) ?? join('runs', 'wordnet');
  const checkpoints = join(dir, 'checkpoints');
  const saved = await resumeSettings(values, checkpoints, WORDNET_SETTINGS);
  // The demo's recipe: one tower shared by glosses and words, one epoch at peak 0.01 (docs/results.md).
  const { strategy, batchSize, epochs, lr, seed, saveEvery } = learning(values, { lr: 0.01, epochs: 1 });
  const chunkSize = number('chunk', values['chunk'], 32, { min: 1 });
  const trainPairs = values['train-pairs'] === undefined ? undefined : number('train-pairs', values['train-pairs'], 0, { min: 2 });
  // A resumed run rebuilds the towers it was trained with (runs from before the shared tower have two).
  const sharedTower = saved === undefined || (saved['taskOptions'] as { sharedTower?: boolean } | undefined)?.sharedTower === true;
  const taskOptions = { seed, sharedTower, ...(trainPairs === undefined ? {} : { trainPairs }) };
  const meta = { task: 'wordnet', taskOptions, trainPairs, strategy, batchSize, chunkSize, epochs, lr, seed };
  checkResumed(saved, meta, WORDNET_SETTINGS, dir);
  await setBackend(values['backend']);

  const task = await wordnetRetrievalTask(taskOptions);
  const optimizer = tf.train.adam(lr);
  const variables = encoderVariables(task.encoders);
  let start: Position = { epoch: 0, batch: 0, step: 0 };
  if (saved !== undefined) {
    start = (await loadCheckpoint(checkpoints, { variables, optimizer })).position;
    out(`resumed at step ${start.step} (epoch ${start.epoch + 1}, batch ${start.batch})`);
  }
  const rowsPerStep = strategy === 'small' ? chunkSize : batchSize;
  const totalSteps = Math.floor(task.train.size / rowsPerStep) * epochs;
  out(
    `WordNet definition → words on ${tf.getBackend()}: ${task.train.size} training pairs, ${strategy}, batch ${rowsPerStep}, ${totalSteps} steps → ${dir}`,
  );
  const saving = checkpointing(checkpoints, { variables, optimizer, meta }, saveEvery);
  const { signal, release } = stopOnSignal(out);
  try {
    const result = await fit({
      ...task,
      optimizer,
      data: task.train,
      batchSize,
      chunkSize,
      strategy,
      epochs,
      seed,
      start,
      signal,
      ...(strategy === 'cached' ? { outOfMemory: 'shrink' as const } : {}),
      learningRate: warmupCosine({ peak: lr }),
      callbacks: [
        consoleProgress({ label: strategy }),
        jsonlLog(join(dir, 'metrics.jsonl'), { strategy }),
        saving.callbacks,
        { onOutOfMemory: (event) => out(describeOutOfMemory(event)) },
      ],
    });
    if (signal.aborted) return await stopped(saving.save, result.position, totalSteps, checkpoints, out);
    out(`validation: ${formatMetrics(await task.evaluate('validation'))}`);
    return 0;
  } finally {
    release();
    optimizer.dispose();
    task.dispose();
  }
}

/** One line for a step retried with smaller chunks (fit's outOfMemory 'shrink', which train uses with the cached strategy). */
function describeOutOfMemory(event: OutOfMemoryEvent): string {
  const code = (event.error as { code?: string }).code;
  const retry =
    'chunkSize' in event.retry
      ? `chunks of ${event.retry.chunkSize}`
      : `a memory budget of ${(event.retry.memoryBudget / 2 ** 20).toFixed(0)} MiB`;
  return `step ${event.step}: out of memory with chunks of ${event.chunkSize.join('/') || '(measuring)'}${code === undefined ? '' : ` (${code})`}; retrying with ${retry}`;
}

/** A run stopped by a signal: its checkpoint saved where it stopped, and how to go on. */
async function stopped(
  save: (position: Position) => Promise<void>,
  position: Position,
  totalSteps: number,
  checkpoints: string,
  out: (line: string) => void,
): Promise<number> {
  await save(position);
  out(`stopped at step ${position.step} of ${totalSteps}; checkpoint in ${checkpoints}. Run the same command with --resume to continue.`);
  return STOPPED;
}
