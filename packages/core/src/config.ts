import * as tf from '@tensorflow/tfjs-core';
import { check, describe } from './errors.js';
import type { ChunkInput, Encoder, GetRep, LossFunction } from './types.js';

/** How to build a GradCache. */
export interface GradCacheConfig<E = unknown> {
  /** The encoders, one per input batch; the same Encoder may appear twice (shared weights). */
  encoders: readonly Encoder[];
  /**
   * Rows per chunk: one number for every encoder, one per encoder, or 'auto' — the largest chunks
   * whose step fits `memoryBudget`, measured on the first batch (see `gradCache.autoChunk`).
   */
  chunkSize: number | readonly number[] | 'auto';
  /**
   * With chunkSize 'auto': bytes of tensor memory one step may use on top of what is allocated
   * before it. Default: 1.5 GiB on wasm (half its guarded heap), 2 GiB elsewhere.
   */
  memoryBudget?: number;
  /** The loss over the full-batch reps; it may close over variables of its own (a temperature). */
  loss: LossFunction<E>;
  /** Base seed of random replay; the same seed gives the same dropout masks. Default 0. */
  seed?: number;
  /**
   * Which variables the loss itself trains (a learnable temperature, a CLIP logit scale):
   * 'auto' (default) — every registered trainable variable the loss reads; a list — exactly these;
   * 'none' — only the encoders are trained. A frozen teacher or momentum encoder that the loss
   * calls must be left out: pass a list or 'none', or create its variables with trainable = false.
   */
  lossVariables?: 'auto' | 'none' | readonly tf.Variable[];
  /**
   * Largest allowed difference between a chunk's re-forward rep and its first-pass rep, relative to
   * the largest |rep| of the chunk; above it the step fails with REPLAY_DRIFT (an encoder with hidden
   * state or an unreplayed random source). Default 1e-4; `false` turns the check off.
   */
  replayTolerance?: number | false;
  /**
   * Scale the gradients so their global L2 norm is at most this before `step` applies them
   * (`computeGradients` returns them unclipped, with `gradNorm`). Default: no clipping.
   */
  clipNorm?: number;
  /**
   * Cuts an encoder's batch into chunks, one for all encoders or one per encoder (undefined: the
   * default); `tokenBudgetChunks` chunks text by tokens. Default: slices of `chunkSize` rows.
   */
  chunkInput?: ChunkInput | readonly (ChunkInput | undefined)[];
  /**
   * Turns an encoder's output into its [rows, d] rep, one for all encoders or one per encoder
   * (undefined: the default). Default: the output itself, or its `rep` field.
   */
  getRep?: GetRep | readonly (GetRep | undefined)[];
}

/** A validated config, every option filled in. */
export interface ResolvedConfig<E> {
  readonly encoders: readonly Encoder[];
  readonly chunkSize: readonly number[] | 'auto';
  readonly memoryBudget: number | undefined;
  readonly loss: LossFunction<E>;
  readonly seed: number;
  readonly lossVariables: 'auto' | 'none' | readonly tf.Variable[];
  readonly replayTolerance: number | false;
  readonly clipNorm: number | undefined;
  /** One per encoder (undefined: the default). */
  readonly chunkInput: readonly (ChunkInput | undefined)[];
  /** One per encoder (undefined: the default). */
  readonly getRep: readonly (GetRep | undefined)[];
}

const isVariable = (v: unknown): v is tf.Variable => v instanceof tf.Variable;

