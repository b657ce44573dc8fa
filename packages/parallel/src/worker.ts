// A replica: its own tfjs backend, the encoders built by the replica module, and optionally its
// optimizer. It runs phase 1 and phase 3 of gradient caching (core's phases.ts) for the chunks it is
// given, with the replay seed of each chunk's global index, and applies the summed gradient it is sent.
import { parentPort } from 'node:worker_threads';
import * as tf from '@tensorflow/tfjs-core';
import { type BackendPreference, initBackend } from '@gradcache/backend/node';
import type { Batch, Encoder } from '@gradcache/core';
import {
  applyInOrder,
  type BackwardJob,
  backwardChunks,
  type ChunkJob,
  chunkSeed,
  forwardChunk,
  isFrozen,
  setLearningRate,
} from '@gradcache/core/internal';
import {
  type BackwardResult,
  batchFromWire,
  buffersOf,
  type ForwardResult,
  fromWire,
  type InitResult,
  type Reply,
  type ReplicaState,
  type Request,
  toWire,
} from './protocol.js';

/** What a replica module's `createReplica(options)` returns, in every worker alike. */
export interface Replica {
  encoders: Encoder[];
  /** Applies the summed gradient in every worker; without one, `step` is refused. */
  optimizer?: tf.Optimizer;
}

const port = parentPort;
if (port === null) throw new Error('@gradcache/parallel: worker.js runs only as a worker thread.');

let replica: Replica;
let seed = 0;
/** The trainable variables of the encoders that are not frozen, each once, in order of first appearance. */
let variables: tf.Variable[] = [];
/** Phase 1's chunks, kept for phase 3 of the same batch: input (none for a frozen encoder) and rep. */
const held = new Map<string, { input: Batch | undefined; rep: tf.Tensor2D }>();
const key = (i: number, j: number) => `${i}/${j}`;

const job = (encoderIndex: number, chunkIndex: number, batchIndex: number, input: ChunkJob['input']): ChunkJob => ({
  encoder: replica.encoders[encoderIndex] as Encoder,
  encoderIndex,
  chunkIndex,
  seed: chunkSeed(seed, batchIndex, encoderIndex, chunkIndex),
  input,
});

function flatten(tensors: readonly tf.Tensor[]): Float32Array {
  const out = new Float32Array(tensors.reduce((n, t) => n + t.size, 0));
  let at = 0;
  for (const t of tensors) {
    out.set(t.dataSync() as Float32Array, at); // this worker's backend is wasm or cpu
    at += t.size;
  }
  return out;
}

function unflatten(buffer: ArrayBuffer): tf.Tensor[] {
  const flat = new Float32Array(buffer);
  let at = 0;
  return variables.map((v) => {
    const t = tf.tensor(flat.subarray(at, at + v.size), v.shape);
    at += v.size;
    return t;
  });
}

function release(): void {
  for (const { input, rep } of held.values()) tf.dispose([input as tf.TensorContainer, rep]);
  held.clear();
}

