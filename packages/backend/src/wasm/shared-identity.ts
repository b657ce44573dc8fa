import type * as tf from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { replacing } from './kernels.js';

/**
 * Identity for wasm that shares its input's data (one more reference), as the cpu backend's does
 * and wasm's own Reshape does; stock wasm copies it. A Transformer text step calls Identity ~4,800
 * times (tf.grads and customGrad wrap their outputs in it). Strings go to the stock kernel.
 */
export function sharedIdentity(stock: tf.KernelConfig): tf.KernelConfig {
  return replacing(stock, (args) => {
    const { x } = args.inputs as { x: tf.TensorInfo };
    if (x.dtype === 'string') return stock.kernelFunc(args);
    (args.backend as BackendWasm).incRef(x.dataId);
    return { dataId: x.dataId, shape: [...x.shape], dtype: x.dtype };
  });
}
