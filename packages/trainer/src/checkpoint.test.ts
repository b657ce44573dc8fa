import { spawn, spawnSync } from 'node:child_process';
import { mkdtemp, readdir, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, test } from 'vitest';
import { useBackend } from '@gradcache/testing';
import { loadCheckpoint, saveCheckpoint } from './checkpoint.js';
import { TrainerError } from './errors.js';

beforeAll(() => useBackend('cpu'));

const script = fileURLToPath(new URL('./checkpoint.child.ts', import.meta.url));
const cwd = fileURLToPath(new URL('..', import.meta.url));
const node = (args: string[]) => [process.execPath, ['--conditions=@gradcache/source', '--import', 'tsx', script, ...args]] as const;

function child(...args: string[]): string {
  const [exe, argv] = node(args);
  const result = spawnSync(exe, argv, { cwd, encoding: 'utf8', timeout: 120_000 });
  expect(result.status, result.stderr).toBe(0);
  return result.stdout;
}

describe('checkpoints', () => {
  test('resume is bit-identical: 10 steps straight = 5 steps, save, a new process loads, 5 more (weights, Adam state, dropout replay)', async () => {
    const [straight, resumed] = [await mkdtemp(join(tmpdir(), 'gc-straight-')), await mkdtemp(join(tmpdir(), 'gc-resumed-'))];
    expect(child('train', straight, '10')).toContain('saved 10');
    expect(child('train', resumed, '5')).toContain('saved 5');
    expect(child('train', resumed, '10', 'resume')).toContain('saved 10');
    const bytes = async (dir: string) => readFile(join(dir, (await readFile(join(dir, 'latest'), 'utf8')).trim(), 'tensors.bin'));
    const [a, b] = [await bytes(straight), await bytes(resumed)];
    expect(a.length).toBeGreaterThan(0);
    expect(Buffer.compare(a, b)).toBe(0);
    // And the 5-step checkpoint differs (the comparison is not of two untouched copies).
    const five = await mkdtemp(join(tmpdir(), 'gc-five-'));
    child('train', five, '5');
    expect(Buffer.compare(await bytes(five), a)).not.toBe(0);
  }, 120_000);

  test('a process killed mid-save leaves the previous checkpoint loadable', async () => {
    for (const [kills, delay] of [
      [2, 0],
      [3, 15],
      [4, 40],
    ] as const) {
      const dir = await mkdtemp(join(tmpdir(), 'gc-kill-'));
      const [exe, argv] = node(['save-loop', dir]);
      const proc = spawn(exe, argv, { cwd, stdio: ['ignore', 'pipe', 'inherit'] });
      let started = 0; // the last save the child announced before it died
      await new Promise<void>((resolve) => {
        proc.stdout.on('data', (chunk: Buffer) => {
          for (const m of chunk.toString().matchAll(/saving (\d+)/g)) started = Math.max(started, Number(m[1]));
          if (chunk.toString().includes(`saving ${kills}`)) setTimeout(() => proc.kill('SIGKILL'), delay);
        });
        proc.on('exit', () => resolve());
      });
      const big = tf.variable(tf.zeros([2048, 1024]), true, 'big');
      const state = await loadCheckpoint(dir, { variables: [big], optimizer: tf.train.sgd(0.1) }).catch((e: unknown) => e);
      // Checkpoint n holds the value n everywhere: it was complete, and it is at most the last one started
      // (within the delay the child may finish save `kills` and begin more).
      if (state instanceof Error) throw state;
      const n = (state as { meta: { n: number } }).meta.n;
      expect(n).toBeGreaterThanOrEqual(kills - 1);
      expect(n).toBeLessThanOrEqual(started);
      expect(started - n).toBeLessThanOrEqual(1);
      expect(tf.tidy(() => [tf.min(big).dataSync()[0], tf.max(big).dataSync()[0]])).toEqual([n, n]);
      big.dispose();
      // keep = 2, plus at most the one whose save was cut before the clean-up of the oldest.
      expect((await readdir(dir)).filter((f) => /^step-/.test(f)).length).toBeLessThanOrEqual(3);
    }
  }, 120_000);

  test('saving again at the same step never leaves `latest` naming a removed folder; old ones are cleaned up', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'gc-same-'));
    const v = tf.variable(tf.tensor1d([1, 2]), true, 'same_v');
    const optimizer = tf.train.sgd(0.1);
    const state = { position: { epoch: 0, batch: 0, step: 4 }, meta: {} };
    const first = await saveCheckpoint(dir, { variables: [v], optimizer, state });
    v.assign(tf.tensor1d([3, 4]));
    const second = await saveCheckpoint(dir, { variables: [v], optimizer, state });
    const third = await saveCheckpoint(dir, { variables: [v], optimizer, state });
    expect(new Set([first, second, third]).size).toBe(3);
    expect((await readdir(dir)).filter((f) => f.startsWith('step-')).sort()).toEqual(
      [second, third].map((p) => p.slice(dir.length + 1)).sort(),
    );
    v.assign(tf.tensor1d([0, 0]));
    await loadCheckpoint(dir, { variables: [v], optimizer });
    expect(Array.from(v.dataSync())).toEqual([3, 4]);
    v.dispose();
  });

  test('a missing, truncated or mismatched checkpoint is INVALID_CHECKPOINT and assigns nothing', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'gc-bad-'));
    const v = tf.variable(tf.tensor1d([1, 2, 3]), true, 'ckpt_v');
    const optimizer = tf.train.sgd(0.1);
    await expect(loadCheckpoint(dir, { variables: [v], optimizer })).rejects.toThrowError(/has no readable 'latest' pointer/);
    const saved = await saveCheckpoint(dir, { variables: [v], optimizer, state: { position: { epoch: 0, batch: 1, step: 1 }, meta: {} } });
    v.assign(tf.tensor1d([7, 7, 7]));
    const other = tf.variable(tf.zeros([4]), true, 'ckpt_w');
    await expect(loadCheckpoint(dir, { variables: [v, other], optimizer })).rejects.toThrowError(/holds 1 variables, the model has 2/);
    await expect(loadCheckpoint(dir, { variables: [other], optimizer })).rejects.toThrowError(
      /has variable 0 \(ckpt_v\) as \[3\], the model's ckpt_w is \[4\]/,
    );
    const wrong = tf.variable(tf.zeros([2]), true, 'ckpt_v2');
    await writeFile(join(saved, 'tensors.bin'), new Uint8Array(8));
    const error = await loadCheckpoint(dir, { variables: [v], optimizer }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TrainerError);
    expect((error as TrainerError).code).toBe('INVALID_CHECKPOINT');
    expect((error as Error).message).toMatch(/does not match its checksum/);
    expect(Array.from(v.dataSync())).toEqual([7, 7, 7]);
    tf.dispose([v, other, wrong]);
  });
});
