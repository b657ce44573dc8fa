import { spawn } from 'node:child_process';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, test } from 'vitest';

/**
 * The soak: a run SIGKILLed at random moments and resumed each time ends with the weights of a run
 * never interrupted, bit for bit, and holds a flat tensor count. CI runs it small; the long form is
 * `GRADCACHE_SOAK_STEPS=5001 GRADCACHE_SOAK_EVERY=250 pnpm vitest run packages/trainer/src/soak.test.ts`.
 */
const STEPS = Number(process.env['GRADCACHE_SOAK_STEPS'] ?? 60);
const EVERY = Number(process.env['GRADCACHE_SOAK_EVERY'] ?? 10);
const KILLS = 3;

const script = fileURLToPath(new URL('./soak.child.ts', import.meta.url));
const cwd = fileURLToPath(new URL('..', import.meta.url));

interface Report {
  lines: { step?: number; tensors?: number; rss?: number; done?: number; sha256?: string }[];
  killed: boolean;
}

/** Runs the child; kills it (SIGKILL) `delayMs` after it reports a checkpoint at or past `killAfter`. */
function child(dir: string, killAfter = Number.POSITIVE_INFINITY, delayMs = 0): Promise<Report> {
  const proc = spawn(process.execPath, ['--conditions=@gradcache/source', '--import', 'tsx', script, dir, String(STEPS), String(EVERY)], {
    cwd,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: Report['lines'] = [];
  let [buffer, stderr, killing] = ['', '', false];
  proc.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  proc.stdout.on('data', (chunk: Buffer) => {
    buffer += chunk.toString();
    for (let n = buffer.indexOf('\n'); n >= 0; n = buffer.indexOf('\n')) {
      const line = JSON.parse(buffer.slice(0, n)) as Report['lines'][number];
      buffer = buffer.slice(n + 1);
      lines.push(line);
      if (!killing && (line.step ?? 0) >= killAfter) {
        killing = true;
        setTimeout(() => proc.kill('SIGKILL'), delayMs);
      }
    }
  });
  return new Promise((resolve, reject) =>
    proc.on('exit', (code, signal) => {
      if (signal === 'SIGKILL') resolve({ lines, killed: true });
      else if (code === 0) resolve({ lines, killed: false });
      else reject(new Error(`soak child exited ${code}: ${stderr}`));
    }),
  );
}

describe('soak', () => {
  test(`${STEPS} steps killed ${KILLS} times at random moments and resumed = ${STEPS} straight, bit for bit; tensor count flat`, async () => {
    const straight = await child(await mkdtemp(join(tmpdir(), 'gc-soak-straight-')));
    const final = straight.lines.at(-1);
    expect(final?.done).toBe(STEPS);
    const counts = straight.lines.flatMap((l) => (l.tensors === undefined ? [] : [l.tensors]));
    expect(new Set(counts).size, `tensor counts ${counts}`).toBe(1);

    const dir = await mkdtemp(join(tmpdir(), 'gc-soak-killed-'));
    // Seeded moments: after a checkpoint in the middle 80 % of the run, then 0–30 ms later (mid-step or mid-save).
    let seed = 22;
    const random = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    const runs: Report[] = [];
    for (let k = 0; k < KILLS; k++) {
      const at = Math.round(STEPS * (0.1 + 0.8 * random()));
      runs.push(await child(dir, at, Math.floor(30 * random())));
    }
    runs.push(await child(dir));
    const last = runs.at(-1)?.lines.at(-1);
    const rss = [...straight.lines, ...runs.flatMap((r) => r.lines)].flatMap((l) => (l.rss === undefined ? [] : [l.rss / 2 ** 20]));
    if (process.env['GRADCACHE_SOAK_STEPS'] !== undefined)
      process.stdout.write(
        `soak: ${STEPS} steps, checkpoint every ${EVERY}; killed ${runs.filter((r) => r.killed).length} times ` +
          `(after steps ${runs.map((r) => r.lines.at(-1)?.step ?? r.lines.at(-1)?.done).join(', ')}); ` +
          `tensors ${counts[0]}; RSS ${Math.min(...rss).toFixed(0)}–${Math.max(...rss).toFixed(0)} MiB; sha256 ${final?.sha256?.slice(0, 16)} both\n`,
      );
    expect(runs.slice(0, KILLS).every((r) => r.killed)).toBe(true);
    expect(last).toEqual(final);
  }, 300_000);
});
