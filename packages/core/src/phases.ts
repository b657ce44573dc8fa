/**
 * Gradient caching (Gao et al. 2021, arXiv 2101.06983): the exact gradient of a loss over a large
 * batch at the activation memory of one chunk, for one extra forward pass. Each encoder's batch is
 * cut into chunks, and three phases compute the gradient:
 *
 * 1. **Forward without a tape** (`forwardChunk`): encode each chunk outside any gradient scope — no
 *    activations are kept — with `Math.random` seeded for that chunk; keep only its rep.
 * 2. **Rep gradients** (`repGradients`): the loss on the whole batch's reps and its gradient with
 *    respect to the reps alone (and the loss's own variables, a temperature). The rep gradients are
 *    the "cache" the method is named after; this is the only phase that sees the whole batch.
 * 3. **Chunked backward** (`backwardChunks`): re-encode each chunk under a tape with the same seed —
 *    the same dropout masks — and back-propagate its slice of the rep gradients (`dy`) into the
 *    encoder's variables. By the chain rule, dL/dθ = Σ_chunks (dL/d rep_chunk) · (d rep_chunk/dθ):
 *    the sum over chunks is the full-batch gradient.
 *
 * This file is the algorithm and nothing else: cached-batch.ts feeds it chunks, reads its checks
 * and applies the update; grad-cache.ts holds the configuration; @gradcache/parallel runs the same
 * functions on worker threads.
 */
import * as tf from '@tensorflow/tfjs-core';
import { checkRep, checkReplayShape, relativeDrift } from './checks.js';
import { batchSize } from './chunk-input.js';
import { check, describe, synchronous } from './errors.js';
import { withSeededRandom } from './random-replay.js';
import type { Batch, Encoder, GetRep, LossFunction } from './types.js';

/** One chunk of one encoder, as the phases see it. */
export interface ChunkJob {
  encoder: Encoder;
  encoderIndex: number;
  chunkIndex: number;
  /** The replay seed (`chunkSeed`): the same in phase 1 and phase 3, so the randomness replays. */
  seed: string;
  /** The chunk's input, or a loader called inside the seeded scope (so its augmentation replays too). */
  input: Batch | (() => Batch);
  /** Turns the encoder's output into the rep; default: the output, or its `rep` field. */
  getRep?: GetRep | undefined;
}

/** A chunk's rep and its auxiliary loss, if the encoder returned one. */
export interface EncodedChunk {
  rep: tf.Tensor2D;
  auxLoss: tf.Scalar | undefined;
}

/**
 * Encodes one chunk and returns its rep — the output itself, its `rep` field, or
 * `getRep(output, input)` — and its auxiliary loss (the output's `auxLoss` field, a scalar). The one
 * place an encoder's output becomes a rep: the phases, verify, the chunk-size probe and the trainer's
 * strategies all call it. `encode` must be synchronous (NOT_SYNCHRONOUS).
 */
export function encodeChunk(encoder: Encoder, encoderIndex: number, input: Batch, getRep?: GetRep, training = true): EncodedChunk {
  const where = `GradCache: encoder ${encoderIndex} ('${encoder.name}')`;
  const output = synchronous(encoder.encode(input, { training }), () => `${where}.encode`);
  const record = output instanceof tf.Tensor || Array.isArray(output) ? undefined : (output as Readonly<Record<string, tf.Tensor>>);
  const auxLoss = record?.['auxLoss'];
  check(
    auxLoss === undefined || (auxLoss instanceof tf.Tensor && auxLoss.rank === 0),
    'INVALID_REP',
    () => `${where} returned auxLoss ${describe(auxLoss)}; it must be a scalar tensor.`,
  );
  const rep =
    getRep !== undefined ? synchronous(getRep(output, input), () => `${where}: getRep`) : record === undefined ? output : record['rep'];
  check(
    rep instanceof tf.Tensor,
    'INVALID_REP',
    () => `${where} returned ${describe(output)} instead of a tensor (or { rep, auxLoss }); pass getRep to pick or pool the rep from it.`,
  );
  return { rep: rep as tf.Tensor2D, auxLoss: auxLoss as tf.Scalar | undefined };
}

