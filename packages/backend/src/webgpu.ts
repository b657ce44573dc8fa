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
