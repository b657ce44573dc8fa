/**
 * fast-check run parameters: `numRuns`, and the seed from FC_SEED when it is set — fast-check prints
 * the seed of a failing run; `FC_SEED=<seed> pnpm test` replays it.
 */
export function fcParameters(numRuns: number): { numRuns: number; seed?: number } {
  const seed = process.env['FC_SEED'];
  if (seed === undefined) return { numRuns };
  const value = Number(seed);
  if (!Number.isInteger(value)) throw new Error(`FC_SEED must be an integer (the seed fast-check printed), got '${seed}'.`);
  return { numRuns, seed: value };
}