/** A job's input: the chunk, or what its loader returns — which must not be a promise (NOT_SYNCHRONOUS; its rejection is handled). */
const loaded = (input: ChunkJob['input']): Batch => (typeof input === 'function' ? synchronous(input(), () => 'GradCache: load') : input);

/**
 * Phase 1 for one chunk: encodes it outside any gradient scope, under its seed, and checks the rep
 * is a float32 [rows, d] tensor. Returns the rep and auxiliary loss as new tensors the caller owns.
 */
export function forwardChunk(job: ChunkJob): EncodedChunk {
  const { encoder, encoderIndex, chunkIndex, seed, input, getRep } = job;
  const out = tf.tidy(() =>
    withSeededRandom(seed, () => {
      const chunk = loaded(input);
      const rows = batchSize(chunk, 'GradCache', 'chunk');
      const { rep, auxLoss } = encodeChunk(encoder, encoderIndex, chunk, getRep);
      checkRep(rep, rows, encoder.name, encoderIndex, chunkIndex);
      // Clones are ours to free, even when encode returned its input or a variable.
      return auxLoss === undefined ? { rep: tf.clone(rep) } : { rep: tf.clone(rep), auxLoss: tf.clone(auxLoss) };
    }),
  ) as { rep: tf.Tensor2D; auxLoss?: tf.Scalar };
  return { rep: out.rep, auxLoss: out.auxLoss };
}

/** What phase 2 returns; the caller owns every tensor. */
export interface RepGradients {
  /** The loss on the whole batch's reps (without auxiliary terms). */
  loss: tf.Scalar;
  /** dLoss/dreps, one [B_i, d] per encoder; undefined for a frozen encoder (nothing to back-propagate into). */
  repGrads: (tf.Tensor2D | undefined)[];
  /** The gradient of each of `lossVariables`; undefined where the loss does not read it. */
  lossGrads: (tf.Tensor | undefined)[];
}

/**
 * Phase 2: the loss on the whole batch's reps, and its gradient with respect to the reps of every
 * encoder that is not frozen and to `lossVariables`. The loss must be a synchronous function
 * returning a scalar (NOT_SYNCHRONOUS, LOSS_NOT_SCALAR); its finiteness is the caller's check.
 */
export function repGradients<E>(
  loss: LossFunction<E>,
  reps: tf.Tensor2D[],
  extra: E | undefined,
  options: { frozen: readonly boolean[]; lossVariables: readonly tf.Variable[] },
): RepGradients {
  const trained = reps.filter((_, i) => options.frozen[i] !== true);
  const { value, grads } = tf.engine().gradients(
    () => {
      const value = synchronous(loss(reps, extra), () => 'GradCache: the loss');
      check(
        value instanceof tf.Tensor && value.rank === 0 && value.dtype === 'float32',
        'LOSS_NOT_SCALAR',
        () => `GradCache: the loss must return a float32 scalar tensor, but it returned ${describe(value)}; reduce it (e.g. tf.mean).`,
      );
      return value;
    },
    [...trained, ...options.lossVariables],
    undefined,
    true,
  );
  return {
    loss: value as tf.Scalar,
    repGrads: reps.map((rep) => {
      const k = trained.indexOf(rep);
      return k < 0 ? undefined : ((grads[k] as tf.Tensor2D | undefined) ?? tf.zerosLike(rep));
    }),
    lossGrads: options.lossVariables.map((_, k) => grads[trained.length + k]),
  };
}

/**
 * Phase 3 for one chunk: re-encodes it under a tape with the seed of its first pass and
 * back-propagates `dy` — its slice of the rep gradients — plus `auxWeight` × its auxiliary loss
 * into the encoder's trainable variables. Returns one gradient per variable (undefined where none
 * reached it) and, with `first`, the drift of the replayed rep from it. Call it inside a tidy.
 */
