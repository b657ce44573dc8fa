// `pnpm bench:gpu`: the speed/memory trade-off on a GPU backend — the reference workloads of
// `pnpm bench` (MLP towers, a CNN pair, Transformer text towers, the MiniLM-sized BERT), full batch vs GradCache vs naive
// accumulation, on WebGPU by default (GRADCACHE_BACKEND picks another: tensorflow, wasm, cpu). On a
// machine without a GPU, WebGPU runs on a software adapter (Mesa's llvmpipe): correct, and slower
// than wasm — its times say nothing about a GPU. Every step ends with its loss read back
// (`await data()`), so the times are the device's. Prints tables and one summary line per workload.
import * as tf from '@tensorflow/tfjs-core';
import { backendInfo, type BackendPreference, formatBackendInfo, initBackend } from '@gradcache/backend/node';
import { convEncoder, mlpEncoder, textEncoder } from '@gradcache/encoders';
import { infoNCE, ntXent } from '@gradcache/losses';
import { loadPretrained } from '@gradcache/pretrained';
import { type BenchmarkRow, benchmark, benchmarkTable } from '@gradcache/trainer';
import { miniLmSource, randomTokens } from './minilm.js';

const preference = (process.env['GRADCACHE_BACKEND'] || 'webgpu') as BackendPreference;
const QUICK = process.env['BENCH_QUICK'] === '1';
await initBackend(preference);
console.log(`# GradCache on ${formatBackendInfo(await backendInfo())}\n`);

const summary: string[] = [];
async function workload(name: string, run: () => Promise<BenchmarkRow[]>, chunk: number): Promise<void> {
  const rows = await run();
  console.log(`## ${name}\n\n${benchmarkTable(rows)}\n`);
  const full = rows.find((r) => r.strategy === 'full');
  const cached = rows.find((r) => r.strategy === 'cached' && r.chunkSize === chunk);
  if (full !== undefined && cached !== undefined) {
    summary.push(
      `${name}: full step ${full.ms.toFixed(1)} ms, cached (chunk ${chunk}) ${cached.ms.toFixed(1)} ms = ${cached.timeRatio?.toFixed(2)}× time, ` +
        `${cached.memoryRatio?.toFixed(2)}× peak memory`,
    );
  }
}

const rounds = QUICK ? 1 : 3;
const B = QUICK ? 128 : 512;
{
  const towers = [1, 2].map((seed) => mlpEncoder({ inputDim: 128, widths: [256, 256, 64], normalize: true, seed }));
  const inputs = [tf.randomNormal([B, 128], 0, 1, 'float32', 1), tf.randomNormal([B, 128], 0, 1, 'float32', 2)];
  await workload(
    `MLP towers, B = ${B}`,
    () =>
      benchmark({
        encoders: towers.map((t) => t.encoder),
        loss: ([a, b]) => infoNCE(a!, b!, { temperature: 0.05, tileSize: 64 }),
        inputs,
        chunkSizes: [32, 128],
        rounds,
      }),
    32,
  );
  tf.dispose(inputs);
  for (const t of towers) t.model.dispose();
}
{
  const rows = QUICK ? 32 : 128;
  const cnn = convEncoder({ inputShape: [32, 32, 3], widths: [16, 32, 64], outputDim: 64, normalize: true, seed: 3 });
  const views = [tf.randomNormal([rows, 32, 32, 3], 0, 1, 'float32', 3), tf.randomNormal([rows, 32, 32, 3], 0, 1, 'float32', 4)];
  await workload(
    `CNN pair (32×32×3, BatchNorm), NT-Xent, B = ${rows}`,
    () =>
      benchmark({
        encoders: [cnn.encoder, cnn.encoder],
        loss: ([a, b]) => ntXent(a!, b!, { temperature: 0.5 }),
        inputs: views,
        chunkSizes: [32],
        rounds,
      }),
    32,
  );
  tf.dispose(views);
  cnn.model.dispose();
}
{
  const rows = QUICK ? 16 : 64;
  const text = { vocabSize: 2000, maxLength: 32, dim: 128, heads: 4, layers: 2, dropout: 0.1 } as const;
  const towers = [5, 6].map((seed) => textEncoder({ ...text, seed }));
  const tokens = (seed: number) => ({ inputIds: tf.randomUniform([rows, 32], 4, 2000, 'int32', seed), attentionMask: tf.ones([rows, 32]) });
  const inputs = [tokens(7), tokens(8)];
  await workload(
    `Transformer text towers (dim 128, 2 blocks, seq 32), InfoNCE, B = ${rows}`,
    () =>
      benchmark({
        encoders: towers.map((t) => t.encoder),
        loss: ([a, b]) => infoNCE(a!, b!, { temperature: 0.05 }),
        inputs,
        chunkSizes: [16],
        rounds,
      }),
    16,
  );
  tf.dispose(inputs as unknown as tf.TensorContainer);
  for (const t of towers) t.model.dispose();
}
{
  // MiniLM's shape (6 layers, width 384, 12 heads), seq 64, loaded through @gradcache/pretrained
  // from a Hugging Face layout with random weights (minilm.ts).
  const rows = QUICK ? 16 : 256;
  const model = await loadPretrained(miniLmSource(), { dropout: true });
  const inputs = [randomTokens(rows, 64, 11), randomTokens(rows, 64, 12)];
  await workload(
    `MiniLM-sized BERT (6 × 384, 12 heads, seq 64), InfoNCE, B = ${rows}`,
    () =>
      benchmark({
        encoders: [model.encoder, model.encoder],
        loss: ([a, b]) => infoNCE(a!, b!, { temperature: 0.05 }),
        inputs,
        chunkSizes: [QUICK ? 8 : 32],
        rounds: QUICK ? 1 : 2,
      }),
    QUICK ? 8 : 32,
  );
  tf.dispose(inputs as unknown as tf.TensorContainer);
  model.dispose();
}
console.log(summary.join('\n'));
