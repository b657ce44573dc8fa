import seedrandom from 'seedrandom';
import { afterEach, beforeEach, expect } from 'vitest';

// tfjs initialisers and ops without a seed draw from Math.random: seed it per test, by the test's
// name, so every run of a test builds the same weights (a test that passes once passes every time;
// an unseeded ReLU MLP once gave an all-zero rep row in CI). Registered by vitest.config.ts.
const original = Math.random;

beforeEach(() => {
  Math.random = seedrandom.alea(`test:${expect.getState().currentTestName ?? ''}`);
});

afterEach(() => {
  Math.random = original;
});