export function backwardChunk(
  job: ChunkJob,
  dy: tf.Tensor2D,
  first: tf.Tensor2D,
  auxWeight: number | undefined,
  measureDrift: boolean,
): { grads: (tf.Tensor | undefined)[]; drift: tf.Scalar | undefined } {
  const { encoder, encoderIndex, chunkIndex, seed, input, getRep } = job;
  const variables = [...encoder.trainableVariables];
  let replayed: tf.Tensor2D | undefined;
  const { value, grads } = withSeededRandom(seed, () => {
    const chunk = loaded(input);
    return tf.engine().gradients(
      () => {
        const { rep, auxLoss } = encodeChunk(encoder, encoderIndex, chunk, getRep);
        checkReplayShape(rep, first, encoder.name, encoderIndex, chunkIndex);
        if (auxWeight === undefined) return rep;
        // With an auxiliary loss, back-propagate sum(rep ⊙ dy) + w·auxLoss: its gradient is dy's
        // through the rep plus the auxiliary term's own.
        replayed = tf.keep(tf.clone(rep));
        return tf.add(tf.sum(tf.mul(rep, dy)), tf.mul(auxLoss ?? tf.scalar(0), auxWeight));
      },
      variables,
      auxWeight === undefined ? dy : undefined,
      true,
    );
  });
  const rep = replayed ?? (value as tf.Tensor2D);
  const drift = measureDrift ? relativeDrift(rep, first) : undefined;
  replayed?.dispose();
  // encode returned a variable itself: its gradient is dy, which the caller does not own.
  return { grads: variables.map((_, k) => (grads[k] === dy ? tf.clone(dy) : grads[k])), drift };
}

/** A chunk for phase 3: the job, its slice of the rep gradients, its first-pass rep, its auxiliary loss's weight. */
export interface BackwardJob {
  job: ChunkJob;
  /** The chunk's slice of the rep gradients, or a function that slices it (called in the chunk's tidy, so one slice is alive at a time). */
  dy: tf.Tensor2D | (() => tf.Tensor2D);
  first: tf.Tensor2D;
  auxWeight: number | undefined;
}

/**
 * Phase 3 for many chunks: `backwardChunk` on each, the gradients summed into one tensor per
 * variable of `variables` (zeros where nothing reached it) — whatever encoders the chunks belong to
 * (an encoder used twice adds into the same variables). Each chunk runs in its own tidy, so only one
 * chunk's activations are alive at a time; the returned tensors are new, and the caller owns them.
 */
export function backwardChunks(
  chunks: readonly BackwardJob[],
  variables: readonly tf.Variable[],
  measureDrift: boolean,
): { grads: tf.Tensor[]; drifts: (tf.Scalar | undefined)[] } {
  let sums: (tf.Tensor | undefined)[] = variables.map(() => undefined);
  const drifts = chunks.map(({ job, dy, first, auxWeight }) => {
    const previous = sums;
    // The new sums are returned, not kept, so a tidy around this call frees them if a later chunk throws.
    const out = tf.tidy(() => {
      const { grads, drift } = backwardChunk(job, typeof dy === 'function' ? dy() : dy, first, auxWeight, measureDrift);
      const next = [...previous];
      job.encoder.trainableVariables.forEach((v, k) => {
        const at = variables.indexOf(v);
        const g = grads[k];
        if (at < 0 || g === undefined) return;
        const sum = next[at];
        next[at] = sum === undefined ? g : tf.add(sum, g);
      });
      return { next, drift };
    });
    tf.dispose(previous.filter((t, k) => t !== undefined && t !== out.next[k]) as tf.Tensor[]);
    sums = out.next;
    return out.drift;
  });
  return { grads: sums.map((g, k) => g ?? tf.zerosLike(variables[k] as tf.Variable)), drifts };
}
