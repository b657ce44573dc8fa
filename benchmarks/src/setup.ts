import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { backendInfo, formatBackendInfo, initBackend } from '@gradcache/backend/node';

/** Initialises the wasm backend with its training fixes and describes the set-up in one line. */
export async function setUpWasm(): Promise<string> {
  await initBackend('wasm');
  return formatBackendInfo(await backendInfo());
}

/** The median of some numbers. */
export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

/** Bytes as MiB with one decimal. */
export function mib(bytes: number): string {
  return `${(bytes / 2 ** 20).toFixed(1)} MiB`;
}

/** Formats generated files as `pnpm format` would (aligned markdown tables), so `pnpm lint` passes on them as written. */
export function formatGenerated(paths: readonly URL[]): void {
  const root = new URL('../../', import.meta.url);
  execFileSync(fileURLToPath(new URL('node_modules/.bin/biome', root)), ['format', '--write', ...paths.map((p) => fileURLToPath(p))], {
    cwd: fileURLToPath(root),
    stdio: 'ignore',
  });
}
