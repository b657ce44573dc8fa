import { withSeededRandom } from '@gradcache/core/internal';
import { check } from './errors.js';

/**
 * Builds a model with its initialisers seeded by `seed` (tfjs initialisers draw from Math.random):
 * the same seed gives bit-identical initial weights. Without a seed, `build` runs as it is.
 */
export function buildSeeded<T>(fn: string, seed: number | undefined, build: () => T): T {
  if (seed === undefined) return build();
  check(Number.isInteger(seed), 'INVALID_OPTION', () => `${fn}: seed must be an integer, got ${seed}.`);
  return withSeededRandom(`encoder-init:${seed}`, build);
}
