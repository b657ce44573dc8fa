import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import { createInterface } from 'node:readline';
import { once } from 'node:events';
import * as tf from '@tensorflow/tfjs-core';
import { number, parse, setBackend, UsageError } from '../args.js';
import { loadTextModel, type TextModel } from '../text-model.js';

export const ENCODE_HELP = `gradcache encode — embed texts with a model

Usage: gradcache encode --model <dir> --input <texts> --out <embeddings.jsonl> [options]

  --model <dir>       a Hugging Face folder or a tfjs model with its tokenizer
  --input <file>      .txt (one text per line) or .jsonl (a string, or an object with "text", per line)
  --out <file>        .jsonl, one {"text", "embedding"} per input text, in order
  --batch <n>         texts encoded at once                          [64]
  --max-length <n>    tokens per text                                [the model's]
  --backend <b>       wasm | cpu | webgpu                            [wasm]
`;

/** The texts of a .txt or .jsonl file, line by line (streamed); a bad line names the file and line. */
export async function* readTexts(path: string): AsyncGenerator<string> {
  const jsonl = /\.(jsonl|ndjson)$/i.test(path);
  let line = 0;
  const stream = createReadStream(path, 'utf8');
  const failed = once(stream, 'error').then(([e]) => {
    throw new UsageError(`--input: cannot read ${path}: ${(e as Error).message}`);
  });
  failed.catch(() => undefined);
  for await (const text of createInterface({ input: stream, crlfDelay: Number.POSITIVE_INFINITY })) {
    line++;
    if (text.trim() === '') continue;
    if (!jsonl) {
      yield text;
      continue;
    }
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (error) {
      throw new UsageError(`${path}:${line}: not JSON (${(error as Error).message}).`);
    }
    const t = typeof value === 'string' ? value : (value as { text?: unknown } | null)?.text;
    if (typeof t !== 'string') throw new UsageError(`${path}:${line}: a line must be a string or an object with a "text" string.`);
    yield t;
  }
}

/** Reps of `texts`, `batch` at a time, as arrays (no tape, nothing kept). */
export async function embedTexts(model: TextModel, texts: readonly string[]): Promise<number[][]> {
  const reps = tf.tidy(() => model.encoder.encode(model.tokenizer.encode(texts), { training: false }) as tf.Tensor2D);
  try {
    return (await reps.array()) as number[][];
  } finally {
    reps.dispose();
  }
}

/** `gradcache encode`: streams texts in, embeddings out, with progress on stderr. */
export async function encode(args: string[], out: (line: string) => void): Promise<void> {
  const values = parse('encode', args, {
    model: { type: 'string' },
    input: { type: 'string' },
    out: { type: 'string' },
    batch: { type: 'string' },
    'max-length': { type: 'string' },
    backend: { type: 'string' },
  });
  if (values['help'] === true) return out(ENCODE_HELP);
  const [modelDir, input, output] = [values['model'], values['input'], values['out']] as (string | undefined)[];
  if (modelDir === undefined || input === undefined || output === undefined)
    throw new UsageError('--model, --input and --out are required. See gradcache encode --help.');
  const batchSize = number('batch', values['batch'], 64, { min: 1 });
  const maxLength = values['max-length'] === undefined ? undefined : number('max-length', values['max-length'], 0, { min: 2 });
  await setBackend(values['backend']);
  const model = await loadTextModel(modelDir, maxLength === undefined ? {} : { maxLength });
  await mkdir(dirname(output), { recursive: true });
  const sink = createWriteStream(output);
  let count = 0;
  const start = performance.now();
  try {
    let batch: string[] = [];
    const flush = async () => {
      if (batch.length === 0) return;
      const reps = await embedTexts(model, batch);
      for (const [k, text] of batch.entries()) {
        if (!sink.write(`${JSON.stringify({ text, embedding: reps[k] })}\n`)) await once(sink, 'drain');
      }
      count += batch.length;
      batch = [];
      process.stderr.write(`\rencoded ${count} texts (${(count / ((performance.now() - start) / 1000)).toFixed(0)}/s)`);
    };
    for await (const text of readTexts(input)) {
      batch.push(text);
      if (batch.length === batchSize) await flush();
    }
    await flush();
  } finally {
    sink.end();
    await once(sink, 'close');
    model.dispose();
    if (count > 0) process.stderr.write('\n');
  }
  out(`wrote ${count} embeddings to ${output}`);
}
