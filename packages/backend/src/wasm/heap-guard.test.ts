import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { beforeAll, describe, expect, test } from 'vitest';
import { initBackend } from '../init-backend.js';
import { BackendError } from '../errors.js';
import { DEFAULT_WASM_HEAP_LIMIT, installHeapGuard } from './heap-guard.js';

beforeAll(async () => {
  tf.env().set('PROD', true);
  await initBackend('wasm');
});

describe('wasm heap guard', () => {
  test('throws a clear error for an allocation past the limit, and the backend stays usable', () => {
    const backend = tf.backend() as BackendWasm;
    installHeapGuard(backend, 8 * 2 ** 20); // nothing may end past 8 MiB of heap
    const before = tf.memory().numTensors;
    let error: unknown;
    try {
      tf.zeros([4 * 2 ** 20]); // 16 MiB
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(BackendError);
    expect((error as BackendError).code).toBe('WASM_HEAP_LIMIT');
    expect((error as Error).message).toMatch(
      /allocating 0\.02 GiB would take the heap past its safe limit of 0\.01 GiB .* smaller chunk size/,
    );
    expect(tf.memory().numTensors).toBe(before);
    installHeapGuard(backend, DEFAULT_WASM_HEAP_LIMIT);
    const sum = tf.tidy(() => tf.sum(tf.add(tf.ones([1000]), tf.ones([1000]))).dataSync()[0]);
    expect(sum).toBe(2000);
  });
});

describe('wasm heap guard near the real limit (child process)', () => {
  test('many allocations toward the limit end in WASM_HEAP_LIMIT with every tensor intact, and a matMul without room for XNNPACK is refused', () => {
    const child = spawnSync(
      process.execPath,
      ['--conditions=@gradcache/source', '--import', 'tsx', fileURLToPath(new URL('./heap-limit.child.ts', import.meta.url)), 'matmul'],
      { cwd: fileURLToPath(new URL('../..', import.meta.url)), encoding: 'utf8', timeout: 120_000 },
    );
    const report = JSON.parse(child.stdout.trim().split('\n').at(-1) ?? '{}') as {
      allocated: number;
      code?: string;
      wrongCount: number;
      matMul?: { code?: string };
    };
    expect(child.status, child.stderr).toBe(0);
    expect(report.code).toBe('WASM_HEAP_LIMIT');
    expect(report.allocated).toBeGreaterThanOrEqual(40); // 64 MiB each: ~3 GiB before the guard stops it
    expect(report.wrongCount).toBe(0);
    expect(report.matMul?.code).toBe('WASM_HEAP_LIMIT');
  });
});
