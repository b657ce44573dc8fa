import fc from 'fast-check';
import { describe, test } from 'vitest';
import { initBackend } from '@gradcache/backend/node';
import { useBackend } from '@gradcache/testing';
import { caseArb, checkCase, runParameters } from './property.js';

// fast-check's failure message carries the seed and the shrunk case; FC_SEED=<seed> replays it.
describe('cached gradient equals the full-batch gradient', () => {
  test('on cpu, for random MLP encoders, batch and chunk sizes, InfoNCE and a batch-statistics loss', async () => {
    await useBackend('cpu');
    fc.assert(fc.property(caseArb, checkCase), runParameters(150));
  });

  test('on wasm with the training fixes of @gradcache/backend (a smaller run)', async () => {
    await initBackend('wasm');
    fc.assert(fc.property(caseArb, checkCase), runParameters(30));
  });
});
