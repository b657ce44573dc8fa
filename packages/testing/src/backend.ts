import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
// Registers the gradient of every tfjs op (bare tfjs-core registers none).
import '@tensorflow/tfjs-layers';

// Silence tfjs's console banners from the first import on: a test file may create tensors while
// vitest collects it, before any beforeAll has run.
tf.env().set('PROD', true);

/** The backends tests run on. */
export type TestBackend = 'cpu' | 'wasm';

/**
 * Makes `name` the active backend for the tests of one file. PROD only silences tfjs's console
 * banners ("looks like you are running TensorFlow.js in Node.js"), so that output means something.
 * (IS_TEST would also do that, but its per-kernel leak check misfires on every customGrad op.)
 */
export async function useBackend(name: TestBackend): Promise<void> {
  tf.env().set('PROD', true);
  if (name === 'wasm') await import('@tensorflow/tfjs-backend-wasm');
  const ok = await tf.setBackend(name);
  if (!ok) throw new Error(`useBackend: the ${name} backend failed to initialise.`);
  await tf.ready();
}
