import * as tf from '@tensorflow/tfjs-core';
import { relativeDrift } from './checks.js';
import { batchSize, type ChunkPlan, planChunks } from './chunk-input.js';
import type { GradCacheConfig, ResolvedConfig } from './config.js';
import { check, describe, GradCacheError } from './errors.js';
import { GradCache } from './grad-cache.js';
import { encodeChunk } from './phases.js';
import { chunkSeed, withSeededRandom } from './random-replay.js';
import { snapshotState } from './state-snapshot.js';
import type { Batch, Encoder } from './types.js';

/** Options of verify. */
export interface VerifyOptions<E = unknown> {
  /** Relative tolerance per variable: `max|Δ| ≤ tolerance·max|g|`. Default 1e-4. */
  tolerance?: number;
  /** For a gradient that is zero in exact arithmetic: its bound is at least `tolerance·floor·G` (G: the largest |g| of all variables). Default 1e-2. */
  floor?: number;
  /** An absolute bound below which differences are float32 rounding (a flat loss). Default 1e-6. */
  atol?: number;
  /** Passed to the loss unchanged. */
  extra?: E;
}

/** One variable's comparison. */
export interface VariableCheck {
  name: string;
  /** max |cached − reference|. */
  maxAbsDiff: number;
  /** max |reference|. */
  maxAbsGrad: number;
  /** maxAbsDiff / the bound it is held to (≤ 1 passes). */
  ratio: number;
  pass: boolean;
}

/** One chunk's replay: the rep of a second forward under the same seed against the first. */
export interface ReplayCheck {
  encoder: string;
  encoderIndex: number;
  chunkIndex: number;
  /** max|second − first| / max|first|. */
  drift: number;
}

/** What verify found. Holds no tensors. */
export interface VerifyReport {
  pass: boolean;
  /** The cached and reference losses. */
  loss: { cached: number; reference: number };
  /** Every variable, worst (highest ratio) first. */
  variables: VariableCheck[];
  /** Every chunk of every encoder, worst drift first. */
  replay: ReplayCheck[];
  /** Encoders that are random in training mode but ignore the replay seed (a fixed-seed dropout): every chunk and batch repeats one mask. */
  fixedRandomness: string[];
  /** Why it failed, one line each; empty when it passed. */
  problems: string[];
  /** A readable report: the verdict, the problems and the worst variables. */
  summary: string;
}

const repOf = <E>(config: ResolvedConfig<E>, i: number, chunk: Batch, training: boolean): tf.Tensor2D =>
  encodeChunk(config.encoders[i] as Encoder, i, chunk, config.getRep[i], training).rep;

/** max |t|, or max |t − minus|. */
const maxAbs = (t: tf.Tensor, minus?: tf.Tensor): number =>
  tf.tidy(() => tf.max(tf.abs(minus === undefined ? t : tf.sub(t, minus))).dataSync()[0] as number);

/**
 * Checks GradCache against the large-batch gradient on your encoders and loss: the cached gradient
 * of one step vs a reference that runs every encoder on its whole batch inside one gradient scope —
 * chunk by chunk, each chunk under its replay seed (the same dropout masks) and, with BatchNorm,
 * per-chunk batch statistics, so the reference is exact for dropout and BN too. Also replays each
 * chunk twice to name any encoder whose re-forward drifts (hidden state, a random source that does
 * not come from Math.random), and flags randomness that ignores the replay seed. Nothing is
 * changed: weights, state variables and `gradCache.batchIndex` are as before. Holds no tensors.
 *
 * ```ts
 * const report = verify(gradCache, [queries, docs]);
 * if (!report.pass) console.log(report.summary);
 * ```
 */
