/**
 * A number from the environment (`DEMO_BATCH=1024 pnpm demo`), or the fallback when unset. A value
 * that is not a number ≥ `min` stops the run with a message naming the variable — not a NaN that
 * surfaces minutes later as an empty table.
 */
export function envNumber(name: string, fallback: number, min = 0): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value < min) {
    throw new Error(`${name} must be a number ≥ ${min}, got '${raw}'.`);
  }
  return value;
}
