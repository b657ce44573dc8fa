import * as tf from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';

/**
 * `[rows, columns]` when summing `axes` of `shape` is summing the rows of a row-major matrix — every
 * reduced axis longer than 1 comes before every kept axis longer than 1 — with more than one of
 * each; undefined otherwise (an innermost or a full reduction, which the stock kernel does in place).
 */
export function leadingReduction(shape: readonly number[], axes: readonly number[]): [number, number] | undefined {
  let rows = 1;
  let columns = 1;
  for (let d = 0; d < shape.length; d++) {
    const size = shape[d] as number;
    if (size === 1) continue;
    if (!axes.includes(d)) {
      columns *= size;
    } else {
      if (columns > 1) return undefined; // a reduced axis after a kept one
      rows *= size;
    }
  }
  return rows > 1 && columns > 1 ? [rows, columns] : undefined;
}

/**
 * `out[c]` = Σ over r of `x[r·columns + c]`, r in increasing order from 0 — the order, and so the
 * float32 result, of the stock kernel's sequential sum over a transposed copy. Eight columns at a
 * time in locals rounded to float32 (`Math.fround`, as the stock kernel's float accumulator), the
 * rows read in order: ~5× faster than adding each row into `out`.
 */
export function sumRows(x: Float32Array, rows: number, columns: number, out: Float32Array): void {
  const end = rows * columns;
  let c = 0;
  for (; c + 8 <= columns; c += 8) {
    let [s0, s1, s2, s3, s4, s5, s6, s7] = [0, 0, 0, 0, 0, 0, 0, 0];
    for (let i = c; i < end; i += columns) {
      s0 = Math.fround(s0 + (x[i] as number));
      s1 = Math.fround(s1 + (x[i + 1] as number));
      s2 = Math.fround(s2 + (x[i + 2] as number));
      s3 = Math.fround(s3 + (x[i + 3] as number));
      s4 = Math.fround(s4 + (x[i + 4] as number));
      s5 = Math.fround(s5 + (x[i + 5] as number));
      s6 = Math.fround(s6 + (x[i + 6] as number));
      s7 = Math.fround(s7 + (x[i + 7] as number));
    }
    out.set([s0, s1, s2, s3, s4, s5, s6, s7], c);
  }
  for (; c < columns; c++) {
    let s = 0;
    for (let i = c; i < end; i += columns) s = Math.fround(s + (x[i] as number));
    out[c] = s;
  }
}

/**
 * Sum over leading axes (the gradient of every broadcast bias and LayerNorm scale: [1024, 128] →
 * [128]) as row sums on the heap. tfjs-wasm transposes such an input so that the reduced axes come
 * last, then sums: 0.86 ms for [1024, 128] against 0.17 ms here (best of 5 rounds, one process).
 * Other reductions and dtypes go to the stock kernel.
 */
export function leadingSumKernel(stock: tf.KernelConfig): tf.KernelConfig {
  return {
    ...stock,
    kernelFunc: (args) => {
      const { x } = args.inputs as { x: tf.TensorInfo };
      const { axis, keepDims } = args.attrs as unknown as { axis: number | number[]; keepDims: boolean };
      if (x.dtype !== 'float32') return stock.kernelFunc(args);
      const axes = tf.util.parseAxisParam(axis, x.shape);
      const plan = leadingReduction(x.shape, axes);
      if (plan === undefined) return stock.kernelFunc(args);
      const outShape = keepDims ? x.shape.map((s, d) => (axes.includes(d) ? 1 : s)) : x.shape.filter((_, d) => !axes.includes(d));
      const wasm = args.backend as BackendWasm;
      const out = wasm.makeOutput(outShape, 'float32');
      // Views after the allocation: a growing heap detaches older ones.
      sumRows(wasm.typedArrayFromHeap(x) as Float32Array, plan[0], plan[1], wasm.typedArrayFromHeap(out) as Float32Array);
      return out;
    },
  };
}
