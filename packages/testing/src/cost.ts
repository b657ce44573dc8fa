import { expect } from 'vitest';

/** Milliseconds one call of `f` takes: repeated until 30 ms have passed, the best of 3 such batches. */
export function msPerCall(f: () => void): number {
  f(); // warm up: first-call compilation and allocations
  let best = Number.POSITIVE_INFINITY;
  for (let batch = 0; batch < 3; batch++) {
    let calls = 0;
    const start = performance.now();
    let elapsed = 0;
    do {
      f();
      calls++;
      elapsed = performance.now() - start;
    } while (elapsed < 30);
    best = Math.min(best, elapsed / calls);
  }
  return best;
}

/**
 * Cost is tested like values: times `make(1)` and `make(growth)` — the work at a size and at
 * `growth` times that size — in one process, and fails when the time grows by more than
 * `maxRatio` (default 2·growth: linear growth passes with room for noise, quadratic fails).
 * Returns both times and their ratio for the message.
 */
export function expectLinearCost(
  what: string,
  make: (scale: number) => () => void,
  growth = 4,
  maxRatio = 2 * growth,
): { small: number; large: number; ratio: number } {
  const small = msPerCall(make(1));
  const large = msPerCall(make(growth));
  const ratio = large / small;
  expect(
    ratio,
    `${what}: ${growth}× the input took ${ratio.toFixed(1)}× the time (${small.toFixed(3)} → ${large.toFixed(3)} ms); at most ${maxRatio}× allowed`,
  ).toBeLessThan(maxRatio);
  return { small, large, ratio };
}
