import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, test } from 'vitest';
import { backendInfo, formatBackendInfo } from './backend-info.js';
import { initBackend } from './init-backend.js';

describe('backendInfo', () => {
  test('names the backend, the versions and wasm SIMD/threads', async () => {
    tf.env().set('PROD', true);
    await initBackend('wasm');
    const info = await backendInfo();
    expect(info).toMatchObject({ backend: 'wasm', tfjs: tf.version_core, node: process.version });
    expect(info.wasm?.heapBytes).toBeGreaterThan(0);
    expect(formatBackendInfo(info)).toMatch(/^wasm \(simd (on|off), threads (on|off)\) · tfjs 4\.22\.0 · node v/);
  });
});
