// The GPU check's first step (scripts/gpu-check.sh): start WebGPU and print its adapter. Exits 3 when
// the adapter is a software one unless GPU_CHECK_SOFTWARE=1 (the dry run): on a GPU machine that
// means the GPU's Vulkan driver was not picked up, and every time after it would say nothing.
import { backendInfo, formatBackendInfo, initBackend } from '@gradcache/backend/node';

await initBackend('webgpu');
const info = await backendInfo();
console.log(formatBackendInfo(info));
if (info.adapter?.software === true && process.env['GPU_CHECK_SOFTWARE'] !== '1') {
  console.log('gpu-check: the only WebGPU adapter is a software one: the GPU driver was not picked up (VK_DRIVER_FILES).');
  process.exit(3);
}
