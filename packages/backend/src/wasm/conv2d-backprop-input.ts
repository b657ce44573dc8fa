import * as tf from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { replacing, runWasmKernel, withScratch, type Conv2DBackpropAttrs } from './kernels.js';

/**
 * Conv2DBackpropInput for wasm as one forward convolution, which wasm runs fast (XNNPACK) where its
 * own backprop-input kernel is ~10× slower: dx is the 'valid' stride-1 convolution of dy — spread
 * out by the stride (zeros between rows and columns) and padded by kernel − 1 − forward padding —
 * with the filter rotated 180° and its in/out channels swapped. Cases outside that form (NCHW,
 * forward padding wider than the kernel) run the stock kernel.
 */
export function conv2DBackpropInput(stock: tf.KernelConfig): tf.KernelConfig {
  return replacing(stock, (args) => {
    const { inputs, backend, attrs } = args;
    const { dy, filter } = inputs as { dy: tf.TensorInfo; filter: tf.TensorInfo };
    const a = attrs as unknown as Conv2DBackpropAttrs & { inputShape: [number, number, number, number] };
    if (a.dataFormat === 'NCHW') return stock.kernelFunc(args);
    const [kh, kw, c, f] = filter.shape as [number, number, number, number];
    const info = tf.backend_util.computeConv2DInfo(
      a.inputShape,
      [kh, kw, c, f],
      a.strides,
      1,
      a.pad,
      a.dimRoundingMode,
      false,
      'channelsLast',
    );
    const { batchSize: n, inHeight: h, inWidth: w, outHeight: oh, outWidth: ow, strideHeight: sh, strideWidth: sw } = info;
    const padTop = kh - 1 - info.padInfo.top;
    const padLeft = kw - 1 - info.padInfo.left;
    if (padTop < 0 || padLeft < 0) return stock.kernelFunc(args);
    const wasm = backend as BackendWasm;
    return withScratch(wasm, (keep) => {
      // Spread dy by the stride: [n, oh, ow, f] → [n, oh·sh, ow·sw, f] with dy at rows i·sh, columns j·sw.
      let spread = dy;
      if (sh > 1 || sw > 1) {
        const six = keep(runWasmKernel('Reshape', wasm, { x: dy }, { shape: [n, oh, 1, ow, 1, f] }));
        const padded = keep(
          runWasmKernel(
            'PadV2',
            wasm,
            { x: six },
            {
              paddings: [
                [0, 0],
                [0, 0],
                [0, sh - 1],
                [0, 0],
                [0, sw - 1],
                [0, 0],
              ],
              constantValue: 0,
            },
          ),
        );
        spread = keep(runWasmKernel('Reshape', wasm, { x: padded }, { shape: [n, oh * sh, ow * sw, f] }));
      }
      // Rows needed below / right so that the 'valid' convolution returns exactly h × w.
      const padBottom = h + kh - 1 - padTop - oh * sh;
      const padRight = w + kw - 1 - padLeft - ow * sw;
      if (padBottom < 0 || padRight < 0) {
        const rows = oh * sh + Math.min(0, padBottom);
        const cols = ow * sw + Math.min(0, padRight);
        spread = keep(runWasmKernel('Slice', wasm, { x: spread }, { begin: [0, 0, 0, 0], size: [n, rows, cols, f] }));
      }
      const paddings = [
        [0, 0],
        [padTop, Math.max(0, padBottom)],
        [padLeft, Math.max(0, padRight)],
        [0, 0],
      ];
      const input = paddings.flat().some((p) => p > 0)
        ? keep(runWasmKernel('PadV2', wasm, { x: spread }, { paddings, constantValue: 0 }))
        : spread;
      const rotated = keep(runWasmKernel('Reverse', wasm, { x: filter }, { dims: [0, 1] }));
      const swapped = keep(runWasmKernel('Transpose', wasm, { x: rotated }, { perm: [0, 1, 3, 2] }));
      return runWasmKernel(
        'Conv2D',
        wasm,
        { x: input, filter: swapped },
        { strides: [1, 1], pad: 'valid', dataFormat: 'NHWC', dilations: [1, 1] },
      );
    });
  });
}
