import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '@gradcache/backend/node';
import { verify } from '@gradcache/core';
import { layersEncoder, loadModel } from '@gradcache/encoders/node';
import { infoNCE, ntXent } from '@gradcache/losses';
import type * as tfl from '@tensorflow/tfjs-layers';
import {
  benchmark,
  benchmarkTable,
  encoderVariables,
  fit,
  STRATEGIES,
  type Strategy,
  TrainerError,
  warmupCosine,
} from '@gradcache/trainer';
import { benchmarkCharts } from './chart.js';
import { consoleProgress, hasCheckpoint, jsonlLog, loadCheckpoint, saveCheckpoint, wordnetRetrievalTask } from '@gradcache/trainer/node';

export { benchmarkCharts, lineChart, type BenchmarkPoint, type ChartPoint, type LineChartOptions } from './chart.js';

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
  --backend <b>       wasm | cpu | webgpu                             [wasm]
  --out <dir>         checkpoints and metrics.jsonl                   [runs/wordnet]
  --resume            continue from the checkpoint in --out
  -h, --help
`;

const EVAL_HELP = `gradcache eval — evaluate a checkpoint written by gradcache train

Usage: gradcache eval --checkpoint <dir> [--split test|validation] [--backend wasm|cpu|webgpu]

Prints recall@1, recall@10, MRR and nDCG@10 of definition → words retrieval on the split.
`;

const VERIFY_HELP = `gradcache verify — check that GradCache gives the full-batch gradient on your saved model

Usage: gradcache verify --model <dir> [options]

  --model <dir>       a tfjs layers model (model.json + weights) whose output is [batch, d]
  --batch <n>         rows per view                                   [16]
  --chunk <n>         rows per chunk                                  [4]
  --loss <l>          ntxent (two noisy views through the model) | infonce   [ntxent]
  --seed <n>          inputs and dropout replay                       [0]
  --backend <b>       wasm | cpu                                      [wasm]

Float inputs are drawn from N(0, 1); int32 inputs (token ids) from [1, 100), with the model's
input shape (unknown dimensions: 8). Exits 0 when verify passes, 1 when it fails.
`;

const BENCH_HELP = `gradcache bench — the speed/memory trade-off of GradCache on your saved model

Usage: gradcache bench --model <dir> [options]

  --model <dir>       a tfjs layers model (model.json + weights) whose output is [batch, d]
  --batch <list>      batch sizes, comma-separated                    [256]
  --chunks <list>     chunk sizes, comma-separated                    [16,32,64]
  --loss <l>          ntxent | infonce                                [ntxent]
  --rounds <n>        timed rounds per case (median reported)         [5]
  --backend <b>       wasm | cpu | webgpu                             [wasm]
  --out <dir>         writes bench.json, bench.md, time.svg, memory.svg   [bench]

Each case is one step's gradients on two noisy views of random inputs of the model's shape: the
full batch, GradCache and naive accumulation at each chunk size.
`;

const HELP = `gradcache — exact large-batch contrastive learning on one device

Usage: gradcache <command> [options]

Commands:
  train    train a model (gradcache train --help)
  eval     evaluate a checkpoint (gradcache eval --help)
  verify   check the cached gradient against the full batch on a saved model (gradcache verify --help)
  bench    time and memory of full batch / GradCache / accumulation on a saved model (gradcache bench --help)
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

/** The backends a command runs on: verify reads tensors synchronously, which WebGPU in Node cannot. */
const ASYNC_BACKENDS = ['wasm', 'cpu', 'webgpu'] as const;
const SYNC_BACKENDS = ['wasm', 'cpu'] as const;

async function setBackend(value: string | undefined, allowed: readonly string[] = ASYNC_BACKENDS): Promise<void> {
  const backend = value ?? 'wasm';
  if (!allowed.includes(backend)) throw new UsageError(`--backend must be ${allowed.join(', ')}, got '${backend}'.`);
  // tfjs's banner ("looks like you are running TensorFlow.js in Node.js") would interleave with the
  // progress output; the backend is named in the first line instead.
  tf.env().set('PROD', true);
  await initBackend(backend as (typeof ASYNC_BACKENDS)[number]);
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
  const metrics = await task.evaluate('validation');
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
  out(`${split} after ${position.step} steps: ${formatMetrics(await task.evaluate(split))}`);
  optimizer.dispose();
  task.dispose();
}

/** Two views of `rows` random inputs of the model's shape: N(0, 1) floats and a 0.1 noise per view; token ids in [1, 100). */
function modelViews(model: tfl.LayersModel, rows: number, seed: number): (tf.Tensor | tf.Tensor[])[] {
  const view = (k: number): tf.Tensor[] =>
    model.inputs.map((input, j) => {
      const shape = [rows, ...input.shape.slice(1).map((d) => d ?? 8)];
      return input.dtype === 'int32'
        ? tf.randomUniform(shape, 1, 100, 'int32', seed + j)
        : tf.tidy(() =>
            tf.add(tf.randomNormal(shape, 0, 1, 'float32', seed + j), tf.randomNormal(shape, 0, 0.1, 'float32', seed + 100 * (k + 1) + j)),
          );
    });
  return [view(0), view(1)].map((v) => (v.length === 1 ? (v[0] as tf.Tensor) : v));
}

/** A two-view loss by name. */
function twoViewLoss(name: string): (reps: tf.Tensor2D[]) => tf.Scalar {
  if (name !== 'ntxent' && name !== 'infonce') throw new UsageError(`--loss must be ntxent or infonce, got '${name}'.`);
  return ([a, b]) =>
    name === 'ntxent'
      ? ntXent(a as tf.Tensor2D, b as tf.Tensor2D, { temperature: 0.5 })
      : infoNCE(a as tf.Tensor2D, b as tf.Tensor2D, { temperature: 0.1 });
}

