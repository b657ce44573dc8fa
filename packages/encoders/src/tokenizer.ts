import * as tf from '@tensorflow/tfjs-core';
import { check } from './errors.js';

/** The special tokens, at these ids in every vocabulary. */
export const SPECIAL_TOKENS = ['[PAD]', '[UNK]', '[CLS]', '[SEP]'] as const;
const [PAD, UNK, CLS, SEP] = [0, 1, 2, 3];

/** Options of WordPieceTokenizer.fromCorpus. */
export interface WordPieceTrainingOptions {
  /** Vocabulary size to stop at (special tokens and single characters included). Default 2000. */
  vocabSize?: number;
  /** Lower-case the text first. Default true. */
  lowercase?: boolean;
  /** Pairs seen fewer times than this are never merged. Default 2. */
  minFrequency?: number;
}

/** Options of WordPieceTokenizer.encode. */
export interface EncodeOptions {
  /** Pad or truncate every sequence to this many tokens, [CLS] and [SEP] included. */
  maxLength: number;
}

/** A tokenizer's output: a record batch for textEncoder. The caller owns both tensors. */
export type TokenizedBatch = {
  /** [batch, maxLength] int32 token ids, [PAD] = 0 after the sequence. */
  inputIds: tf.Tensor2D;
  /** [batch, maxLength] float32, 1 for tokens and 0 for padding. */
  attentionMask: tf.Tensor2D;
};

function checkText(fn: string, text: unknown, name: string): asserts text is string {
  check(typeof text === 'string', 'INVALID_OPTION', () => `${fn}: ${name} must be a string, got ${text === null ? 'null' : typeof text}.`);
}

/** Lower-cases (optionally) and splits into words and single punctuation marks. */
function preTokenize(text: string, lowercase: boolean): string[] {
  return (lowercase ? text.toLowerCase() : text).normalize('NFC').match(/[\p{L}\p{N}]+|[^\s\p{L}\p{N}]/gu) ?? [];
}

