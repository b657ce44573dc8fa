export { BackendError, type BackendErrorCode } from './errors.js';
export {
  initBackend,
  type BackendChoice,
  type BackendName,
  type BackendPreference,
  type InitBackendOptions,
  type Platform,
  type SkippedBackend,
} from './init-backend.js';
export { backendInfo, formatBackendInfo, type BackendInfo } from './backend-info.js';
export type { AdapterInfo, AdapterLike, GpuLike } from './webgpu.js';