async function loadUserModel(dir: string): Promise<tfl.LayersModel> {
  try {
    return await loadModel(dir);
  } catch (error) {
    throw new UsageError(`--model: ${(error as Error).message}`);
  }
}

async function verifyModel(args: string[], out: (line: string) => void): Promise<number> {
  const { values } = parse(
    args,
    {
      model: { type: 'string' },
      batch: { type: 'string' },
      chunk: { type: 'string' },
      loss: { type: 'string' },
      seed: { type: 'string' },
      backend: { type: 'string' },
    },
    VERIFY_HELP,
  );
  if (values['help'] === true) {
    out(VERIFY_HELP);
    return 0;
  }
  const dir = values['model'] as string | undefined;
  if (dir === undefined) throw new UsageError(`--model is required.\n\n${VERIFY_HELP}`);
  const rows = number('batch', values['batch'] as string | undefined, 16);
  const chunkSize = number('chunk', values['chunk'] as string | undefined, 4);
  const seed = number('seed', values['seed'] as string | undefined, 0);
  const lossName = (values['loss'] as string | undefined) ?? 'ntxent';
  twoViewLoss(lossName);
  if (rows < 2 || chunkSize < 1) throw new UsageError(`--batch must be ≥ 2 and --chunk ≥ 1, got ${rows} and ${chunkSize}.`);
  await setBackend(values['backend'] as string | undefined, SYNC_BACKENDS);
  const model = await loadUserModel(dir);
  const encoder = layersEncoder(model);
  const views = modelViews(model, rows, seed);
  const loss = ([a, b]: tf.Tensor2D[]): tf.Scalar =>
    lossName === 'ntxent'
      ? ntXent(a as tf.Tensor2D, b as tf.Tensor2D, { temperature: 0.5 })
      : infoNCE(a as tf.Tensor2D, b as tf.Tensor2D, { temperature: 0.1 });
  const report = verify({ encoders: [encoder, encoder], chunkSize, loss, seed }, views);
  out(report.summary);
  tf.dispose(views as tf.TensorContainer);
  model.dispose();
  return report.pass ? 0 : 1;
}

function list(name: string, value: string | undefined, fallback: number[]): number[] {
  if (value === undefined) return fallback;
  const items = value.split(',').map((v) => number(name, v.trim(), 0));
  if (items.length === 0 || items.some((n) => n < 1))
    throw new UsageError(`--${name} must be positive integers separated by commas, got '${value}'.`);
  return items;
}

async function benchModel(args: string[], out: (line: string) => void): Promise<void> {
  const { values } = parse(
    args,
    {
      model: { type: 'string' },
      batch: { type: 'string' },
      chunks: { type: 'string' },
      loss: { type: 'string' },
      rounds: { type: 'string' },
      backend: { type: 'string' },
      out: { type: 'string' },
    },
    BENCH_HELP,
  );
  if (values['help'] === true) return out(BENCH_HELP);
  const dir = values['model'] as string | undefined;
  if (dir === undefined) throw new UsageError(`--model is required.\n\n${BENCH_HELP}`);
  const batchSizes = list('batch', values['batch'] as string | undefined, [256]);
  const chunkSizes = list('chunks', values['chunks'] as string | undefined, [16, 32, 64]);
  const rounds = number('rounds', values['rounds'] as string | undefined, 5);
  const loss = twoViewLoss((values['loss'] as string | undefined) ?? 'ntxent');
  const outDir = (values['out'] as string | undefined) ?? 'bench';
  await setBackend(values['backend'] as string | undefined);
  const model = await loadUserModel(dir);
  const encoder = layersEncoder(model);
  const views = modelViews(model, Math.max(...batchSizes), 0);
  const rows = await benchmark({
    encoders: [encoder, encoder],
    loss,
    inputs: views,
    chunkSizes,
    batchSizes,
    rounds,
    onCase: (r) =>
      out(`  B=${r.batchSize} ${r.strategy}${r.chunkSize === null ? '' : ` chunk ${r.chunkSize}`}: ${r.error ?? `${r.ms.toFixed(1)} ms`}`),
  });
  tf.dispose(views as tf.TensorContainer);
  model.dispose();
  const table = benchmarkTable(rows);
  const title = `${model.name} on ${tf.getBackend()}`;
  const charts = await benchmarkCharts(
    rows.filter((r) => r.batchSize === batchSizes[0]),
    { title, by: 'chunk' },
  );
  await mkdir(outDir, { recursive: true });
  await writeFile(join(outDir, 'bench.json'), `${JSON.stringify(rows, null, 2)}\n`);
  await writeFile(join(outDir, 'bench.md'), `# ${title}\n\n${table}\n`);
  await writeFile(join(outDir, 'time.svg'), charts.time);
  await writeFile(join(outDir, 'memory.svg'), charts.memory);
  out(`\n${table}\n\nwrote ${join(outDir, 'bench.json')}, bench.md, time.svg, memory.svg`);
}

/** Runs the gradcache command line; returns the exit code. */
export async function main(argv: string[], out: (line: string) => void = (l) => process.stdout.write(`${l}\n`)): Promise<number> {
  const [command, ...rest] = argv;
  try {
    if (command === 'train') await train(rest, out);
    else if (command === 'eval') await evaluate(rest, out);
    else if (command === 'verify') return await verifyModel(rest, out);
    else if (command === 'bench') await benchModel(rest, out);
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
