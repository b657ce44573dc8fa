import * as tf from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';

type Values = Float32Array | Int32Array | Uint8Array;

/**
 * The scatter-add behind `tf.unsortedSegmentSum` (embedding and gather gradients), in one pass
 * over the rows: `out[ids[r], k] += x[r, k]`. Ids outside [0, numSegments) are dropped, as in
 * TensorFlow. O(rows·inner + numSegments·inner); tfjs-cpu's own kernel is O(numSegments·rows·inner).
 */
export function scatterAdd(x: Values, ids: Values, numSegments: number, out: Float32Array | Int32Array): void {
  const rows = ids.length;
  const inner = rows === 0 ? 0 : x.length / rows;
  out.fill(0);
  for (let r = 0; r < rows; r++) {
    const id = ids[r] as number;
    if (!(id >= 0 && id < numSegments)) continue;
    const from = r * inner;
    const to = id * inner;
    for (let k = 0; k < inner; k++) out[to + k] = (out[to + k] as number) + (x[from + k] as number);
  }
}

interface SegmentSumArgs {
  x: tf.TensorInfo;
  segmentIds: tf.TensorInfo;
  numSegments: number;
}

function unpack(args: { inputs: tf.NamedTensorInfoMap; attrs?: tf.NamedAttrMap }): SegmentSumArgs & { shape: number[] } {
  const { x, segmentIds } = args.inputs as { x: tf.TensorInfo; segmentIds: tf.TensorInfo };
  const numSegments = (args.attrs as { numSegments: number }).numSegments;
  return { x, segmentIds, numSegments, shape: [numSegments, ...x.shape.slice(segmentIds.shape.length)] };
}

/** UnsortedSegmentSum for the wasm backend, reading and writing the wasm heap in place. */
export const wasmSegmentSum: tf.KernelConfig = {
  kernelName: 'UnsortedSegmentSum',
  backendName: 'wasm',
  kernelFunc: (args) => {
    const wasm = args.backend as BackendWasm;
    const { x, segmentIds, numSegments, shape } = unpack(args);
    const out = wasm.makeOutput(shape, x.dtype);
    // Views are taken after the allocation: a growing heap detaches older views.
    scatterAdd(wasm.typedArrayFromHeap(x), wasm.typedArrayFromHeap(segmentIds), numSegments, wasm.typedArrayFromHeap(out) as Float32Array);
    return out;
  },
};

/** UnsortedSegmentSum for the cpu backend. */
export const cpuSegmentSum: tf.KernelConfig = {
  kernelName: 'UnsortedSegmentSum',
  backendName: 'cpu',
  kernelFunc: (args) => {
    const cpu = args.backend as tf.KernelBackend & {
      data: { get(id: tf.DataId): { values: Values } };
      makeTensorInfo(shape: number[], dtype: tf.DataType, values: Values): tf.TensorInfo;
    };
    const { x, segmentIds, numSegments, shape } = unpack(args);
    const size = shape.reduce((a, b) => a * b, 1);
    const out = x.dtype === 'int32' ? new Int32Array(size) : new Float32Array(size);
    scatterAdd(cpu.data.get(x.dataId).values, cpu.data.get(segmentIds.dataId).values, numSegments, out);
    return cpu.makeTensorInfo(shape, x.dtype, out);
  },
};

let cpuStock: tf.KernelConfig | undefined;

/**
 * Replaces tfjs-cpu's UnsortedSegmentSum (O(vocabulary × rows): an embedding gradient with a 2,000
 * word vocabulary took 31 s of a 33 s step) with the one-pass scatter-add; idempotent.
 */
export function installCpuFixes(): string[] {
  if (cpuStock === undefined) {
    cpuStock = tf.getKernel('UnsortedSegmentSum', 'cpu');
    if (cpuStock !== undefined) tf.unregisterKernel('UnsortedSegmentSum', 'cpu');
    tf.registerKernel(cpuSegmentSum);
  }
  return ['UnsortedSegmentSum: O(vocabulary × rows) on tfjs-cpu: one-pass scatter-add'];
}

/** Puts tfjs-cpu's own UnsortedSegmentSum back (for comparisons). */
export function uninstallCpuFixes(): void {
  if (cpuStock === undefined) return;
  tf.unregisterKernel('UnsortedSegmentSum', 'cpu');
  tf.registerKernel(cpuStock);
  cpuStock = undefined;
}
