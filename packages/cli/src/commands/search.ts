import * as tf from '@tensorflow/tfjs-core';
import { number, parse, setBackend, UsageError } from '../args.js';
import { loadTextModel } from '../text-model.js';
import { readTexts } from './encode.js';

export const SEARCH_HELP = `gradcache search — the texts of a corpus closest to a query, by cosine similarity

Usage: gradcache search --model <dir> --corpus <texts> --query "…" [-k 10]

  --model <dir>       a Hugging Face folder or a tfjs model with its tokenizer
  --corpus <file>     .txt (one text per line) or .jsonl (strings, or objects with "text")
  --query <text>      what to look for
  -k, --top <n>       how many results                               [10]
  --batch <n>         corpus texts encoded at once                   [64]
  --backend <b>       wasm | cpu | webgpu                            [wasm]
`;

/** `gradcache search`: encodes the corpus and the query, prints the top k with their cosine similarity. */
export async function search(args: string[], out: (line: string) => void): Promise<void> {
  const values = parse('search', args, {
    model: { type: 'string' },
    corpus: { type: 'string' },
    query: { type: 'string' },
    top: { type: 'string', short: 'k' },
    batch: { type: 'string' },
    backend: { type: 'string' },
  });
  if (values['help'] === true) return out(SEARCH_HELP);
  const [modelDir, corpusPath, query] = [values['model'], values['corpus'], values['query']] as (string | undefined)[];
  if (modelDir === undefined || corpusPath === undefined || query === undefined)
    throw new UsageError('--model, --corpus and --query are required. See gradcache search --help.');
  const k = number('top', values['top'], 10, { min: 1 });
  const batchSize = number('batch', values['batch'], 64, { min: 1 });
  await setBackend(values['backend']);
  const model = await loadTextModel(modelDir);
  try {
    const texts: string[] = [];
    const parts: tf.Tensor2D[] = [];
    let batch: string[] = [];
    const encode = (list: string[]) =>
      tf.tidy(() => unit(model.encoder.encode(model.tokenizer.encode(list), { training: false }) as tf.Tensor2D));
    for await (const text of readTexts(corpusPath)) {
      texts.push(text);
      batch.push(text);
      if (batch.length === batchSize) {
        parts.push(encode(batch));
        batch = [];
      }
    }
    if (batch.length > 0) parts.push(encode(batch));
    if (texts.length === 0) throw new UsageError(`--corpus: ${corpusPath} holds no texts.`);
    const corpus = tf.concat(parts, 0) as tf.Tensor2D;
    tf.dispose(parts);
    const q = encode([query]);
    const scores = tf.tidy(() => tf.reshape(tf.matMul(q, corpus, false, true), [-1]));
    const { values: top, indices } = tf.topk(scores, Math.min(k, texts.length));
    const [s, idx] = [await top.data(), await indices.data()];
    tf.dispose([corpus, q, scores, top, indices]);
    out(`top ${idx.length} of ${texts.length} for "${query}":`);
    idx.forEach((i, r) => out(`${String(r + 1).padStart(3)}. ${(s[r] as number).toFixed(3)}  ${texts[i] as string}`));
  } finally {
    model.dispose();
  }
}

/** Rows scaled to unit length: dot products become cosine similarities. */
function unit(x: tf.Tensor2D): tf.Tensor2D {
  return tf.div(x, tf.maximum(tf.norm(x, 2, 1, true), 1e-12));
}
