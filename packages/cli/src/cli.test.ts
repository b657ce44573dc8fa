import { mkdtemp, readFile, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, test, vi } from 'vitest';
import { useBackend } from '@gradcache/testing';
import { mlpEncoder, saveModel, textEncoder } from '@gradcache/encoders/node';
import { main } from './index.js';

/** Runs the CLI in-process: its exit code, what it printed, and what it wrote to stderr. */
async function run(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  return runStopped(undefined, ...argv);
}

/** As run, with a Ctrl-C (SIGINT) sent as the progress line of step `stopAt` is printed. */
async function runStopped(stopAt: number | undefined, ...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  const lines: string[] = [];
  const err: string[] = [];
  const spy = vi.spyOn(process.stderr, 'write').mockImplementation((chunk) => {
    err.push(String(chunk));
    if (stopAt !== undefined && String(chunk).includes(`: step ${stopAt}/`)) process.emit('SIGINT');
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
      [['eval'], /give --model and --data, or --checkpoint. See gradcache eval --help/],
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
    // Ctrl-C after step 1 (the first progress line): it stops there, saves and exits 130.
    const first = await runStopped(1, 'train', ...common, '--epochs', '2', '--save-every', '3');
    expect(first.code, `${first.out}\n${first.err}`).toBe(130);
    expect(first.out).toMatch(/SIGINT: stopping after this step to save a checkpoint/);
    expect(first.out).toMatch(/stopped at step 1 of 8; checkpoint in .*checkpoints\. Run the same command with --resume to continue\./);
    expect(process.listenerCount('SIGINT')).toBe(0);
    // A resumed run keeps its settings: a changed one is refused, a left-out one is taken from the run.
    const changed = await run('train', ...common, '--epochs', '3', '--resume');
    expect(changed.code).toBe(2);
    expect(changed.err).toMatch(/--resume: --epochs 3 \(the run's: 2\) differs from the run in .*learning-rate schedule/);
    const resumed = await run('train', '--train-pairs', '512', '--batch', '128', '--out', out, '--resume');
    expect(resumed.code, resumed.err).toBe(0);
    expect(resumed.out).toMatch(/resumed at step 1 \(epoch 1, batch 1\)/);
    expect(resumed.out).toMatch(/validation: recall@1 [\d.]+%/);
    const log = (await readFile(join(out, 'metrics.jsonl'), 'utf8'))
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { step: number });
    expect(log.map((l) => l.step)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    const evaluated = await run('eval', '--checkpoint', out);
    expect(evaluated.code, evaluated.err).toBe(0);
    expect(evaluated.out).toMatch(/^test after 8 steps: recall@1 [\d.]+%/);
  }, 120_000);

  test('your pairs: train a pretrained model, resume, then encode, search and eval with the folder it wrote', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'gradcache-pairs-cli-'));
    const fixture = fileURLToPath(new URL('../../pretrained/fixtures/bert-tiny', import.meta.url));
    const topics = ['cat', 'dog', 'bird', 'fish', 'horse', 'cow', 'sheep', 'goat'];
    const rows = topics.map((t) =>
      JSON.stringify({ anchor: `what does a ${t} eat`, positive: `the ${t} eats food every day`, negative: `a ${t} sat on the mat` }),
    );
    await writeFile(join(dir, 'train.jsonl'), `${rows.join('\n')}\n`);
    await writeFile(join(dir, 'eval.jsonl'), `${rows.slice(0, 4).join('\n')}\n`);
    const out = join(dir, 'run');
    const common = ['--model', fixture, '--data', join(dir, 'train.jsonl'), '--batch', '4', '--chunk', '2', '--lr', '1e-3', '--out', out];
    const first = await run('train', ...common, '--epochs', '1', '--eval', join(dir, 'eval.jsonl'), '--eval-every', '1');
    expect(first.code, first.err).toBe(0);
    expect(first.out).toMatch(/8 pairs from .*train\.jsonl \(1 hard negatives each\); cached, batch 4, 2 steps/);
    expect(first.out).toMatch(/eval at step 2: recall@1 [\d.]+%/);
    expect((await readFile(join(out, 'eval.jsonl'), 'utf8')).trim().split('\n')).toHaveLength(2);
    for (const folder of ['model', 'best']) expect((await stat(join(out, folder, 'model.safetensors'))).size).toBeGreaterThan(0);
    const resumed = await run('train', ...common, '--resume');
    expect(resumed.code, resumed.err).toBe(0);
    expect(resumed.out).toMatch(/resumed at step 2 \(epoch 2, batch 0\)/);
    expect(resumed.out).toMatch(/cached, batch 4, 2 steps/);
    const trained = join(out, 'model');
    await writeFile(join(dir, 'texts.txt'), 'the cat eats food every day\nthe dog sat on the mat\n\nthe fish eats food every day\n');
    const encoded = await run('encode', '--model', trained, '--input', join(dir, 'texts.txt'), '--out', join(dir, 'emb.jsonl'));
    expect(encoded.code, encoded.err).toBe(0);
    const embeddings = (await readFile(join(dir, 'emb.jsonl'), 'utf8'))
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { text: string; embedding: number[] });
    expect(embeddings.map((e) => [e.text, e.embedding.length])).toEqual([
      ['the cat eats food every day', 32],
      ['the dog sat on the mat', 32],
      ['the fish eats food every day', 32],
    ]);
    const found = await run('search', '--model', trained, '--corpus', join(dir, 'texts.txt'), '--query', 'what does a cat eat', '-k', '2');
    expect(found.code, found.err).toBe(0);
    expect(found.out.split('\n')).toHaveLength(3);
    expect(found.out).toMatch(/^top 2 of 3 for "what does a cat eat":\n {2}1\. -?[\d.]+ {2}the /);
    const evaluated = await run('eval', '--model', trained, '--data', join(dir, 'eval.jsonl'));
    expect(evaluated.code, evaluated.err).toBe(0);
    expect(evaluated.out).toMatch(/eval\.jsonl with bert .*: recall@1 [\d.]+% {2}recall@10 100\.0%.*\(4 queries\)/);
  }, 120_000);

  test('bad pairs files and flags are one line naming the file and line, before any training', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'gradcache-bad-pairs-'));
    const fixture = fileURLToPath(new URL('../../pretrained/fixtures/bert-tiny', import.meta.url));
    await writeFile(join(dir, 'bad.jsonl'), '{"anchor": "a", "positive": "b"}\n{"anchor": "c"}\n');
    const bad = await run('train', '--model', fixture, '--data', join(dir, 'bad.jsonl'), '--backend', 'cpu');
    expect(bad.code).toBe(1);
    expect(bad.err.trim()).toMatch(/^gradcache: INVALID_DATA: .*bad\.jsonl:2: no positive column/);
    expect(bad.err.trim().split('\n')).toHaveLength(1);
    const cases: [string[], RegExp][] = [
      [['train', '--model', fixture], /--model and --data go together/],
      [
        ['train', '--model', fixture, '--data', 'x.jsonl', '--chunk', 'auto', '--strategy', 'accumulate'],
        /--chunk auto is for the cached strategy/,
      ],
      [['train', '--model', fixture, '--data', 'x.jsonl', '--memory', 'lots'], /--memory must be a size such as 2GiB/],
      [['train', '--model', fixture, '--data', 'x.jsonl', '--chunk', '8', '--memory', '1GiB'], /--memory applies to --chunk auto/],
      [['train', '--eval', 'x.jsonl'], /--eval needs --model and --data/],
      [['encode', '--model', fixture], /--model, --input and --out are required/],
      [
        ['search', '--model', '/nonexistent', '--corpus', 'x', '--query', 'q', '--backend', 'cpu'],
        /--model: \/nonexistent has neither config\.json/,
      ],
    ];
    for (const [argv, message] of cases) {
      const { code, err } = await run(...argv);
      expect(code, argv.join(' ')).toBe(2);
      expect(err).toMatch(message);
    }
  });

  test('a model whose output is not [batch, d]: verify and bench say so in one line and exit 1 (was a stack and exit 7; an empty chart and exit 0)', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'gradcache-rank3-'));
    await useBackend('cpu');
    const tfl = await import('@tensorflow/tfjs-layers');
    const model = tfl.sequential({
      layers: [tfl.layers.dense({ inputShape: [6], units: 6 }), tfl.layers.reshape({ targetShape: [2, 3] })],
    });
    await saveModel(model, join(dir, 'rank3'));
    for (const argv of [
      ['verify', '--model', join(dir, 'rank3'), '--backend', 'cpu'],
      [
        'bench',
        '--model',
        join(dir, 'rank3'),
        '--backend',
        'cpu',
        '--batch',
        '8',
        '--chunk',
        '4',
        '--rounds',
        '1',
        '--out',
        join(dir, 'bench'),
      ],
    ]) {
      const { code, err } = await run(...argv);
      expect(code, argv[0]).toBe(1);
      expect(err.trim().split('\n'), argv[0]).toHaveLength(1);
      expect(err).toMatch(/the rep must be a \[rows, d\] tensor, got shape \[\d+, 2, 3\]/);
    }
    const verbose = await run('verify', '--model', join(dir, 'rank3'), '--backend', 'cpu', '--verbose');
    expect(verbose.err.trim().split('\n').length).toBeGreaterThan(3); // the stack, when asked for
    model.dispose();
  });
});
