import * as tf from '@tensorflow/tfjs-core';
import type { ResolvedConfig } from './config.js';
import { check } from './errors.js';
import { measureMemorySync } from './memory.js';
import { encodeChunk } from './phases.js';
import { withSeededRandom } from './random-replay.js';
import { batchSize, sliceBatch } from './chunk-input.js';
import { snapshotState } from './state-snapshot.js';
import type { Batch, Encoder } from './types.js';

/** What chunkSize 'auto' chose, and why. Bytes are tensor bytes above what was live before a step. */
export interface AutoChunk {
  /** The chunk size per encoder. */
  chunkSize: number[];
  memoryBudget: number;
  /** The predicted peak of a step with these chunks. */
  predictedPeakBytes: number;
  /** Reps, rep gradients and gradient accumulators: held through phase 3. */
  fixedBytes: number;
  /** The loss phase's own peak on the full reps. */
  lossPhaseBytes: number;
  /** Per encoder, a chunk's re-forward + backward: `baseBytes + bytesPerRow · rows`, fitted at two sizes. */
  chunkCost: { baseBytes: number; bytesPerRow: number }[];
}

const GiB = 2 ** 30;

/** The default budget: half the guarded wasm heap on wasm, 2 GiB elsewhere. */
export function defaultMemoryBudget(): number {
  return tf.getBackend() === 'wasm' ? 1.5 * GiB : 2 * GiB;
}

/** Aims below the budget: probes at small sizes do not see every allocator effect of a large chunk. */
const HEADROOM = 0.9;

/**
 * Chooses the largest chunk per encoder whose step fits `budget`: measures one chunk's re-forward +
 * backward at two sizes (a linear fit per row), the loss phase on reps of the full batch, and adds
 * what a batch holds throughout (reps, rep gradients, gradient accumulators). State variables are put back.
 */
export function chooseChunkSizes<E>(
  config: ResolvedConfig<E>,
  inputs: readonly Batch[],
  rows: readonly number[],
  budget: number,
  extra: E | undefined,
): AutoChunk {
  const rep = (encoder: Encoder, i: number, chunk: Batch): tf.Tensor2D => encodeChunk(encoder, i, chunk, config.getRep[i]).rep;
  const { encoders } = config;
  const state = snapshotState(encoders.flatMap((e) => e.stateVariables ?? []));
  try {
    const widths: number[] = [];
    const chunkCost = encoders.map((encoder, i) => {
      const total = rows[i] as number;
      const probe = (size: number): number =>
        measureMemorySync(() =>
          tf.tidy(() => {
            const chunk = sliceBatch(inputs[i] as Batch, { begin: 0, size });
            const variables = [...encoder.trainableVariables];
            withSeededRandom('gradcache:auto-chunk', () => {
              if (variables.length === 0) {
                widths[i] = rep(encoder, i, chunk).shape[1];
                return;
              }
              const { value, grads } = tf.variableGrads(() => {
                const r = rep(encoder, i, chunk);
                widths[i] = r.shape[1];
                return tf.sum(r);
              }, variables);
              tf.dispose([value, grads]);
            });
          }),
        ).peakBytes;
      const [small, large] = [Math.min(total, 4), Math.min(total, 32)];
      const [p1, p2] = [probe(small), probe(large)];
      state.restore();
      const bytesPerRow = large > small ? Math.max(0, (p2 - p1) / (large - small)) : p1 / small;
      return { baseBytes: Math.max(0, p1 - bytesPerRow * small), bytesPerRow: Math.max(bytesPerRow, 1) };
    });
    const repBytes = encoders.reduce((sum, _, i) => sum + (rows[i] as number) * (widths[i] as number) * 4, 0);
    const variableBytes = [...new Set(encoders.flatMap((e) => e.trainableVariables))].reduce((sum, v) => sum + v.size * 4, 0);
    // The loss and its rep gradients on stand-in reps of the full batch (made outside the measurement).
    const reps = encoders.map((_, i) => tf.randomNormal([rows[i] as number, widths[i] as number], 0, 0.1, 'float32', i) as tf.Tensor2D);
    const lossPhaseBytes = measureMemorySync(() =>
      tf.tidy(() => {
        const { value, grads } = tf.valueAndGrads((...r: tf.Tensor[]) => config.loss(r as tf.Tensor2D[], extra))(reps);
        tf.dispose([value, grads]);
      }),
    ).peakBytes;
    tf.dispose(reps);
    // Held through phase 3: the reps (kept for the replay check), the rep gradients and the gradient
    // accumulators (a chunk's own gradients are in its measured cost).
    const fixedBytes = 2 * repBytes + variableBytes;
    const target = HEADROOM * budget;
    const chunkSize = chunkCost.map(({ baseBytes, bytesPerRow }, i) => {
      const fit = Math.floor((target - fixedBytes - baseBytes) / bytesPerRow);
      check(
        fit >= 1,
        'BUDGET_TOO_SMALL',
        () =>
          `GradCache: chunkSize 'auto' cannot fit a chunk of encoder ${i} ('${(encoders[i] as Encoder).name}') in memoryBudget ${mib(budget)}: ` +
          `a batch holds ${mib(fixedBytes)} (reps, rep gradients, gradients) and one row's re-forward needs ${mib(baseBytes + bytesPerRow)}. Raise memoryBudget.`,
      );
      return Math.min(rows[i] as number, fit);
    });
    const phase3 = fixedBytes + Math.max(...chunkCost.map((c, i) => c.baseBytes + c.bytesPerRow * (chunkSize[i] as number)));
    const phase2 = repBytes + lossPhaseBytes;
    check(
      phase2 <= target,
      'BUDGET_TOO_SMALL',
      () =>
        `GradCache: the loss phase alone needs ${mib(phase2)} (reps ${mib(repBytes)} + the loss on them ${mib(lossPhaseBytes)}), over memoryBudget ${mib(budget)}; ` +
        'tile the loss (e.g. infoNCE tileSize) or raise memoryBudget.',
    );
    return { chunkSize, memoryBudget: budget, predictedPeakBytes: Math.max(phase2, phase3), fixedBytes, lossPhaseBytes, chunkCost };
  } finally {
    state.restore();
    state.dispose();
  }
}

const mib = (bytes: number): string => `${(bytes / 2 ** 20).toFixed(1)} MiB`;

/**
 * The chunk sizes of a GradCache: the configured ones, or with 'auto' the largest that fit the
 * budget, chosen once per distinct set of batch sizes.
 */
export class ChunkPlanner<E> {
  private current: readonly number[];
  private last: { key: string; choice: AutoChunk } | undefined;

  constructor(private readonly config: ResolvedConfig<E>) {
    this.current = config.chunkSize === 'auto' ? [] : config.chunkSize;
  }

  /** The sizes last planned ([] for 'auto' before the first batch). */
  get sizes(): readonly number[] {
    return this.current;
  }

  /** With 'auto': the last choice and its measured costs. */
  get choice(): AutoChunk | undefined {
    return this.last?.choice;
  }

  plan(inputs: readonly Batch[], extra: E | undefined): readonly number[] {
    if (this.config.chunkSize !== 'auto') return this.current;
    const rows = inputs.map((batch, i) => batchSize(batch, 'GradCache.planChunkSizes', `inputs[${i}]`));
    const key = rows.join(',');
    if (this.last?.key !== key) {
      const budget = this.config.memoryBudget ?? defaultMemoryBudget();
      this.last = { key, choice: chooseChunkSizes(this.config, inputs, rows, budget, extra) };
      this.current = this.last.choice.chunkSize;
    }
    return this.current;
  }
}
