import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, test } from 'vitest';

/** Runs fatal.child.ts: an uncaught error after the wasm backend started. */
function crash() {
  const script = fileURLToPath(new URL('./fatal.child.ts', import.meta.url));
  return spawnSync(process.execPath, ['--conditions=@gradcache/source', '--import', 'tsx', script], {
    encoding: 'utf8',
    timeout: 60_000,
    cwd: fileURLToPath(new URL('..', import.meta.url)),
  });
}

describe('an uncaught error in a process that uses the wasm backend', () => {
  test("prints its own message and stack, not the wasm runtime's 36,000-character glue line, and exits 1 (was 7)", () => {
    const run = crash();
    expect(run.status).toBe(1);
    expect(run.stderr).toContain('Error: boom: an uncaught error after the wasm backend started');
    expect(run.stderr).toContain('fatal.child.ts:6');
    expect(run.stderr.length).toBeLessThan(2000);
    expect(run.stderr).not.toContain('WasmBackendModule');
  });
});
