import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { layersEncoder } from '@gradcache/encoders';
import { benchmarkCharts } from '@gradcache/plots';
import { benchmark, benchmarkTable } from '@gradcache/trainer';
import { list, number, parse, setBackend, UsageError } from '../args.js';
import { loadUserModel, modelViews, twoViewLoss } from '../saved-model.js';

export const BENCH_HELP = `gradcache bench — the speed/memory trade-off of GradCache on your saved model

Usage: gradcache bench --model <dir> [options]

  --model <dir>       a tfjs layers model (model.json + weights) whose output is [batch, d]
  --batch <list>      batch sizes, comma-separated                    [256]
  --chunk <list>      chunk sizes, comma-separated                    [16,32,64]
  --loss <l>          ntxent | infonce                                [ntxent]
  --rounds <n>        timed rounds per case (median reported)         [5]
  --backend <b>       wasm | cpu | webgpu                             [wasm]
  --out <dir>         writes bench.json, bench.md, time.svg, memory.svg   [bench]

Each case is one batch's gradients on two noisy views of random inputs of the model's shape: the
full batch, GradCache and naive accumulation at each chunk size.
`;

/** `gradcache bench`: benchmark() on a saved model, written as a table, JSON and two charts. */
export async function benchModel(args: string[], out: (line: string) => void): Promise<void> {
  const values = parse('bench', args, {
    model: { type: 'string' },
    batch: { type: 'string' },
    chunk: { type: 'string' },
    loss: { type: 'string' },
    rounds: { type: 'string' },
    backend: { type: 'string' },
    out: { type: 'string' },
  });
  if (values['help'] === true) return out(BENCH_HELP);
  const dir = values['model'] as string | undefined;
  if (dir === undefined) throw new UsageError('--model is required. See gradcache bench --help.');
  const batchSizes = list('batch', values['batch'], [256]);
  const chunkSizes = list('chunk', values['chunk'], [16, 32, 64]);
  const rounds = number('rounds', values['rounds'], 5, { min: 1 });
  const loss = twoViewLoss(values['loss']);
  const outDir = (values['out'] as string | undefined) ?? 'bench';
  await setBackend(values['backend']);
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
  const failure = rows.find((r) => r.error !== undefined);
  if (rows.every((r) => r.error !== undefined)) throw new Error(`every case failed; the first: ${failure?.error}`);
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