/** Checks every field of a GradCache config; throws a GradCacheError naming the first bad one. */
export function resolveConfig<E>(config: GradCacheConfig<E>): ResolvedConfig<E> {
  check(
    typeof config === 'object' && config !== null,
    'INVALID_CONFIG',
    () => `new GradCache: config must be an object { encoders, chunkSize, loss }, got ${describe(config)}.`,
  );
  const { encoders, chunkSize, loss } = config;
  check(
    Array.isArray(encoders) && encoders.length > 0,
    'NO_ENCODERS',
    () => `GradCache: encoders must be a non-empty array of Encoder, got ${describe(encoders)}.`,
  );
  for (let i = 0; i < encoders.length; i++) checkEncoder(encoders[i], i);
  const sizes = chunkSize === 'auto' ? encoders.map(() => 1) : typeof chunkSize === 'number' ? encoders.map(() => chunkSize) : chunkSize;
  check(
    Array.isArray(sizes) && sizes.length === encoders.length,
    'INVALID_CHUNK_SIZE',
    () => `GradCache: chunkSize must be one number, one per encoder (${encoders.length}) or 'auto', got ${describe(chunkSize)}.`,
  );
  sizes.forEach((size, i) =>
    check(
      Number.isInteger(size) && size > 0,
      'INVALID_CHUNK_SIZE',
      () => `GradCache: chunkSize for encoder ${i} must be a positive integer, got ${describe(size)}.`,
    ),
  );
  const { memoryBudget } = config;
  check(
    memoryBudget === undefined ||
      (chunkSize === 'auto' && typeof memoryBudget === 'number' && Number.isFinite(memoryBudget) && memoryBudget > 0),
    'INVALID_OPTION',
    () =>
      chunkSize === 'auto'
        ? `GradCache: memoryBudget must be a positive number of bytes, got ${describe(memoryBudget)}.`
        : `GradCache: memoryBudget applies to chunkSize 'auto' only, got it with chunkSize ${describe(chunkSize)}; drop one.`,
  );
  check(
    typeof loss === 'function',
    'INVALID_LOSS',
    () => `GradCache: loss must be a function (reps, extra) => tf.Scalar, got ${describe(loss)}.`,
  );
  const seed = config.seed ?? 0;
  check(
    typeof seed === 'number' && Number.isFinite(seed),
    'INVALID_SEED',
    () => `GradCache: seed must be a finite number, got ${describe(config.seed)}.`,
  );
  const lossVariables = config.lossVariables ?? 'auto';
  check(
    lossVariables === 'auto' || lossVariables === 'none' || (Array.isArray(lossVariables) && lossVariables.every(isVariable)),
    'INVALID_OPTION',
    () => `GradCache: lossVariables must be 'auto', 'none' or an array of tf.Variable, got ${describe(lossVariables)}.`,
  );
  check(
    encoders.some((e) => e.frozen !== true && e.trainableVariables.length > 0) || lossVariables !== 'none',
    'NO_TRAINABLE_VARIABLES',
    () =>
      'GradCache: nothing to train — every encoder is frozen (no trainable variables, or frozen: true) and lossVariables ' +
      "is 'none'. List the variables an encoder's encode reads in trainableVariables (functionEncoder: variables).",
  );
  const replayTolerance = config.replayTolerance ?? 1e-4;
  check(
    replayTolerance === false || (typeof replayTolerance === 'number' && replayTolerance >= 0),
    'INVALID_OPTION',
    () => `GradCache: replayTolerance must be a number ≥ 0 or false, got ${describe(replayTolerance)}.`,
  );
  const { clipNorm } = config;
  check(
    clipNorm === undefined || (typeof clipNorm === 'number' && Number.isFinite(clipNorm) && clipNorm > 0),
    'INVALID_OPTION',
    () => `GradCache: clipNorm must be a positive number, got ${describe(clipNorm)}.`,
  );
  return {
    encoders: [...encoders],
    chunkSize: chunkSize === 'auto' ? 'auto' : [...sizes],
    memoryBudget,
    loss,
    seed,
    lossVariables: Array.isArray(lossVariables) ? [...new Set(lossVariables)] : lossVariables,
    replayTolerance,
    clipNorm,
    chunkInput: perEncoder('chunkInput', config.chunkInput, encoders.length),
    getRep: perEncoder('getRep', config.getRep, encoders.length),
  };
}

/** A hook given once for all encoders or once per encoder, as one entry per encoder. */
function perEncoder<F>(name: string, hook: F | readonly (F | undefined)[] | undefined, count: number): (F | undefined)[] {
  if (hook === undefined) return Array.from({ length: count }, () => undefined);
  const list = Array.isArray(hook) ? (hook as readonly (F | undefined)[]) : Array.from({ length: count }, () => hook as F);
  check(
    list.length === count && list.every((f) => f === undefined || typeof f === 'function'),
    'INVALID_OPTION',
    () => `GradCache: ${name} must be a function, or one function per encoder (${count}), got ${describe(hook)}.`,
  );
  return [...list];
}

/** An encoder: an object with a name, an `encode` function and lists of tf.Variable. */
function checkEncoder(encoder: Encoder | undefined, i: number): asserts encoder is Encoder {
  check(
    typeof encoder === 'object' && encoder !== null && typeof encoder.encode === 'function',
    'INVALID_ENCODER',
    () =>
      `GradCache: encoders[${i}] must be an Encoder — an object with encode(input, context) and ` +
      `trainableVariables (see functionEncoder / layersEncoder), got ${describe(encoder)}.`,
  );
  const { trainableVariables, stateVariables } = encoder;
  for (const [field, list] of [
    ['trainableVariables', trainableVariables],
    ['stateVariables', stateVariables ?? []],
  ] as const) {
    check(
      Array.isArray(list),
      'INVALID_ENCODER',
      () => `GradCache: encoder ${i} ('${encoder.name}'): ${field} must be an array of tf.Variable, got ${describe(list)}.`,
    );
    list.forEach((v, k) =>
      check(
        isVariable(v),
        'INVALID_ENCODER',
        () =>
          `GradCache: encoder ${i} ('${encoder.name}'): ${field}[${k}] must be a tf.Variable, got ${describe(v)}; ` +
          'wrap weights with tf.variable (layers weights: weight.read()).',
      ),
    );
  }
}

/** Checks that no variable of the list has been disposed (a later assign or gradient would fail). */
export function checkLive(variables: readonly tf.Variable[], where: string): void {
  for (const v of variables) {
    check(
      !v.isDisposed,
      'DISPOSED_VARIABLE',
      () =>
        `${where}: variable '${v.name}' has been disposed; an encoder or lossVariables list still names it. ` +
        'Build the GradCache again with the live variables.',
    );
  }
}
