/**
 * Stock tfjs-wasm against the wasm fixed for training by @gradcache/backend, in one process:
 * matMul with each transpose combination (GFLOP/s), an MLP forward+backward step, and a small CNN's
 * conv weight gradient against its forward conv, and the copy kernels (Tile, Slice, GatherV2).
 * Run: pnpm bench:backend
 */
import * as tf from '@tensorflow/tfjs-core';
import { installWasmFixes, uninstallWasmFixes } from '@gradcache/backend/internal';
import { median, setUpWasm } from './setup.js';
import { envNumber } from './env.js';

const header = await setUpWasm();
const REPEATS = envNumber('BENCH_REPEATS', 5, 1);
const PEAK_GFLOPS = 80; // one core's fp32 peak on this machine, roughly

type Row = { name: string; stock: number | undefined; fixed: number };
const rows: Row[] = [];

/**
 * Times `f` with the stock kernels and with the fixes, alternating call by call so that the load
 * of a shared machine hits both alike; undefined where stock cannot run it.
 */
function compare(name: string, f: () => void): Row {
  const run = (): number => {
    const start = performance.now();
    tf.tidy(f);
    return performance.now() - start;
  };
  let stockWorks = true;
  const stock: number[] = [];
  const fixed: number[] = [];
  for (let k = 0; k <= REPEATS; k++) {
    if (stockWorks) {
      uninstallWasmFixes();
      try {
        const ms = run();
        if (k > 0) stock.push(ms); // the first round warms up
      } catch {
        stockWorks = false;
      }
      installWasmFixes();
    }
    const ms = run();
    if (k > 0) fixed.push(ms);
  }
  const row = { name, stock: stockWorks ? median(stock) : undefined, fixed: median(fixed) };
  rows.push(row);
  return row;
}

// matMul 512×512×512 with each transpose combination.
const N = 512;
const a = tf.randomNormal([N, N]) as tf.Tensor2D;
const b = tf.randomNormal([N, N]) as tf.Tensor2D;
const gflops = (ms: number): string =>
  `${((2 * N ** 3) / ms / 1e6).toFixed(1)} GFLOP/s (${(((2 * N ** 3) / ms / 1e6 / PEAK_GFLOPS) * 100).toFixed(0)}% of peak)`;
const matmul: Record<string, Row> = {};
for (const [ta, tb] of [
  [false, false],
  [true, false],
  [false, true],
  [true, true],
] as const) {
  const label = `matMul ${N}³ ${ta ? 'Aᵀ' : 'A'}·${tb ? 'Bᵀ' : 'B'}`;
  matmul[label] = compare(label, () => void tf.matMul(a, b, ta, tb).dataSync());
}

// MLP forward + backward: 256 → 1024 → 1024 → 128, batch 256.
const widths = [256, 1024, 1024, 128];
const weights = widths.slice(1).map((w, k) => tf.variable(tf.randomNormal([widths[k] as number, w], 0, 0.05)));
const mlpInput = tf.randomNormal([256, 256]) as tf.Tensor2D;
const mlpStep = (): void => {
  const { value, grads } = tf.variableGrads(() => {
    let x = mlpInput;
    weights.forEach((w, k) => {
      x = tf.matMul(x, w as tf.Tensor as tf.Tensor2D);
      if (k < weights.length - 1) x = tf.relu(x);
    });
    return tf.mean(tf.square(x));
  }, weights);
  value.dataSync();
  tf.dispose([value, grads]);
};
const mlp = compare('MLP 256-1024-1024-128, B=256, forward+backward', mlpStep);

// The copies engine code does everywhere: a LayerNorm broadcast, 32 rows cut from a batch, an embedding lookup.
const gamma = tf.randomNormal([1, 1, 128]);
compare('Tile [1, 1, 128] → [64, 32, 128] (LayerNormalization)', () => void tf.tile(gamma, [64, 32, 1]).dataSync());
const batch = tf.randomNormal([4096, 2048]);
compare('Slice 32 rows of a 4096×2048 batch', () => void tf.slice(batch, [2048, 0], [32, 2048]).dataSync());
const table = tf.randomNormal([16384, 64]);
const ids = tf.randomUniform([2048], 0, 16384, 'int32');
compare('GatherV2 2,048 rows of 64 from a 16,384-row table', () => void tf.gather(table, ids).dataSync());

// A small CNN layer: 3×3 conv, 32 → 64 channels, on 8×64×64×32.
const x = tf.randomNormal([8, 64, 64, 32]) as tf.Tensor4D;
const filter = tf.randomNormal([3, 3, 32, 64], 0, 0.05) as tf.Tensor4D;
const y = tf.conv2d(x, filter, 1, 'same');
const forward = compare('conv 3×3 32→64 on 8×64×64 forward', () => void tf.conv2d(x, filter, 1, 'same').dataSync());
const weightGrad = compare(
  'conv 3×3 32→64 on 8×64×64 weight gradient (Conv2DBackpropFilter)',
  () =>
    void (
      tf
        .engine()
        .runKernel(
          'Conv2DBackpropFilter',
          { x, dy: y },
          { strides: 1, pad: 'same', dataFormat: 'NHWC', filterShape: filter.shape },
        ) as tf.Tensor
    ).dataSync(),
);
compare(
  'conv 3×3 32→64 on 8×64×64 input gradient (Conv2DBackpropInput)',
  () =>
    void (
      tf
        .engine()
        .runKernel(
          'Conv2DBackpropInput',
          { dy: y, filter },
          { strides: 1, pad: 'same', dataFormat: 'NHWC', inputShape: x.shape },
        ) as tf.Tensor
    ).dataSync(),
);
compare(
  'conv layer forward + backward (tf.grad of input and filter)',
  () =>
    void tf
      .grads((a, f) => tf.sum(tf.mul(tf.conv2d(a as tf.Tensor4D, f as tf.Tensor4D, 1, 'same'), y)))([x, filter])
      .forEach((g) => g.dataSync()),
);

console.log(`Backend benchmark: stock tfjs-wasm vs @gradcache/backend's fixed wasm, median of ${REPEATS}`);
console.log(header);
console.log('');
console.log('| operation | stock | fixed | stock ÷ fixed |');
console.log('|---|---|---|---|');
for (const r of rows) {
  const stock = r.stock === undefined ? 'missing kernel' : `${r.stock.toFixed(1)} ms`;
  const ratio = r.stock === undefined ? '—' : `${(r.stock / r.fixed).toFixed(1)}×`;
  console.log(`| ${r.name} | ${stock} | ${r.fixed.toFixed(1)} ms | ${ratio} |`);
}
console.log('');
const plain = matmul[`matMul ${N}³ A·B`] as Row;
for (const [label, row] of Object.entries(matmul)) {
  console.log(`${label}: fixed ${gflops(row.fixed)}, ${(row.fixed / plain.fixed).toFixed(2)}× the untransposed time`);
}
console.log(`MLP step: ${mlp.stock === undefined ? 'stock cannot run it' : `${(mlp.stock / mlp.fixed).toFixed(1)}× faster than stock`}`);
console.log(`conv weight gradient: ${(weightGrad.fixed / forward.fixed).toFixed(2)}× its forward conv (fixed wasm)`);
