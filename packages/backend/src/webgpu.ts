import * as tf from '@tensorflow/tfjs-core';

/** The WebGPU adapter a backend runs on, as `backendInfo` and `initBackend` report it. */
export interface AdapterInfo {
  vendor: string;
  architecture: string;
  device: string;
  description: string;
  /** A software rasteriser (llvmpipe/lavapipe, SwiftShader, WARP): correct, but slower than wasm. */
  software: boolean;
}

/** The part of WebGPU's `GPU` (navigator.gpu) used here; structural, so no WebGPU typings are needed. */
export interface GpuLike {
  requestAdapter(options?: { powerPreference?: 'low-power' | 'high-performance' }): Promise<AdapterLike | null>;
}

/** The part of a `GPUAdapter` read here. */
export interface AdapterLike {
  info?: { vendor?: string; architecture?: string; device?: string; description?: string };
  isFallbackAdapter?: boolean;
}

let active: AdapterInfo | undefined;

/** The adapter initBackend put the webgpu backend on, if any. */
export function activeAdapter(): AdapterInfo | undefined {
  return active;
}

/** Records the adapter the webgpu backend runs on. */
export function setActiveAdapter(info: AdapterInfo): void {
  active = info;
}

const SOFTWARE = /llvmpipe|lavapipe|swiftshader|software|warp|basic render/i;

/** Reads a GPUAdapter's info (the `info` attribute of current WebGPU; older browsers lack it). */
export function describeAdapter(adapter: AdapterLike): AdapterInfo {
  const info = adapter.info ?? {};
  const [vendor, architecture, device, description] = [info.vendor, info.architecture, info.device, info.description].map((x) => x ?? '');
  const fallback = adapter.isFallbackAdapter === true;
  return {
    vendor: vendor as string,
    architecture: architecture as string,
    device: device as string,
    description: description || [vendor, architecture, device].filter(Boolean).join(' ') || 'an unnamed adapter',
    software: fallback || SOFTWARE.test(`${vendor} ${architecture} ${device} ${description}`),
  };
}

type KernelArgs = Parameters<tf.KernelFunc>[0];

/**
 * AddN on webgpu binds every input as a storage buffer in one shader, so past the device's
 * `maxStorageBuffersPerShaderStage − 1` inputs (7 by default) the pipeline is invalid and tfjs
 * returns zeros, silently. Fixed: inputs are summed in groups that fit, then the partial sums.
 */
function addNInGroups(original: tf.KernelConfig): tf.KernelFunc {
  return (args: KernelArgs) => {
    const backend = args.backend as unknown as {
      device: { limits: { maxStorageBuffersPerShaderStage: number } };
      disposeData(id: object): void;
    };
    const fits = Math.max(2, backend.device.limits.maxStorageBuffersPerShaderStage - 1);
    let level = args.inputs as unknown as tf.TensorInfo[];
    if (level.length <= fits) return original.kernelFunc(args);
    const made: tf.TensorInfo[] = [];
    while (level.length > fits) {
      const next: tf.TensorInfo[] = [];
      for (let i = 0; i < level.length; i += fits) {
        const group = level.slice(i, i + fits);
        if (group.length === 1) {
          next.push(group[0] as tf.TensorInfo);
          continue;
        }
        const sum = original.kernelFunc({ ...args, inputs: group as unknown as tf.NamedTensorInfoMap }) as tf.TensorInfo;
        made.push(sum);
        next.push(sum);
      }
      level = next;
    }
    const out = original.kernelFunc({ ...args, inputs: level as unknown as tf.NamedTensorInfoMap }) as tf.TensorInfo;
    for (const t of made) backend.disposeData(t.dataId);
    return out;
  };
}

/**
 * Cast on webgpu from int32 or bool to float32 keeps the integer buffer and only relabels the
 * tensor. Programs that read their input through its typed getter convert, but Transpose indexes the
 * buffer directly, and its shader (i32 in, f32 out) is invalid: tfjs goes on with zeros — a
 * [16, 64, 1] mask cast to float and summed over axis 1 (mean pooling) gave NaN losses. Fixed: the
 * relabelled tensor is added to a float 0, which writes a float32 buffer of the same values.
 */
function castWritingFloats(original: tf.KernelConfig): tf.KernelFunc {
  return (args: KernelArgs) => {
    const { x } = args.inputs as { x: tf.TensorInfo };
    const { dtype } = args.attrs as { dtype: tf.DataType };
    if (dtype !== 'float32' || (x.dtype !== 'int32' && x.dtype !== 'bool')) return original.kernelFunc(args);
    const backend = args.backend as unknown as {
      makeTensorInfo(shape: number[], dtype: tf.DataType, values: Float32Array): tf.TensorInfo;
      disposeData(id: object): void;
    };
    const relabelled = original.kernelFunc(args) as tf.TensorInfo;
    const zero = backend.makeTensorInfo([], 'float32', new Float32Array([0]));
    try {
      const add = tf.getKernel(tf.Add, 'webgpu') as tf.KernelConfig;
      return add.kernelFunc({ inputs: { a: relabelled, b: zero }, backend: args.backend, attrs: {} }) as tf.TensorInfo;
    } finally {
      backend.disposeData(relabelled.dataId);
      backend.disposeData(zero.dataId);
    }
  };
}

const WEBGPU_FIXES: readonly { kernel: string; why: string; make: (original: tf.KernelConfig) => tf.KernelFunc }[] = [
  {
    kernel: tf.AddN,
    why: 'more inputs than one shader may bind are summed in groups (tfjs 4.22 returned zeros past 7)',
    make: addNInGroups,
  },
  {
    kernel: tf.Cast,
    why: 'int32/bool → float32 writes float32 data (tfjs 4.22 relabelled the integer buffer, which Transpose then read as floats: zeros, NaN losses)',
    make: castWritingFloats,
  },
];
const originals = new Map<string, tf.KernelConfig>();

/** The webgpu backend's kernels that are wrong for training, replaced; returns what was fixed. Idempotent. */
export function installWebgpuFixes(): string[] {
  for (const fix of WEBGPU_FIXES) {
    if (originals.has(fix.kernel)) continue;
    const original = tf.getKernel(fix.kernel, 'webgpu');
    if (original === undefined) continue;
    tf.unregisterKernel(fix.kernel, 'webgpu');
    tf.registerKernel({ ...original, kernelFunc: fix.make(original) });
    originals.set(fix.kernel, original);
  }
  return WEBGPU_FIXES.filter((f) => originals.has(f.kernel)).map((f) => `${f.kernel}: ${f.why}`);
}

/** Puts tfjs's own webgpu kernels back (for comparisons). */
export function uninstallWebgpuFixes(): void {
  for (const [kernel, original] of originals) {
    tf.unregisterKernel(kernel, 'webgpu');
    tf.registerKernel(original);
  }
  originals.clear();
}
