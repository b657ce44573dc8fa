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
let addNOriginal: tf.KernelConfig | undefined;

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

/** The webgpu backend's kernels that are wrong for training, replaced; returns what was fixed. Idempotent. */
export function installWebgpuFixes(): string[] {
  const fixes = ['AddN: more inputs than one shader may bind are summed in groups (tfjs 4.22 returned zeros past 7)'];
  if (addNOriginal !== undefined) return fixes;
  const original = tf.getKernel(tf.AddN, 'webgpu');
  if (original === undefined) return [];
  tf.unregisterKernel(tf.AddN, 'webgpu');
  tf.registerKernel({ ...original, kernelFunc: addNInGroups(original) });
  addNOriginal = original;
  return fixes;
}

/** Puts tfjs's own webgpu kernels back (for comparisons). */
export function uninstallWebgpuFixes(): void {
  if (addNOriginal === undefined) return;
  tf.unregisterKernel(tf.AddN, 'webgpu');
  tf.registerKernel(addNOriginal);
  addNOriginal = undefined;
}
