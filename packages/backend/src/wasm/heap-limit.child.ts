// Run in a child process by heap-guard.test.ts: fills the wasm heap toward its limit and reports,
// as one JSON line, how the filling ended and whether any tensor lost its values.
import * as tf from '@tensorflow/tfjs-core';
import { BackendError } from '../errors.js';
import { initBackend } from '../init-backend.js';

const mode = process.argv[2] ?? 'tensors';
const BLOCK = 16 * 2 ** 20; // floats: 64 MiB a tensor
tf.env().set('PROD', true);
await initBackend('wasm');

const tensors: tf.Tensor1D[] = [];
let ended = 'no error';
let code: string | undefined;
const firstAndLast = (t: tf.Tensor1D): number[] =>
  tf.tidy(() => Array.from(tf.concat([tf.slice(t, 0, 1), tf.slice(t, BLOCK - 1, 1)]).dataSync()));

try {
  // 5 GiB of requests: far past both the guard's 3 GiB and tfjs-wasm's ~3.6 GiB cliff.
  for (let k = 0; k < 80; k++) tensors.push(tf.fill([BLOCK], k + 1) as tf.Tensor1D);
} catch (error) {
  ended = error instanceof Error ? (error.message.split('\n')[0] ?? '') : String(error);
  code = error instanceof BackendError ? error.code : undefined;
}

let matMul: { ended: string; code: string | undefined; value?: number } | undefined;
if (mode === 'matmul') {
  // Room for b (100 MiB) but not for XNNPACK's packed copy of it.
  tf.dispose(tensors.splice(-2));
  const a = tf.ones([1, 5000]);
  const b = tf.fill([5000, 5000], 1e-3);
  try {
    const y = tf.matMul(a, b);
    matMul = { ended: 'no error', code: undefined, value: y.dataSync()[0] as number };
  } catch (error) {
    matMul = { ended: (error as Error).message.split('\n')[0] ?? '', code: error instanceof BackendError ? error.code : undefined };
  }
}

const wrong = tensors.flatMap((t, k) => {
  const values = firstAndLast(t);
  return values.every((v) => v === k + 1) ? [] : [{ tensor: k, values }];
});
console.log(JSON.stringify({ allocated: tensors.length, ended, code, wrong: wrong.slice(0, 5), wrongCount: wrong.length, matMul }));
