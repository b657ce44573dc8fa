// A replica: its own tfjs backend, the encoders built by the replica module, and optionally its
// optimizer. It runs phase 1 and phase 3 of gradient caching for the chunks it is given, with the
// replay seed of each chunk's global index, and applies the summed gradient it is sent.
import { parentPort } from 'node:worker_threads';
import * as tf from '@tensorflow/tfjs-core';
import { type BackendPreference, initBackend } from '@gradcache/backend/node';
import { type Batch, chunkPhases, type ChunkPhases, type Encoder, GradCache } from '@gradcache/core';
import {
  type BackwardResult,
  batchFromWire,
  buffersOf,
  type ForwardResult,
  fromWire,
  type InitResult,
  type Reply,
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
let variables: tf.Variable[] = [];
let phases: ChunkPhases;
/** Phase 1's chunks, kept for phase 3 of the same step: input and rep. */
const held = new Map<string, { input: Batch; rep: tf.Tensor2D }>();
const key = (i: number, j: number) => `${i}/${j}`;

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
      const gradCache = new GradCache({
        encoders: replica.encoders,
        chunkSize: 1,
        loss: () => tf.scalar(0),
        seed: request.seed,
        lossVariables: 'none',
      });
      variables = gradCache.variables;
      phases = chunkPhases(gradCache);
      const result: InitResult = {
        variables: variables.map((v) => ({ name: v.name, shape: [...v.shape] })),
        encoders: replica.encoders.length,
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
      for (const { i, j, input } of request.chunks) {
        const batch = batchFromWire(input);
        const { rep, aux } = phases.forward(i, j, request.step, batch);
        held.set(key(i, j), { input: batch, rep });
        reps.push({ i, j, rep: await toWire(rep), aux: aux === undefined ? null : ((await aux.data())[0] as number) });
        aux?.dispose();
      }
      return { reps } satisfies ForwardResult;
    }
    case 'backward': {
      const sums: (tf.Tensor | undefined)[] = variables.map(() => undefined);
      const drifts: BackwardResult['drifts'] = [];
      for (const { i, j, dy, auxWeight } of request.chunks) {
        const chunk = held.get(key(i, j));
        if (chunk === undefined) throw new Error(`backward: chunk ${j} of encoder ${i} was not forwarded in this step.`);
        const dyTensor = fromWire(dy) as tf.Tensor2D;
        const { grads, drift } = tf.tidy(() => {
          const out = phases.backward(i, j, request.step, chunk.input, dyTensor, chunk.rep, auxWeight);
          const encoderVariables = (replica.encoders[i] as Encoder).trainableVariables;
          const byVariable = variables.map((v) => {
            const k = encoderVariables.indexOf(v);
            return k < 0 ? undefined : out.grads[k];
          });
          return {
            grads: byVariable.map((g, k) => (g === undefined ? sums[k] : sums[k] === undefined ? g : tf.add(sums[k] as tf.Tensor, g))),
            drift: out.drift,
          };
        });
        tf.dispose(sums.filter((s, k) => s !== undefined && s !== grads[k]) as tf.Tensor[]);
        sums.splice(0, sums.length, ...grads);
        drifts.push({ i, j, drift: drift === undefined ? 0 : ((await drift.data())[0] as number) });
        drift?.dispose();
        dyTensor.dispose();
      }
      const filled = sums.map((s, k) => s ?? tf.zeros((variables[k] as tf.Variable).shape));
      const grads = flatten(filled);
      tf.dispose(filled);
      release();
      return { grads: grads.buffer as ArrayBuffer, drifts } satisfies BackwardResult;
    }
    case 'apply': {
      const optimizer = replica.optimizer;
      if (optimizer === undefined) throw new Error('apply: the replica has no optimizer (createReplica must return one for step).');
      const grads = unflatten(request.buffer);
      optimizer.applyGradients(variables.map((v, k) => ({ name: v.name, tensor: grads[k] as tf.Tensor })));
      tf.dispose(grads);
      return null;
    }
    case 'reset':
      release();
      return null;
    case 'weights':
      return flatten(variables).buffer;
  }
}

port.on('message', async ({ id, request }: { id: number; request: Request }) => {
  let reply: Reply;
  try {
    const result = await handle(request);
    reply = { id, ok: true, result };
  } catch (error) {
    const e = error as Error & { code?: string };
    reply = { id, ok: false, error: { message: e.message, name: e.name, ...(e.code === undefined ? {} : { code: e.code }) } };
  }
  port.postMessage(reply, buffersOf(reply));
});
