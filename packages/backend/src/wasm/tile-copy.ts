import * as tf from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';

type Values = Float32Array | Int32Array | Uint8Array;

/**
 * `out` = `x` (row-major, `shape`) tiled `reps` times along each dimension: each block is written
 * once and then replicated with `copyWithin` by doubling (a size-1 last dimension with one `fill`),
 * so the work is a few large copies, not one index computation per element.
 */
export function tileInto(x: Values, shape: readonly number[], reps: readonly number[], out: Values): void {
  const rank = shape.length;
  if (rank === 0) {
    out[0] = x[0] as number;
    return;
  }
  const outShape = shape.map((s, d) => s * (reps[d] as number));
  const xStrides = new Array<number>(rank).fill(1);
  const outStrides = new Array<number>(rank).fill(1);
  for (let d = rank - 2; d >= 0; d--) {
    xStrides[d] = (xStrides[d + 1] as number) * (shape[d + 1] as number);
    outStrides[d] = (outStrides[d + 1] as number) * (outShape[d + 1] as number);
  }
  const fill = (d: number, xOffset: number, outOffset: number): void => {
    const size = shape[d] as number;
    const times = reps[d] as number;
    if (d === rank - 1 && size === 1) {
      out.fill(x[xOffset] as number, outOffset, outOffset + times); // a broadcast column: one fill
      return;
    }
    if (d === rank - 1) {
      out.set(x.subarray(xOffset, xOffset + size), outOffset);
    } else {
      for (let i = 0; i < size; i++) fill(d + 1, xOffset + i * (xStrides[d] as number), outOffset + i * (outStrides[d] as number));
    }
    // The block of one copy of x along d is written: replicate it by doubling (log₂ reps copies).
    const block = size * (outStrides[d] as number);
    for (let done = 1; done < times; ) {
      const n = Math.min(done, times - done);
      out.copyWithin(outOffset + done * block, outOffset, outOffset + n * block);
      done += n;
    }
  };
  fill(0, 0, 0);
}

/**
 * Tile on the wasm heap by block copies. tfjs-wasm's own kernel computes every output element's
 * source index: 10 ms for a LayerNormalization's [1, 1, 128] → [64, 32, 128] — 40 % of a
 * Transformer text-tower step (its forward and GradCache's re-forward). Strings go to the stock kernel.
 */
export function tileCopyKernel(stock: tf.KernelConfig): tf.KernelConfig {
  return {
    ...stock,
    kernelFunc: (args) => {
      const { x } = args.inputs as { x: tf.TensorInfo };
      if (x.dtype === 'string' || x.dtype === 'complex64') return stock.kernelFunc(args);
      const { reps } = args.attrs as { reps: number[] };
      const wasm = args.backend as BackendWasm;
      const out = wasm.makeOutput(
        x.shape.map((s, d) => s * (reps[d] as number)),
        x.dtype,
      );
      if (tf.util.sizeFromShape(out.shape) === 0) return out;
      // Views are taken after the allocation: a growing heap detaches older views.
      tileInto(wasm.typedArrayFromHeap(x) as Values, x.shape, reps, wasm.typedArrayFromHeap(out) as Values);
      return out;
    },
  };
}
