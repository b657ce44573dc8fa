import * as tf from '@tensorflow/tfjs-core';
import { MathBackendCPU } from '@tensorflow/tfjs-backend-cpu';
import { afterEach, beforeAll, describe, expect, test } from 'vitest';
import { initBackend } from './node.js';
import { initBackend as initBrowserBackend, initBackendOn } from './init-backend.js';
import { BackendError } from './errors.js';

beforeAll(() => {
  tf.env().set('PROD', true);
});

afterEach(() => {
  delete process.env['GRADCACHE_BACKEND'];
});

const notInstalled = async (name: string): Promise<never> => {
  throw Object.assign(new Error(`Cannot find package '${name}' imported from /app/index.js`), { code: 'ERR_MODULE_NOT_FOUND' });
};
const brokenInstall = async (name: string): Promise<never> => {
  throw new Error(
    `The Node.js native addon module (tfjs_binding.node) can not be found at path: /app/node_modules/${name}/lib/napi-v8/tfjs_binding.node.`,
  );
};

describe('initBackend', () => {
  test('falls back to wasm with its fixes when tfjs-node is not installed, saying why', async () => {
    const choice = await initBackend({ importModule: notInstalled });
    expect(choice.backend).toBe('wasm');
    expect(tf.getBackend()).toBe('wasm');
    expect(choice.skipped.map((s) => s.name)).toEqual([
      '@tensorflow/tfjs-node-gpu',
      '@tensorflow/tfjs-node',
      '@tensorflow/tfjs-backend-webgpu',
    ]);
    expect(choice.skipped[0]?.reason).toMatch(/^@tensorflow\/tfjs-node-gpu is not installed; .* see docs\/backends\.md/);
    expect(choice.fixes.join('\n')).toMatch(/Conv2DBackpropFilter/);
  });

  test('explains a present-but-broken tfjs-node install (its native addon is missing)', async () => {
    const choice = await initBackend({ importModule: brokenInstall });
    expect(choice.backend).toBe('wasm');
    expect(choice.skipped[1]?.reason).toMatch(
      /^@tensorflow\/tfjs-node is installed but its native addon is missing — its install script needs internet access .*docs\/backends\.md/,
    );
  });

  test('uses tfjs-node-gpu when it loads', async () => {
    const loaded: string[] = [];
    const fakeGpu = async (name: string): Promise<void> => {
      loaded.push(name);
      // Stands in for the real package, which registers the 'tensorflow' backend when imported.
      tf.registerBackend('tensorflow', () => new MathBackendCPU());
    };
    try {
      const choice = await initBackend({ importModule: fakeGpu });
      expect(choice).toMatchObject({ backend: 'tensorflow', package: '@tensorflow/tfjs-node-gpu', skipped: [] });
      expect(loaded).toEqual(['@tensorflow/tfjs-node-gpu']);
      expect(tf.getBackend()).toBe('tensorflow');
    } finally {
      await tf.setBackend('cpu');
      tf.removeBackend('tensorflow');
    }
  });

  test('a forced backend that cannot load is an error, not a fallback', async () => {
    const error = await initBackend({ preference: 'tensorflow', importModule: brokenInstall }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BackendError);
    expect((error as BackendError).code).toBe('BACKEND_UNAVAILABLE');
    expect((error as Error).message).toMatch(/native addon is missing/);
  });

  test('GRADCACHE_BACKEND forces a backend; an explicit preference wins over it', async () => {
    process.env['GRADCACHE_BACKEND'] = 'cpu';
    expect((await initBackend({ importModule: notInstalled })).backend).toBe('cpu');
    expect((await initBackend({ preference: 'wasm', importModule: notInstalled })).backend).toBe('wasm');
    process.env['GRADCACHE_BACKEND'] = 'gpu';
    const error = await initBackend().catch((e: unknown) => e);
    expect((error as BackendError).code).toBe('INVALID_PREFERENCE');
    expect((error as Error).message).toMatch(/one of auto, tensorflow, webgpu, webgl, wasm, cpu, got "gpu" \(from GRADCACHE_BACKEND\)/);
  });

  test('on this machine: picks a backend and gives every skipped option a reason', async () => {
    const choice = await initBackend();
    expect(['tensorflow', 'webgpu', 'wasm']).toContain(choice.backend);
    for (const { reason } of choice.skipped)
      expect(reason).toMatch(/docs\/backends\.md|failed to load|software rasteriser|shows no GPU device/);
  });

  const adapter = (info: { vendor: string; architecture: string; device: string; description: string }) => async () => ({
    requestAdapter: async () => ({ info }),
  });

  test("auto passes over a software WebGPU adapter (wasm is faster on a CPU), naming it; 'webgpu' by name would take it", async () => {
    const llvmpipe = adapter({ vendor: 'mesa', architecture: 'software', device: 'llvmpipe', description: 'llvmpipe: Mesa 25.0.7' });
    const choice = await initBackend({ importModule: notInstalled, gpu: llvmpipe });
    expect(choice.backend).toBe('wasm');
    expect(choice.skipped[2]).toEqual({
      name: '@tensorflow/tfjs-backend-webgpu',
      reason: expect.stringMatching(
        /^the only WebGPU adapter is a software rasteriser \(llvmpipe: Mesa 25\.0\.7\); .*Ask for 'webgpu' by name/,
      ),
    });
  });

  test('WebGPU without an adapter, or without WebGPU at all, says what to install; forcing it is an error', async () => {
    const none = async () => ({ requestAdapter: async () => null });
    const choice = await initBackend({ importModule: notInstalled, gpu: none });
    expect(choice.skipped[2]?.reason).toMatch(
      /^WebGPU found no adapter: install a Vulkan driver \(Debian: mesa-vulkan-drivers from bookworm-backports/,
    );
    const error = await initBackend({ preference: 'webgpu', gpu: async () => undefined }).catch((e: unknown) => e);
    expect((error as BackendError).code).toBe('BACKEND_UNAVAILABLE');
    expect((error as Error).message).toMatch(/the 'webgpu' backend cannot load: no WebGPU/);
  });

  test("auto does not start WebGPU on a machine that shows no GPU device; 'webgpu' by name still tries", async () => {
    let asked = 0;
    const platform = {
      gpu: async () => {
        asked += 1;
        return 'no WebGPU here.';
      },
      mayHaveGpu: () => false,
      env: () => undefined,
    };
    const choice = await initBackendOn(platform);
    expect([choice.backend, asked]).toEqual(['wasm', 0]);
    expect(choice.skipped.at(-1)?.reason).toMatch(/^this machine shows no GPU device .*ask for 'webgpu' to try anyway/);
    await expect(initBackendOn(platform, { preference: 'webgpu' })).rejects.toThrowError(/no WebGPU here/);
    expect(asked).toBe(1);
  });

  test('the browser entry has no tfjs-node and says where it is', async () => {
    const choice = await initBrowserBackend({ gpu: async () => undefined });
    expect(choice.backend).toBe('wasm');
    expect(choice.skipped[0]?.reason).toMatch(/runs only in Node\.js; there, import initBackend from '@gradcache\/backend\/node'/);
    const error = await initBrowserBackend({ preference: 'webgpu' }).catch((e: unknown) => e);
    expect((error as Error).message).toMatch(/this is Node, where WebGPU comes from the npm package webgpu \(Dawn\)/);
  });
});
