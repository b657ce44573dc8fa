import * as tf from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';

/**
 * A wasm kernel that copies its inputs to the cpu backend, runs the cpu kernel and copies the
 * outputs back. For kernels wasm lacks or gets wrong where speed matters little (memory-bound
 * O(n) work: segment sums for embedding gradients, pooling gradients); exact as cpu.
 */
export function cpuBridge(kernelName: string): tf.KernelConfig {
  return {
    kernelName,
    backendName: 'wasm',
    kernelFunc: ({ inputs, backend, attrs }) => {
      const wasm = backend as BackendWasm;
      const cpu = tf.engine().findBackend('cpu');
      const cpuKernel = tf.getKernel(kernelName, 'cpu');
      if (cpu === null || cpuKernel === undefined) {
        throw new Error(`cpuBridge: the cpu backend or its ${kernelName} kernel is not registered; import @tensorflow/tfjs-backend-cpu.`);
      }
      const toCpu = (info: tf.TensorInfo): tf.TensorInfo => ({
        ...info,
        dataId: cpu.write(wasm.readSync(info.dataId) as tf.backend_util.BackendValues, info.shape, info.dtype),
      });
      // Some kernels (Einsum, Concat) take their inputs as an array, the rest as a record.
      const cpuInputs = (
        Array.isArray(inputs)
          ? (inputs as tf.TensorInfo[]).map(toCpu)
          : Object.fromEntries(Object.entries(inputs).flatMap(([name, info]) => (info === undefined ? [] : [[name, toCpu(info)]])))
      ) as tf.NamedTensorInfoMap;
      try {
        const result = cpuKernel.kernelFunc({ inputs: cpuInputs, backend: cpu, attrs: attrs ?? {} });
        const outputs = Array.isArray(result) ? result : [result];
        const copied = outputs.map((out) => {
          const values = cpu.readSync(out.dataId) as tf.backend_util.TypedArray;
          cpu.disposeData(out.dataId);
          return wasm.makeOutput(out.shape, out.dtype, undefined, values);
        });
        return Array.isArray(result) ? copied : (copied[0] as tf.TensorInfo);
      } finally {
        for (const info of Object.values(cpuInputs) as (tf.TensorInfo | undefined)[]) if (info !== undefined) cpu.disposeData(info.dataId);
      }
    },
  };
}