async function handle(request: Request): Promise<unknown> {
  switch (request.type) {
    case 'init': {
      await initBackend(request.backend as BackendPreference);
      const module = (await import(request.replica)) as { createReplica?: (options: unknown) => Replica | Promise<Replica> };
      if (typeof module.createReplica !== 'function') {
        throw new Error(`the replica module ${request.replica} must export createReplica(options) returning { encoders, optimizer? }.`);
      }
      replica = await module.createReplica(request.options);
      seed = request.seed;
      variables = [...new Set(replica.encoders.filter((e) => !isFrozen(e)).flatMap((e) => e.trainableVariables))];
      const result: InitResult = {
        variables: variables.map((v) => ({ name: v.name, shape: [...v.shape] })),
        frozen: replica.encoders.map(isFrozen),
        hasOptimizer: replica.optimizer !== undefined,
        weights: flatten(variables).buffer as ArrayBuffer,
      };
      return result;
    }
    case 'setWeights': {
      const values = unflatten(request.buffer);
      variables.forEach((v, k) => v.assign(values[k] as tf.Tensor));
      tf.dispose(values);
      return null;
    }
    case 'forward': {
      release();
      const reps: ForwardResult['reps'] = [];
      for (const { encoderIndex, chunkIndex, input } of request.chunks) {
        const batch = batchFromWire(input);
        const { rep, auxLoss } = forwardChunk(job(encoderIndex, chunkIndex, request.batchIndex, batch));
        const frozen = isFrozen(replica.encoders[encoderIndex] as Encoder);
        if (frozen) tf.dispose(batch as tf.TensorContainer);
        held.set(key(encoderIndex, chunkIndex), { input: frozen ? undefined : batch, rep });
        const wire = { encoderIndex, chunkIndex, rep: await toWire(rep) };
        reps.push({ ...wire, auxLoss: auxLoss === undefined ? null : ((await auxLoss.data())[0] as number) });
        auxLoss?.dispose();
      }
      return { reps } satisfies ForwardResult;
    }
    case 'backward': {
      const jobs: BackwardJob[] = request.chunks.map(({ encoderIndex, chunkIndex, dy, auxWeight }) => {
        const chunk = held.get(key(encoderIndex, chunkIndex));
        if (chunk?.input === undefined) {
          throw new Error(`backward: chunk ${chunkIndex} of encoder ${encoderIndex} was not forwarded in this batch, or is frozen.`);
        }
        return {
          job: job(encoderIndex, chunkIndex, request.batchIndex, chunk.input),
          dy: () => fromWire(dy) as tf.Tensor2D,
          first: chunk.rep,
          auxWeight,
        };
      });
      try {
        const { grads, drifts } = tf.tidy(() => backwardChunks(jobs, variables, request.measureDrift) as unknown as tf.TensorContainer) as {
          grads: tf.Tensor[];
          drifts: (tf.Scalar | undefined)[];
        };
        const flat = flatten(grads);
        const driftValues = await Promise.all(drifts.map(async (d) => (d === undefined ? 0 : ((await d.data())[0] as number))));
        tf.dispose([grads, drifts.filter((d) => d !== undefined) as tf.Tensor[]]);
        return {
          grads: flat.buffer as ArrayBuffer,
          drifts: request.chunks.map(({ encoderIndex, chunkIndex }, k) => ({ encoderIndex, chunkIndex, drift: driftValues[k] as number })),
        } satisfies BackwardResult;
      } finally {
        release();
      }
    }
    case 'apply': {
      const optimizer = replica.optimizer;
      if (optimizer === undefined) throw new Error('apply: the replica has no optimizer (createReplica must return one for step).');
      const values = unflatten(request.buffer);
      try {
        const grads = Object.fromEntries(variables.map((v, k) => [v.name, values[k] as tf.Tensor]));
        const { gradNorm, clipNorm } = request;
        applyInOrder(optimizer, variables, grads, {
          gradNorm,
          ...(clipNorm === undefined ? {} : { clipNorm }),
          caller: 'ParallelGradCache.step',
        });
      } finally {
        tf.dispose(values);
      }
      return null;
    }
    case 'setLearningRate': {
      if (replica.optimizer === undefined)
        throw new Error('setLearningRate: the replica has no optimizer (createReplica must return one).');
      setLearningRate(replica.optimizer, request.rate);
      return null;
    }
    case 'reset':
      release();
      return null;
    case 'weights':
      return flatten(variables).buffer;
    case 'state': {
      const optimizer = replica.optimizer;
      const saved = optimizer === undefined ? [] : await optimizer.getWeights();
      const fields = optimizer === undefined ? [] : Object.entries(optimizer).filter(([, v]) => v instanceof tf.Variable && v.rank === 0);
      const state: ReplicaState = {
        weights: flatten(variables).buffer as ArrayBuffer,
        optimizer: await Promise.all(saved.map(async ({ name, tensor }) => ({ name, tensor: await toWire(tensor) }))),
        fields: await Promise.all(fields.map(async ([name, v]) => ({ name, tensor: await toWire(v as tf.Variable) }))),
      };
      if (saved[0]?.name === 'iter') saved[0].tensor.dispose(); // getWeights makes a new 'iter' scalar
      return state;
    }
    case 'setState': {
      const values = unflatten(request.state.weights);
      variables.forEach((v, k) => v.assign(values[k] as tf.Tensor));
      tf.dispose(values);
      const optimizer = replica.optimizer;
      if (optimizer !== undefined && request.state.optimizer.length > 0) {
        const slots = request.state.optimizer.map(({ name, tensor }) => ({ name, tensor: fromWire(tensor) }));
        await optimizer.setWeights(slots);
        tf.dispose(slots.map((s) => s.tensor));
        for (const { name, tensor } of request.state.fields) {
          const field = (optimizer as unknown as Record<string, unknown>)[name];
          if (field instanceof tf.Variable) tf.tidy(() => field.assign(fromWire(tensor)));
        }
      }
      return null;
    }
  }
}

port.on('message', async ({ id, request }: { id: number; request: Request }) => {
  let reply: Reply;
  try {
    const result = await handle(request);
    reply = { id, ok: true, result };
  } catch (error) {
    const e = error as Error & { code?: unknown };
    reply = { id, ok: false, error: { message: e.message, name: e.name, ...(typeof e.code === 'string' ? { code: e.code } : {}) } };
  }
  port.postMessage(reply, buffersOf(reply));
});
