import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import fc from 'fast-check';
import { beforeAll, describe, expect, test } from 'vitest';
import { useBackend } from '@gradcache/testing';
import { loadCheckpoint, saveCheckpoint } from './checkpoint.js';
import { TrainerError } from './errors.js';

beforeAll(() => useBackend('cpu'));

/** A folder with one Adam checkpoint (two variables, one step taken) and the values it holds. */
async function saved(): Promise<{ dir: string; folder: string; values: number[][] }> {
  const dir = await mkdtemp(join(tmpdir(), 'gc-hostile-'));
  const a = tf.variable(tf.tensor2d([1, 2, 3, 4, 5, 6], [2, 3]), true, 'hostile_a');
  const b = tf.variable(tf.tensor1d([0.5, -0.5]), true, 'hostile_b');
  const optimizer = tf.train.adam(0.1);
  optimizer.minimize(() => tf.add(tf.sum(tf.square(a)), tf.sum(b)) as tf.Scalar);
  const folder = await saveCheckpoint(dir, {
    variables: [a, b],
    optimizer,
    state: { position: { epoch: 0, batch: 3, step: 3 }, meta: { seed: 7 } },
  });
  const values = [Array.from(a.dataSync()), Array.from(b.dataSync())];
  tf.dispose([a, b]);
  optimizer.dispose();
  return { dir, folder, values };
}

/** Loads into fresh variables that hold sentinels; returns the error or what was loaded, and whether anything changed on error. */
async function attempt(dir: string): Promise<{ error?: unknown; values: number[][]; step?: number; untouched: boolean }> {
  const a = tf.variable(tf.fill([2, 3], 9), true);
  const b = tf.variable(tf.fill([2], 9), true);
  const optimizer = tf.train.adam(0.1);
  try {
    const state = await loadCheckpoint(dir, { variables: [a, b], optimizer });
    return { values: [Array.from(a.dataSync()), Array.from(b.dataSync())], step: state.position.step, untouched: false };
  } catch (error) {
    const values = [Array.from(a.dataSync()), Array.from(b.dataSync())];
    return { error, values, untouched: values.flat().every((x) => x === 9) };
  } finally {
    tf.dispose([a, b]);
    optimizer.dispose();
  }
}

async function editManifest(folder: string, edit: (m: Record<string, unknown>) => void, keepChecksum = false): Promise<void> {
  const path = join(folder, 'checkpoint.json');
  const manifest = JSON.parse(await readFile(path, 'utf8')) as Record<string, unknown>;
  edit(manifest);
  if (!keepChecksum) delete manifest['manifestSha256'];
  await writeFile(path, JSON.stringify(manifest));
}

describe('hostile checkpoint files: a typed error naming the problem, nothing assigned', () => {
  test('a latest pointer that leaves the folder is refused before anything is read', async () => {
    const { dir, folder } = await saved();
    const elsewhere = await mkdtemp(join(tmpdir(), 'gc-elsewhere-'));
    for (const pointer of [`../${elsewhere.split('/').at(-1)}`, folder, 'step-00000003-../../etc']) {
      await writeFile(join(dir, 'latest'), pointer);
      const result = await attempt(dir);
      expect((result.error as TrainerError).code).toBe('INVALID_CHECKPOINT');
      expect((result.error as Error).message).toMatch(/has a 'latest' pointer naming .*, not a step-<8 digits>-<id> folder in it/);
      expect(result.untouched).toBe(true);
    }
  });

  test('offsets outside the data, wrong lengths, a missing optimizer and mismatched slots (older manifests without a checksum)', async () => {
    const cases: [string, (m: Record<string, unknown>) => void, RegExp][] = [
      [
        'offset past the data',
        (m) => (((m['variables'] as { offset: number }[])[1] as { offset: number }).offset = 1 << 20),
        /variables entry 1 that \(hostile_b\) has bytes 1048576…\+8, outside tensors\.bin's/,
      ],
      [
        'length that does not fit the shape',
        (m) => (((m['variables'] as { length: number }[])[0] as { length: number }).length = 8),
        /variables entry 0 that \(hostile_a\) has 8 bytes for shape \[2,3\]/,
      ],
      ['no optimizer', (m) => delete m['optimizer'], /has no optimizer \{className, iterations, slots, extra\}/],
      [
        'a negative shape',
        (m) => (((m['variables'] as { shape: number[] }[])[1] as { shape: number[] }).shape = [-2]),
        /has shape \[-2\], not a list of sizes/,
      ],
      [
        'a string dtype',
        (m) => (((m['variables'] as { dtype: string }[])[0] as { dtype: string }).dtype = 'string'),
        /has dtype "string", not float32 or int32/,
      ],
      ['no position', (m) => delete m['position'], /has no position/],
      [
        "slots whose shapes are not the variables'",
        (m) => (((m['optimizer'] as { slots: { shape: number[] }[] }).slots[0] as { shape: number[] }).shape = [3, 2]),
        /has 4 optimizer slots that do not match the 2 variables' shapes/,
      ],
    ];
    for (const [what, edit, message] of cases) {
      const { dir, folder } = await saved();
      await editManifest(folder, edit);
      const result = await attempt(dir);
      expect((result.error as TrainerError)?.code, what).toBe('INVALID_CHECKPOINT');
      expect((result.error as Error).message, what).toMatch(message);
      expect(result.untouched, what).toBe(true);
    }
  });

  test('a manifest edited under its checksum (a changed step) is refused', async () => {
    const { dir, folder } = await saved();
    await editManifest(folder, (m) => ((m['position'] as { step: number }).step = 300), true);
    const result = await attempt(dir);
    expect((result.error as Error).message).toMatch(/checkpoint\.json in step-00000003-\w+ that does not match its checksum/);
    expect(result.untouched).toBe(true);
  });

  test('every single-byte change to checkpoint.json, tensors.bin or latest loads the original or is INVALID_CHECKPOINT, changing nothing', async () => {
    const { dir, folder, values } = await saved();
    const files = ['checkpoint.json', 'tensors.bin'].map((f) => join(folder, f)).concat(join(dir, 'latest'));
    const originals = await Promise.all(files.map((f) => readFile(f)));
    let [tried, refused] = [0, 0];
    await fc.assert(
      fc.asyncProperty(fc.nat(files.length - 1), fc.nat(), fc.integer({ min: 0, max: 255 }), async (which, at, byte) => {
        const original = originals[which] as Buffer;
        const mutated = Buffer.from(original);
        mutated[at % mutated.length] = byte;
        await writeFile(files[which] as string, mutated);
        try {
          const result = await attempt(dir);
          tried += 1;
          if (result.error === undefined) {
            expect([result.values, result.step]).toEqual([values, 3]);
          } else {
            refused += 1;
            expect(result.error).toBeInstanceOf(TrainerError);
            expect(result.untouched).toBe(true);
          }
        } finally {
          await writeFile(files[which] as string, original);
        }
      }),
      { numRuns: 300, seed: 22 },
    );
    expect(tried).toBe(300);
    expect(refused).toBeGreaterThan(200); // most bytes matter; the rest (an unchanged byte, trailing whitespace) load the original
  }, 60_000);
});
