import { mkdtemp, readFile, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, test, vi } from 'vitest';
import { mlpEncoder, saveModel, textEncoder } from '@gradcache/encoders/node';
import { main } from './index.js';

/** Runs the CLI in-process: its exit code, what it printed, and what it wrote to stderr. */
async function run(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  const lines: string[] = [];
  const err: string[] = [];
  const spy = vi.spyOn(process.stderr, 'write').mockImplementation((chunk) => {
    err.push(String(chunk));
    return true;
  });
  try {
    const code = await main(argv, (line) => lines.push(line));
    return { code, out: lines.join('\n'), err: err.join('') };
  } finally {
    spy.mockRestore();
  }
}

describe('gradcache CLI', () => {
  test('help for the command and each subcommand', async () => {
    expect((await run()).out).toMatch(/Commands:\n {2}train/);
    expect((await run('train', '--help')).out).toMatch(/--strategy <s> {6}cached/);
    expect((await run('eval', '-h')).out).toMatch(/--checkpoint <dir>/);
  });

  test('--version prints the package version; an unknown flag is one line naming the help to read', async () => {
    const { version } = JSON.parse(await readFile(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };
    expect((await run('--version')).out).toBe(version);
    const { code, err } = await run('bench', '--chunks', '8');
    expect(code).toBe(2);
    expect(err.trim().split('\n')).toEqual(["gradcache: Unknown option '--chunks'. See gradcache bench --help."]);
  });

  test('every flag is checked before any work: a bad --chunk makes no --out folder', async () => {
    const out = join(await mkdtemp(join(tmpdir(), 'gradcache-early-')), 'run');
    const { code, err } = await run('train', '--chunk', '0', '--out', out);
    expect(code).toBe(2);
    expect(err).toMatch(/--chunk must be an integer ≥ 1, got '0'/);
    await expect(stat(out)).rejects.toThrowError(/ENOENT/);
  });

  test('bad command lines exit 2 with the reason', async () => {
    const cases: [string[], RegExp][] = [
      [['fly'], /unknown command 'fly'/],
      [['train', '--bogus'], /Unknown option '--bogus'/],
      [['train', '--strategy', 'huge'], /--strategy must be one of full, cached, accumulate, small, got 'huge'/],
      [['train', '--batch', '1.5'], /--batch must be an integer ≥ 1, got '1.5'/],
      [['train', '--backend', 'tpu'], /--backend must be one of wasm, cpu, webgpu, got 'tpu'/],
      [['verify', '--model', '/m', '--backend', 'webgpu'], /--backend must be one of wasm, cpu, got 'webgpu'/],
      [['eval'], /--checkpoint is required/],
      [['verify'], /--model is required/],
      [['verify', '--model', '/nonexistent', '--backend', 'cpu'], /--model: loadModel: cannot read/],
      [['verify', '--model', '/x', '--loss', 'mse'], /--loss must be one of ntxent, infonce, got 'mse'/],
      [['eval', '--checkpoint', '/nonexistent', '--backend', 'cpu'], /no checkpoint in \/nonexistent or \/nonexistent\/checkpoints/],
    ];
    for (const [argv, message] of cases) {
      const { code, err } = await run(...argv);
      expect(code, argv.join(' ')).toBe(2);
      expect(err).toMatch(message);
    }
  });

  test('verify on a saved model: a dropout MLP and a text encoder pass', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'gradcache-verify-'));
    const mlp = mlpEncoder({ inputDim: 5, widths: [8, 4], dropout: 0.2, seed: 1 });
    await saveModel(mlp.model, join(dir, 'mlp'));
    const text = textEncoder({ vocabSize: 100, maxLength: 8, dim: 8, heads: 2, layers: 1, seed: 2 });
    await saveModel(text.model, join(dir, 'text'));
    for (const name of ['mlp', 'text']) {
      const { code, out, err } = await run('verify', '--model', join(dir, name), '--backend', 'cpu', '--batch', '6', '--chunk', '4');
      expect(code, err + out).toBe(0);
      expect(out).toMatch(/^verify: PASS/);
    }
    [mlp, text].forEach((e) => e.model.dispose());
  });

  test('bench on a saved model writes the table, JSON and two SVG charts', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'gradcache-bench-'));
    const mlp = mlpEncoder({ inputDim: 5, widths: [32, 4], seed: 1, name: 'bench_mlp' });
    await saveModel(mlp.model, join(dir, 'mlp'));
    const out = join(dir, 'out');
    const result = await run(
      'bench',
      '--model',
      join(dir, 'mlp'),
      '--backend',
      'cpu',
      '--batch',
      '32',
      '--chunk',
      '8,16',
      '--rounds',
      '1',
      '--out',
      out,
    );
    expect(result.code, result.err).toBe(0);
    expect(result.out).toMatch(/\| 32 \| cached, chunk 8 \|/);
    const rows = JSON.parse(await readFile(join(out, 'bench.json'), 'utf8')) as { strategy: string }[];
    expect(rows.map((r) => r.strategy)).toEqual(['full', 'cached', 'accumulate', 'cached', 'accumulate']);
    for (const chart of ['time.svg', 'memory.svg']) {
      const svg = await readFile(join(out, chart), 'utf8');
      expect(svg).toMatch(/^<svg[^>]*>/);
      expect(svg).toContain('GradCache');
    }
    expect((await run('bench', '--model', join(dir, 'mlp'), '--chunk', '8,x')).err).toMatch(/--chunk must be an integer ≥ 1, got 'x'/);
    mlp.model.dispose();
  });

  test('train, resume and eval on a slice of WordNet (wasm)', async () => {
    const out = await mkdtemp(join(tmpdir(), 'gradcache-cli-'));
    const common = ['--train-pairs', '512', '--batch', '128', '--chunk', '32', '--out', out];
    const first = await run('train', ...common, '--epochs', '1');
    expect(first.code, first.err).toBe(0);
    expect(first.out).toMatch(/validation: recall@1 [\d.]+%/);
    const resumed = await run('train', ...common, '--epochs', '2', '--resume');
    expect(resumed.code, resumed.err).toBe(0);
    expect(resumed.out).toMatch(/resumed at step 4 \(epoch 2, batch 0\)/);
    const log = (await readFile(join(out, 'metrics.jsonl'), 'utf8'))
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { step: number });
    expect(log.map((l) => l.step)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    const evaluated = await run('eval', '--checkpoint', out);
    expect(evaluated.code, evaluated.err).toBe(0);
    expect(evaluated.out).toMatch(/^test after 8 steps: recall@1 [\d.]+%/);
  }, 120_000);
});
