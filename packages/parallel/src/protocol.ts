import * as tf from '@tensorflow/tfjs-core';
import type { Batch } from '@gradcache/core';

/** A tensor on the wire: its shape, dtype and bytes (an ArrayBuffer, moved, not copied, by postMessage). */
export interface WireTensor {
  shape: number[];
  dtype: 'float32' | 'int32';
  buffer: ArrayBuffer;
}

/** A batch on the wire, in its own shape: one tensor, an array, or a record. */
export type WireBatch =
  | { kind: 'tensor'; tensor: WireTensor }
  | { kind: 'array'; tensors: WireTensor[] }
  | { kind: 'record'; tensors: Record<string, WireTensor> };

/** Reads a tensor into a wire tensor (asynchronously: no synchronous read on any backend). */
export async function toWire(t: tf.Tensor): Promise<WireTensor> {
  const dtype = t.dtype === 'int32' ? 'int32' : 'float32';
  const values = t.dtype === dtype ? await t.data() : await tf.tidy(() => tf.cast(t, dtype)).data();
  const copy = dtype === 'int32' ? Int32Array.from(values as Int32Array) : Float32Array.from(values as Float32Array);
  return { shape: [...t.shape], dtype, buffer: copy.buffer as ArrayBuffer };
}

/** A new tensor from a wire tensor. */
export function fromWire(w: WireTensor): tf.Tensor {
  return tf.tensor(w.dtype === 'int32' ? new Int32Array(w.buffer) : new Float32Array(w.buffer), w.shape, w.dtype);
}

export async function batchToWire(batch: Batch): Promise<WireBatch> {
  if (batch instanceof tf.Tensor) return { kind: 'tensor', tensor: await toWire(batch) };
  if (Array.isArray(batch)) return { kind: 'array', tensors: await Promise.all((batch as readonly tf.Tensor[]).map(toWire)) };
  const entries = await Promise.all(
    Object.entries(batch as Record<string, tf.Tensor>).map(async ([k, t]) => [k, await toWire(t)] as const),
  );
  return { kind: 'record', tensors: Object.fromEntries(entries) };
}

export function batchFromWire(w: WireBatch): Batch {
  if (w.kind === 'tensor') return fromWire(w.tensor);
  if (w.kind === 'array') return w.tensors.map(fromWire);
  return Object.fromEntries(Object.entries(w.tensors).map(([k, t]) => [k, fromWire(t)]));
}

/** The ArrayBuffers of a message, to transfer instead of copy. */
export function buffersOf(value: unknown, into: ArrayBuffer[] = []): ArrayBuffer[] {
  if (value instanceof ArrayBuffer) into.push(value);
  else if (Array.isArray(value)) for (const v of value) buffersOf(v, into);
  else if (typeof value === 'object' && value !== null) for (const v of Object.values(value)) buffersOf(v, into);
  return into;
}

/** Which chunk: chunk `chunkIndex` of encoder `encoderIndex`. */
export interface ChunkAddress {
  encoderIndex: number;
  chunkIndex: number;
}

/** An error a worker caught, as it travels: the original's name, message and `code` (a GradCacheError's, say). */
export interface WireError {
  message: string;
  name: string;
  code?: string;
}

/** Coordinator → worker. */
export type Request =
  | { type: 'init'; replica: string; options: unknown; backend: string; seed: number }
  | { type: 'setWeights'; buffer: ArrayBuffer }
  | { type: 'forward'; batchIndex: number; chunks: (ChunkAddress & { input: WireBatch })[] }
  | { type: 'backward'; batchIndex: number; measureDrift: boolean; chunks: (ChunkAddress & { dy: WireTensor; auxWeight?: number })[] }
  | { type: 'apply'; buffer: ArrayBuffer; gradNorm: number; clipNorm?: number }
  | { type: 'setLearningRate'; rate: number }
  | { type: 'reset' }
  | { type: 'weights' }
  | { type: 'state' }
  | { type: 'setState'; state: ReplicaState };

/** Worker → coordinator, per request. */
export type Reply = { id: number; ok: true; result: unknown } | { id: number; ok: false; error: WireError };

/** What `init` answers: the replica's trainable variables, in the fixed order, which encoders are frozen, and worker 0's weights. */
export interface InitResult {
  variables: { name: string; shape: number[] }[];
  /** One per encoder: frozen encoders are forwarded once, never re-forwarded, and get no rep gradients. */
  frozen: boolean[];
  hasOptimizer: boolean;
  weights: ArrayBuffer;
}

/** What `state` answers and `setState` takes: a replica's weights (flat) and its optimizer's state (slots, iterations, running products). */
export interface ReplicaState {
  weights: ArrayBuffer;
  /** `optimizer.getWeights()` (its 'iter' first), then the optimizer's scalar variables by field name (Adam's β powers). */
  optimizer: { name: string; tensor: WireTensor }[];
  fields: { name: string; tensor: WireTensor }[];
}

/** What `forward` answers: each chunk's rep and auxiliary loss (a number, or null). */
export interface ForwardResult {
  reps: (ChunkAddress & { rep: WireTensor; auxLoss: number | null })[];
}

/** What `backward` answers: this worker's gradient sum over its chunks (flat, variables in order) and each chunk's drift. */
export interface BackwardResult {
  grads: ArrayBuffer;
  drifts: (ChunkAddress & { drift: number })[];
}

/**
 * Which worker runs chunk j of a batch cut into `chunks` chunks: contiguous blocks as even as the
 * count allows (5 chunks on 2 workers: 3 and 2). Every worker may get none when chunks < workers.
 */
export function workerOf(j: number, chunks: number, workers: number): number {
  return Math.floor((j * workers) / chunks);
}
