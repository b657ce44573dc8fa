import * as tf from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { cpuBridge } from './cpu-bridge.js';
import { disposeInfos, runWasmKernel } from './kernels.js';

interface Conv2DBackpropFilterAttrs {
  strides: [number, number] | number;
  pad: 'valid' | 'same' | number | tf.backend_util.ExplicitPadding;
  dataFormat: 'NHWC' | 'NCHW';
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
  filterShape: [number, number, number, number];
  dilations?: [number, number] | number;
}

/**
 * Conv2DBackpropFilter for wasm at matMul speed, which stock wasm lacks: for every filter tap
 * (kh, kw) the input rows that tap saw are one strided slice of the padded input, and
 * dW[kh, kw] = sliceᵀ·dy, computed as (dyᵀ·slice)ᵀ so that dy is transposed once and every matMul
 * is untransposed. Peak extra memory: the padded input, dyᵀ and one slice. NCHW goes to cpu.
 */
export function conv2DBackpropFilter(): tf.KernelConfig {
  const fallback = cpuBridge('Conv2DBackpropFilter');
  return {
    kernelName: 'Conv2DBackpropFilter',
    backendName: 'wasm',
    kernelFunc: (args) => {
      const { inputs, backend, attrs } = args;
      const { x, dy } = inputs as { x: tf.TensorInfo; dy: tf.TensorInfo };
      const a = attrs as unknown as Conv2DBackpropFilterAttrs;
      if (a.dataFormat === 'NCHW') return fallback.kernelFunc(args);
      const wasm = backend as BackendWasm;
      const info = tf.backend_util.computeConv2DInfo(
        x.shape as [number, number, number, number],
        a.filterShape,
        a.strides,
        a.dilations ?? 1,
        a.pad,
        a.dimRoundingMode,
        false,
        'channelsLast',
      );
      const { batchSize: n, outHeight, outWidth, inChannels: c, outChannels: f, filterHeight: kh, filterWidth: kw } = info;
      const { strideHeight: sh, strideWidth: sw, dilationHeight: dh, dilationWidth: dw } = info;
      const { top, left } = info.padInfo;
      const rows = n * outHeight * outWidth;
      // Pad so that every tap's slice lies inside: the last tap reads up to (out−1)·s + (k−1)·d.
      const needH = (outHeight - 1) * sh + (kh - 1) * dh + 1;
      const needW = (outWidth - 1) * sw + (kw - 1) * dw + 1;
      const bottom = Math.max(0, needH - top - (x.shape[1] as number));
      const right = Math.max(0, needW - left - (x.shape[2] as number));
      const temps: tf.TensorInfo[] = [];
      const keep = (t: tf.TensorInfo): tf.TensorInfo => (temps.push(t), t);
      try {
        const padded =
          top === 0 && left === 0 && bottom === 0 && right === 0
            ? x
            : keep(runWasmKernel('PadV2', wasm, { x }, { paddings: [[0, 0], [top, bottom], [left, right], [0, 0]], constantValue: 0 }));
        const dyRows = keep(runWasmKernel('Reshape', wasm, { x: dy }, { shape: [rows, f] }));
        const dyT = keep(runWasmKernel('Transpose', wasm, { x: dyRows }, { perm: [1, 0] }));
        const dyT3 = keep(runWasmKernel('Reshape', wasm, { x: dyT }, { shape: [1, f, rows] }));
        const taps: tf.TensorInfo[] = [];
        for (let i = 0; i < kh; i++) {
          for (let j = 0; j < kw; j++) {
            const begin = [0, i * dh, j * dw, 0];
            const end = [n, i * dh + (outHeight - 1) * sh + 1, j * dw + (outWidth - 1) * sw + 1, c];
            // Slice (a run of row copies) is several times faster than StridedSlice on wasm.
            const slice = keep(
              sh === 1 && sw === 1
                ? runWasmKernel('Slice', wasm, { x: padded }, { begin, size: end.map((e, k) => e - (begin[k] as number)) })
                : runWasmKernel('StridedSlice', wasm, { x: padded }, { begin, end, strides: [1, sh, sw, 1], beginMask: 0, endMask: 0, ellipsisMask: 0, newAxisMask: 0, shrinkAxisMask: 0 }),
            );
            const slice3 = keep(runWasmKernel('Reshape', wasm, { x: slice }, { shape: [1, rows, c] }));
            // [1, f, rows]·[1, rows, c] = [1, f, c]
            taps.push(keep(runWasmKernel('BatchMatMul', wasm, { a: dyT3, b: slice3 }, { transposeA: false, transposeB: false })));
            disposeInfos(wasm, temps.splice(temps.indexOf(slice), 2));
          }
        }
        // Concat takes its inputs as an array.
        const stacked = keep(runWasmKernel('Concat', wasm, taps as unknown as tf.NamedTensorInfoMap, { axis: 0 })); // [kh·kw, f, c]
        const swapped = keep(runWasmKernel('Transpose', wasm, { x: stacked }, { perm: [0, 2, 1] })); // [kh·kw, c, f]
        return runWasmKernel('Reshape', wasm, { x: swapped }, { shape: [kh, kw, c, f] });
      } finally {
        disposeInfos(wasm, temps);
      }
    },
  };
}