export function verify<E>(
  target: GradCache<E> | GradCacheConfig<E>,
  inputs: readonly Batch[],
  options: VerifyOptions<E> = {},
): VerifyReport {
  const { tolerance = 1e-4, floor = 1e-2, atol = 1e-6, extra } = options;
  check(
    Number.isFinite(tolerance) && tolerance > 0 && floor >= 0 && atol >= 0,
    'INVALID_OPTION',
    () => `verify: tolerance must be > 0 and floor, atol ≥ 0, got ${describe(tolerance)}, ${describe(floor)}, ${describe(atol)}.`,
  );
  const original = target instanceof GradCache ? target : new GradCache(target);
  const { config } = original;
  const batchIndex = original.batchIndex;
  const { encoders } = config;
  check(
    Array.isArray(inputs) && inputs.length === encoders.length,
    'INPUT_COUNT',
    () => `verify: inputs must hold one batch per encoder (${encoders.length}), got ${describe(inputs)}.`,
  );
  const rows = inputs.map((batch, i) => batchSize(batch, 'verify', `inputs[${i}]`));
  const chunkSizes = original.planChunkSizes(inputs, extra);
  const plans: ChunkPlan[] = [];
  const state = snapshotState(encoders.flatMap((e) => e.stateVariables ?? []));
  try {
    inputs.forEach((batch, i) => plans.push(planChunks(batch, rows[i] as number, chunkSizes[i] as number, i, config.chunkInput[i])));
    // Replay: each chunk twice under its seed, state put back in between.
    const replay: ReplayCheck[] = [];
    const fixedRandomness: string[] = [];
    plans.forEach((plan, i) => {
      const encoder = encoders[i] as Encoder;
      plan.sizes.forEach((_, j) => {
        const drift = tf.tidy(() => {
          const chunk = plan.take(j);
          const seed = chunkSeed(config.seed, batchIndex, i, j);
          const first = tf.clone(withSeededRandom(seed, () => repOf(config, i, chunk, true)));
          state.restore();
          const second = withSeededRandom(seed, () => repOf(config, i, chunk, true));
          state.restore();
          if (j === 0 && (encoder.stateVariables ?? []).length === 0 && !fixedRandomness.includes(encoder.name)) {
            const other = withSeededRandom(chunkSeed(config.seed, batchIndex + 1, i, 1), () => repOf(config, i, chunk, true));
            const inference = repOf(config, i, chunk, false);
            state.restore();
            const ignoresSeed = maxAbs(other, first) === 0;
            const random = maxAbs(inference, first) > 0;
            if (ignoresSeed && random) fixedRandomness.push(encoder.name);
          }
          return relativeDrift(second, first).dataSync()[0] as number;
        });
        replay.push({ encoder: encoder.name, encoderIndex: i, chunkIndex: j, drift });
      });
    });
    replay.sort((a, b) => b.drift - a.drift);

    const verifier = new GradCache({ ...optionalConfig(config), chunkSize: [...chunkSizes], replayTolerance: false });
    verifier.batchIndex = batchIndex;
    const cached = verifier.computeGradients(inputs, extra);
    state.restore();
    const variables = verifier.variables;
    // The reference: every chunk in one gradient scope under its replay seed; auxiliary losses by their chunk's share.
    const reference = tf.variableGrads(() => {
      const auxTerms: tf.Scalar[] = [];
      const reps = plans.map((plan, i) =>
        tf.concat(
          plan.sizes.map((size, j) =>
            withSeededRandom(chunkSeed(config.seed, batchIndex, i, j), () => {
              const { rep, auxLoss } = encodeChunk(encoders[i] as Encoder, i, plan.take(j), config.getRep[i]);
              if (auxLoss !== undefined) auxTerms.push(tf.mul(auxLoss, size / (rows[i] as number)));
              return rep;
            }),
          ),
          0,
        ),
      );
      const loss = config.loss(reps as tf.Tensor2D[], extra);
      return auxTerms.length === 0 ? loss : (tf.addN([loss, ...auxTerms]) as tf.Scalar);
    }, variables);
    state.restore();
    try {
      const stats = variables.map((v) => {
        const g = reference.grads[v.name] as tf.Tensor;
        return { name: v.name, maxAbsDiff: maxAbs(cached.grads[v.name] as tf.Tensor, g), maxAbsGrad: maxAbs(g) };
      });
      const global = Math.max(0, ...stats.map((s) => s.maxAbsGrad));
      const checks: VariableCheck[] = stats
        .map((s) => {
          const bound = Math.max(tolerance * Math.max(s.maxAbsGrad, floor * global), atol);
          return { ...s, ratio: s.maxAbsDiff / bound, pass: s.maxAbsDiff <= bound };
        })
        .sort((a, b) => b.ratio - a.ratio);
      const loss = { cached: cached.loss.dataSync()[0] as number, reference: reference.value.dataSync()[0] as number };
      const problems = [
        ...replay
          .filter((r) => !(r.drift <= tolerance))
          .map(
            (r) =>
              `encoder ${r.encoderIndex} ('${r.encoder}') chunk ${r.chunkIndex}: the re-forward drifts by ${r.drift.toExponential(2)} of its first pass (hidden state, or randomness not drawn from Math.random)`,
          ),
        ...fixedRandomness.map(
          (name) =>
            `encoder '${name}' is random in training mode but ignores the replay seed: every chunk and batch repeats one mask (a fixed-seed dropout?)`,
        ),
        ...checks
          .filter((c) => !c.pass)
          .map(
            (c) =>
              `grad of ${c.name}: max|Δ| = ${c.maxAbsDiff.toExponential(2)} against max|g| = ${c.maxAbsGrad.toExponential(2)} (${c.ratio.toFixed(1)}× the tolerance)`,
          ),
      ];
      const pass = problems.length === 0;
      const worst = checks
        .slice(0, 3)
        .map((c) => `${c.name} ${(c.maxAbsDiff / Math.max(c.maxAbsGrad, 1e-30)).toExponential(2)}`)
        .join(', ');
      const summary = [
        `verify: ${pass ? 'PASS' : 'FAIL'} — ${checks.length} variables, ${replay.length} chunks; loss ${loss.cached} (cached) vs ${loss.reference} (reference)`,
        ...problems.map((p) => `  ✗ ${p}`),
        `  worst relative differences: ${worst || 'none'}`,
      ].join('\n');
      return { pass, loss, variables: checks, replay, fixedRandomness, problems, summary };
    } finally {
      tf.dispose([cached, reference]);
    }
  } finally {
    state.restore();
    state.dispose();
    for (const plan of plans) plan.dispose();
  }
}

/** The resolved config as constructor options. */
function optionalConfig<E>(config: ResolvedConfig<E>): GradCacheConfig<E> {
  const { memoryBudget: _budget, clipNorm, ...rest } = config;
  return { ...rest, ...(clipNorm === undefined ? {} : { clipNorm }) };
}

/**
 * Matchers for vitest's or jest's `expect.extend`: `expect(gradCache).toMatchFullBatchGradient(inputs, options?)`
 * passes when verify passes, and fails with verify's summary.
 *
 * ```ts
 * expect.extend(gradCacheMatchers);
 * expect(gradCache).toMatchFullBatchGradient([queries, docs]);
 * ```
 */
export const gradCacheMatchers = {
  toMatchFullBatchGradient(received: unknown, inputs: readonly Batch[], options?: VerifyOptions) {
    if (!(received instanceof GradCache)) {
      throw new GradCacheError(
        'INVALID_OPTION',
        `toMatchFullBatchGradient: expect() must be given a GradCache, got ${describe(received)}.`,
      );
    }
    const report = verify(received, inputs, options);
    return { pass: report.pass, message: () => report.summary };
  },
};