/** A word as pieces in WordPiece notation: the first as is, the rest prefixed "##". */
const asPieces = (chars: readonly string[]): string[] => chars.map((c, i) => (i === 0 ? c : `##${c}`));
const join = (a: string, b: string): string => a + b.replace(/^##/, '');

/**
 * A WordPiece tokenizer (as BERT's): words are split greedily into the longest vocabulary pieces,
 * continuation pieces marked "##"; unknown words become [UNK]. The vocabulary is learned from a
 * corpus by merging the most frequent adjacent pieces (the BPE procedure WordPiece trainers use).
 *
 * ```ts
 * const tokenizer = WordPieceTokenizer.fromCorpus(texts, { vocabSize: 2000 });
 * const { inputIds, attentionMask } = tokenizer.encode(['first text', 'second'], { maxLength: 32 });
 * ```
 */
export class WordPieceTokenizer {
  /** Id → piece; ids 0–3 are [PAD], [UNK], [CLS], [SEP]. */
  readonly vocab: readonly string[];
  /** Whether text is lower-cased before splitting. */
  readonly lowercase: boolean;
  private readonly ids: Map<string, number>;
  private readonly longest: number;

  constructor(vocab: readonly string[], options: { lowercase?: boolean } = {}) {
    check(
      Array.isArray(vocab) && vocab.every((piece) => typeof piece === 'string' && piece.length > 0),
      'INVALID_OPTION',
      () => 'WordPieceTokenizer: the vocabulary must be an array of non-empty strings.',
    );
    check(
      SPECIAL_TOKENS.every((t, i) => vocab[i] === t),
      'INVALID_OPTION',
      () => `WordPieceTokenizer: the vocabulary must start with ${SPECIAL_TOKENS.join(', ')}, got ${vocab.slice(0, 4).join(', ')}.`,
    );
    this.vocab = vocab;
    this.lowercase = options.lowercase ?? true;
    this.ids = new Map(vocab.map((piece, id) => [piece, id]));
    // A loop, not Math.max(...): a spread of a 250k-piece vocabulary overflows the call stack.
    let longest = 0;
    for (const piece of vocab) longest = Math.max(longest, piece.replace(/^##/, '').length);
    this.longest = longest;
  }

  /** Learns a vocabulary of at most `vocabSize` pieces from `texts`. */
  static fromCorpus(texts: readonly string[], options: WordPieceTrainingOptions = {}): WordPieceTokenizer {
    check(
      Array.isArray(texts),
      'INVALID_OPTION',
      () => `WordPieceTokenizer.fromCorpus: texts must be an array of strings, got ${String(texts)}.`,
    );
    texts.forEach((text, i) => checkText('WordPieceTokenizer.fromCorpus', text, `texts[${i}]`));
    const { vocabSize = 2000, lowercase = true, minFrequency = 2 } = options;
    check(
      Number.isInteger(vocabSize) && vocabSize > SPECIAL_TOKENS.length,
      'INVALID_OPTION',
      () => `WordPieceTokenizer.fromCorpus: vocabSize must be an integer > ${SPECIAL_TOKENS.length}, got ${vocabSize}.`,
    );
    const counts = new Map<string, number>();
    for (const text of texts) for (const word of preTokenize(text, lowercase)) counts.set(word, (counts.get(word) ?? 0) + 1);
    const words = [...counts].map(([word, count]) => ({ pieces: asPieces([...word]), count }));
    const vocab: string[] = [...SPECIAL_TOKENS];
    const known = new Set(vocab);
    const add = (piece: string): void => {
      if (!known.has(piece)) {
        known.add(piece);
        vocab.push(piece);
      }
    };
    // Every character, as a word start and as a continuation, most frequent first.
    const chars = new Map<string, number>();
    for (const { pieces, count } of words) for (const p of pieces) chars.set(p, (chars.get(p) ?? 0) + count);
    [...chars].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1)).forEach(([p]) => add(p));
    while (vocab.length < vocabSize) {
      const pairs = new Map<string, number>();
      for (const { pieces, count } of words) {
        for (let i = 0; i + 1 < pieces.length; i++) {
          const key = `${pieces[i]} ${pieces[i + 1]}`;
          pairs.set(key, (pairs.get(key) ?? 0) + count);
        }
      }
      let best: string | undefined;
      let bestCount = minFrequency - 1;
      for (const [key, count] of pairs)
        if (count > bestCount || (count === bestCount && best !== undefined && key < best)) [best, bestCount] = [key, count];
      if (best === undefined) break;
      const [a, b] = best.split(' ') as [string, string];
      const merged = join(a, b);
      add(merged);
      for (const word of words) {
        const next: string[] = [];
        for (let i = 0; i < word.pieces.length; i++) {
          if (i + 1 < word.pieces.length && word.pieces[i] === a && word.pieces[i + 1] === b) {
            next.push(merged);
            i++;
          } else next.push(word.pieces[i] as string);
        }
        word.pieces = next;
      }
    }
    return new WordPieceTokenizer(vocab, { lowercase });
  }

  /** The pieces of one text (no special tokens): greedy longest-match-first per word. */
  tokenize(text: string): string[] {
    checkText('WordPieceTokenizer.tokenize', text, 'text');
    return preTokenize(text, this.lowercase).flatMap((word) => this.wordPieces(word));
  }

  /** Token ids of one text, [CLS] … [SEP], truncated to maxLength if given. */
  encodeIds(text: string, maxLength?: number): number[] {
    const ids = [CLS, ...this.tokenize(text).map((p) => this.ids.get(p) ?? UNK), SEP];
    if (maxLength === undefined || ids.length <= maxLength) return ids;
    return [...ids.slice(0, maxLength - 1), SEP];
  }

  /** A record batch for textEncoder: ids padded with [PAD] or truncated to maxLength, and the mask. */
  encode(texts: string | readonly string[], options: EncodeOptions): TokenizedBatch {
    const { maxLength } = options;
    check(
      Number.isInteger(maxLength) && maxLength >= 2,
      'INVALID_OPTION',
      () => `WordPieceTokenizer.encode: maxLength must be an integer ≥ 2 (room for [CLS] and [SEP]), got ${maxLength}.`,
    );
    const list = typeof texts === 'string' ? [texts] : texts;
    check(
      Array.isArray(list),
      'INVALID_OPTION',
      () => `WordPieceTokenizer.encode: texts must be a string or an array of strings, got ${String(texts)}.`,
    );
    list.forEach((text, i) => checkText('WordPieceTokenizer.encode', text, `texts[${i}]`));
    const ids = new Int32Array(list.length * maxLength).fill(PAD);
    const mask = new Float32Array(list.length * maxLength);
    list.forEach((text, row) => {
      this.encodeIds(text, maxLength).forEach((id, col) => {
        ids[row * maxLength + col] = id;
        mask[row * maxLength + col] = 1;
      });
    });
    return {
      inputIds: tf.tensor2d(ids, [list.length, maxLength], 'int32'),
      attentionMask: tf.tensor2d(mask, [list.length, maxLength], 'float32'),
    };
  }

  /** Text back from ids: pieces joined, "##" continuations glued, special tokens dropped. */
  decode(ids: readonly number[]): string {
    return ids
      .filter((id) => id >= SPECIAL_TOKENS.length || id === UNK)
      .map((id) => this.vocab[id] ?? '[UNK]')
      .join(' ')
      .replace(/ ##/g, '');
  }

  private wordPieces(word: string): string[] {
    const chars = [...word];
    const pieces: string[] = [];
    for (let start = 0; start < chars.length; ) {
      let end = Math.min(chars.length, start + this.longest);
      let piece: string | undefined;
      for (; end > start; end--) {
        const candidate = (start === 0 ? '' : '##') + chars.slice(start, end).join('');
        if (this.ids.has(candidate)) {
          piece = candidate;
          break;
        }
      }
      if (piece === undefined) return ['[UNK]'];
      pieces.push(piece);
      start = end;
    }
    return pieces;
  }
}
