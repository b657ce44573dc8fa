import { spawnSync } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { once } from 'node:events';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, test } from 'vitest';
import { functionEncoder } from '@gradcache/core';
import { openPairs } from '@gradcache/data/node';
import { expectClose, useBackend } from '@gradcache/testing';
import { pairsTask } from './pairs-task.js';

beforeAll(() => useBackend('cpu'));

/** A model of one-hot "texts": the text is a number; its rep is row `text` of a table. */
function tableModel() {
  const table = tf.variable(tf.randomNormal([10, 4], 0, 1, 'float32', 1), true);
  const encoder = functionEncoder({ name: 'table', variables: [table], encode: (x) => tf.gather(table, x as tf.Tensor1D) as tf.Tensor2D });
  return { table, model: { encoder, tokenizer: { encode: (texts: readonly string[]) => tf.tensor1d(texts.map(Number), 'int32') } } };
}

async function pairsFile(lines: object[]): Promise<string> {
  const path = join(await mkdtemp(join(tmpdir(), 'gradcache-task-')), 'pairs.jsonl');
  await writeFile(path, lines.map((l) => JSON.stringify(l)).join('\n'));
  return path;
}

describe('pairsTask', () => {
  test("batches: queries, then each row's positive and its negatives in infoNCE's layout; rows read from disk", async () => {
    const file = await openPairs(
      await pairsFile([
        { anchor: '1', positive: '2', negative: '3' },
        { anchor: '4', positive: '5', negative: '6' },
      ]),
    );
    const { model, table } = tableModel();
    const task = pairsTask({ model, train: file });
    const [q, d] = (await task.train.batch([1, 0], 0)) as tf.Tensor1D[];
    expect([Array.from(q?.dataSync() ?? []), Array.from(d?.dataSync() ?? [])]).toEqual([
      [4, 1],
      [5, 6, 2, 3],
    ]);
    tf.dispose([q as tf.Tensor, d as tf.Tensor, table]);
    await file.close();
  });

  test('a duplicate of a positive in the batch is not a negative: the loss equals the loss without the duplicate', async () => {
    // Rows 0 and 2 share their positive text ('7'): for each, the other copy must not count against it.
    const rows = [
      { anchor: '1', positive: '7' },
      { anchor: '2', positive: '8' },
      { anchor: '3', positive: '7' },
    ];
    const file = await openPairs(await pairsFile(rows));
    const { model, table } = tableModel();
    const task = pairsTask({ model, train: file, temperature: 0.5 });
    const inputs = await task.train.batch([0, 1, 2], 0);
    const ids = task.train.extra?.([0, 1, 2], 0);
    const documents = ids?.documents as number[];
    expect(ids?.queries).toEqual([documents[0], documents[1], documents[0]]);
    const reps = inputs.map((x) => model.encoder.encode(x as tf.Tensor1D, { training: false }) as tf.Tensor2D);
    const masked = task.loss(reps, ids);
    // By hand: query i's softmax over the documents minus the other copy of its positive.
    const [qr, dr] = [reps[0] as tf.Tensor2D, reps[1] as tf.Tensor2D];
    const logits = tf.div(tf.matMul(qr, dr, false, true), 0.5).arraySync() as number[][];
    const keep = [
      [0, 1],
      [0, 1, 2],
      [1, 2],
    ];
    const byHand =
      keep.reduce(
        (sum, cols, i) => sum + Math.log(cols.reduce((s, j) => s + Math.exp(logits[i]?.[j] as number), 0)) - (logits[i]?.[i] as number),
        0,
      ) / 3;
    expectClose(masked, tf.scalar(byHand), 1e-5, 'masked InfoNCE');
    tf.dispose([inputs as tf.Tensor[], reps, masked, table]);
    await file.close();
  });

  test('a pairs file several times larger than the JS heap trains: rows are read per batch, never all at once', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'gradcache-stream-'));
    const filler = 'x'.repeat(900);
    const write = async (name: string, size: number): Promise<{ path: string; bytes: number }> => {
      const path = join(dir, name);
      const sink = createWriteStream(path);
      let bytes = 0;
      for (let i = 0; bytes < size; i++) {
        const line = `${JSON.stringify({ anchor: `query ${i} ${filler}`, positive: `passage ${i % 977} ${filler}` })}\n`;
        bytes += line.length;
        if (!sink.write(line)) await once(sink, 'drain');
      }
      sink.end();
      await once(sink, 'close');
      return { path, bytes };
    };
    const train = (path: string) => {
      const script = fileURLToPath(new URL('./pairs-stream.child.ts', import.meta.url));
      const run = spawnSync(
        process.execPath,
        ['--max-old-space-size=48', '--conditions=@gradcache/source', '--import', 'tsx', script, path],
        {
          encoding: 'utf8',
          timeout: 120_000,
          cwd: fileURLToPath(new URL('..', import.meta.url)),
        },
      );
      expect(run.status, run.stderr).toBe(0);
      return JSON.parse(run.stdout.trim().split('\n').at(-1) as string) as { rows: number; losses: number[]; rss: number; heap: number };
    };
    const small = await write('small.jsonl', 2 ** 20);
    const big = await write('big.jsonl', 160 * 2 ** 20);
    const [base, result] = [train(small.path), train(big.path)];
    expect(result.rows).toBeGreaterThan(80_000);
    expect(result.losses).toHaveLength(5);
    expect(result.losses.every(Number.isFinite)).toBe(true);
    // 160 MiB of text through a 48 MiB JS heap; the process grows by far less than the file
    // (the row index is 20 bytes a row) against the same run on a 1 MiB file.
    expect(result.heap).toBeLessThan(48 * 2 ** 20);
    expect(result.rss - base.rss).toBeLessThan(big.bytes / 4);
  }, 120_000);
});
