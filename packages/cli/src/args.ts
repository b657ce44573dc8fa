import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '@gradcache/backend/node';

/** A bad command line: printed as one line, exit code 2. */
export class UsageError extends Error {
  override name = 'UsageError';
}

/** The flags of one command: string and boolean values by name. */
export type Flags = Record<string, { type: 'string' | 'boolean'; short?: string }>;

/** Parses a command's flags strictly (unknown flags and missing values are usage errors naming the command's --help). */
export function parse(command: string, args: string[], flags: Flags): Record<string, string | boolean | undefined> {
  try {
    const { values } = parseArgs({
      args,
      options: { ...flags, help: { type: 'boolean', short: 'h' } },
      strict: true,
      allowPositionals: false,
    });
    return values as Record<string, string | boolean | undefined>;
  } catch (error) {
    throw new UsageError(`${(error as Error).message.replace(/\.?$/, '.')} See gradcache ${command} --help.`);
  }
}

/** A flag's value as a number ≥ `min` (an integer unless `integer` is false), or the fallback when absent. */
export function number(
  name: string,
  value: string | boolean | undefined,
  fallback: number,
  options: { integer?: boolean; min?: number } = {},
): number {
  const { integer = true, min = 0 } = options;
  if (value === undefined) return fallback;
  const n = Number(value);
  if (typeof value !== 'string' || value.trim() === '' || !Number.isFinite(n) || (integer && !Number.isInteger(n)) || n < min) {
    throw new UsageError(`--${name} must be ${integer ? 'an integer' : 'a number'} ≥ ${min}, got '${String(value)}'.`);
  }
  return n;
}

/** A flag's comma-separated list of integers ≥ 1, or the fallback when absent. */
export function list(name: string, value: string | boolean | undefined, fallback: number[]): number[] {
  if (value === undefined) return fallback;
  return String(value)
    .split(',')
    .map((v) => number(name, v.trim(), 0, { min: 1 }));
}

/** A flag's value, one of `choices`, or the fallback when absent. */
export function choice<T extends string>(name: string, value: string | boolean | undefined, choices: readonly T[], fallback: T): T {
  if (value === undefined) return fallback;
  if (!choices.includes(value as T)) throw new UsageError(`--${name} must be one of ${choices.join(', ')}, got '${String(value)}'.`);
  return value as T;
}

/** The backends a command runs on: verify reads tensors synchronously, which WebGPU in Node cannot. */
export const ASYNC_BACKENDS = ['wasm', 'cpu', 'webgpu'] as const;
export const SYNC_BACKENDS = ['wasm', 'cpu'] as const;

/** Makes `--backend` (default wasm) the active backend. */
export async function setBackend(
  value: string | boolean | undefined,
  allowed: readonly (typeof ASYNC_BACKENDS)[number][] = ASYNC_BACKENDS,
): Promise<void> {
  const backend = choice('backend', value, allowed, 'wasm');
  // tfjs's banner ("looks like you are running TensorFlow.js in Node.js") would interleave with the
  // progress output; the backend is named in the first line instead.
  tf.env().set('PROD', true);
  await initBackend(backend);
}

/** Retrieval metrics on one line. */
export function formatMetrics(m: { recall: Record<number, number>; mrr: number; ndcg10: number; queries: number }): string {
  const pct = (x: number | undefined): string => `${(100 * (x ?? Number.NaN)).toFixed(1)}%`;
  return `recall@1 ${pct(m.recall[1])}  recall@10 ${pct(m.recall[10])}  MRR ${m.mrr.toFixed(3)}  nDCG@10 ${m.ndcg10.toFixed(3)}  (${m.queries} queries)`;
}

/** A byte count: `2GiB`, `512MiB`, `1.5GB`, `100KB` or plain bytes (`--memory`). */
export function bytes(name: string, value: string | boolean | undefined): number | undefined {
  if (value === undefined) return undefined;
  const match = /^(\d+(?:\.\d+)?)\s*(b|kb|kib|mb|mib|gb|gib|tb|tib)?$/i.exec(String(value).trim());
  const unit = (match?.[2] ?? 'b').toLowerCase();
  const scale: Record<string, number> = {
    b: 1,
    kb: 1e3,
    kib: 2 ** 10,
    mb: 1e6,
    mib: 2 ** 20,
    gb: 1e9,
    gib: 2 ** 30,
    tb: 1e12,
    tib: 2 ** 40,
  };
  const n = match === null ? Number.NaN : Number(match[1]) * (scale[unit] as number);
  if (!(n >= 1)) throw new UsageError(`--${name} must be a size such as 2GiB, 512MiB or 1000000, got '${String(value)}'.`);
  return Math.floor(n);
}
