import * as tf from '@tensorflow/tfjs-core';
import { Tokenizer } from '@huggingface/tokenizers';
import { check, PretrainedError } from './errors.js';
import type { TokenBatch } from './transformer.js';

/** Options of `PretrainedTokenizer.encode`. */
export interface TokenizeOptions {
  /** Tokens per text, special tokens included: longer texts are cut (their last special token kept). Default the model's maxLength. */
  maxLength?: number;
}

/**
 * A Hugging Face tokenizer — `tokenizer.json` read by `@huggingface/tokenizers` (WordPiece, BPE and
 * Unigram, with their normalizers, pre-tokenizers and post-processors), or a BERT `vocab.txt` — that
 * makes the `{ inputIds, attentionMask }` batches the pretrained encoders take: special tokens added,
 * truncated to `maxLength`, right-padded to the longest text with the pad token.
 */
export class PretrainedTokenizer {
  /** The id of the padding token. */
  readonly padId: number;
  /** The special tokens the post-processor adds around one text (e.g. 2: [CLS] … [SEP]). */
  private readonly specials: number;

  private constructor(
    private readonly tokenizer: Tokenizer,
    /** The longest input: texts are truncated to it unless `encode` is given another. */
    readonly maxLength: number,
    padToken: string | undefined,
    fallbackPadId: number,
  ) {
    this.padId = (padToken === undefined ? undefined : tokenizer.token_to_id(padToken)) ?? fallbackPadId;
    this.specials = tokenizer.encode('').ids.length;
  }

  /**
   * From `tokenizer.json` and (optionally) `tokenizer_config.json`, parsed. A file the library cannot
   * read is an INVALID_TOKENIZER error naming it.
   */
  static fromJson(
    tokenizerJson: unknown,
    tokenizerConfig: unknown,
    options: { maxLength: number; padId: number; file?: string },
  ): PretrainedTokenizer {
    const file = options.file ?? 'tokenizer.json';
    check(
      typeof tokenizerJson === 'object' && tokenizerJson !== null && typeof (tokenizerJson as { model?: unknown }).model === 'object',
      'INVALID_TOKENIZER',
      () => `loadPretrained: ${file} has no "model" object; it is not a Hugging Face tokenizer.json.`,
    );
    const config = (typeof tokenizerConfig === 'object' && tokenizerConfig !== null ? tokenizerConfig : {}) as Record<string, unknown>;
    let tokenizer: Tokenizer;
    try {
      tokenizer = new Tokenizer(tokenizerJson, config);
      tokenizer.encode('a');
    } catch (error) {
      throw new PretrainedError('INVALID_TOKENIZER', `loadPretrained: ${file} cannot be read as a tokenizer: ${(error as Error).message}`);
    }
    const pad = config['pad_token'];
    const padToken =
      typeof pad === 'string'
        ? pad
        : typeof (pad as { content?: unknown })?.content === 'string'
          ? (pad as { content: string }).content
          : undefined;
    return new PretrainedTokenizer(tokenizer, options.maxLength, padToken, options.padId);
  }

  /**
   * From a BERT `vocab.txt` (one WordPiece token per line), as BERT's tokenizer uses it: lower-cased
   * and accents stripped unless `lowercase` is false, [CLS] … [SEP] around each text.
   */
  static fromVocab(
    vocabTxt: string,
    options: { lowercase: boolean; maxLength: number; padId: number; file?: string },
  ): PretrainedTokenizer {
    const tokens = vocabTxt.split(/\r?\n/);
    if (tokens.at(-1) === '') tokens.pop();
    const vocab = Object.fromEntries(tokens.map((t, i) => [t, i]));
    const file = options.file ?? 'vocab.txt';
    for (const t of ['[CLS]', '[SEP]', '[UNK]', '[PAD]']) {
      check(t in vocab, 'INVALID_TOKENIZER', () => `loadPretrained: ${file} has no ${t} token; it is not a BERT WordPiece vocabulary.`);
    }
    const special = (t: string) => ({
      id: vocab[t],
      content: t,
      single_word: false,
      lstrip: false,
      rstrip: false,
      normalized: false,
      special: true,
    });
    const json = {
      version: '1.0',
      added_tokens: ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]'].filter((t) => t in vocab).map(special),
      normalizer: {
        type: 'BertNormalizer',
        clean_text: true,
        handle_chinese_chars: true,
        strip_accents: null,
        lowercase: options.lowercase,
      },
      pre_tokenizer: { type: 'BertPreTokenizer' },
      post_processor: {
        type: 'TemplateProcessing',
        single: [
          { SpecialToken: { id: '[CLS]', type_id: 0 } },
          { Sequence: { id: 'A', type_id: 0 } },
          { SpecialToken: { id: '[SEP]', type_id: 0 } },
        ],
        pair: [],
        special_tokens: Object.fromEntries(['[CLS]', '[SEP]'].map((t) => [t, { id: t, ids: [vocab[t]], tokens: [t] }])),
      },
      decoder: { type: 'WordPiece', prefix: '##', cleanup: true },
      model: { type: 'WordPiece', unk_token: '[UNK]', continuing_subword_prefix: '##', max_input_chars_per_word: 100, vocab },
    };
    return PretrainedTokenizer.fromJson(json, { pad_token: '[PAD]' }, { maxLength: options.maxLength, padId: options.padId, file });
  }

  /** The ids of one text, special tokens included, at most `maxLength` of them. */
  ids(text: string, options: TokenizeOptions = {}): number[] {
    const maxLength = options.maxLength ?? this.maxLength;
    check(
      Number.isInteger(maxLength) && maxLength > this.specials,
      'INVALID_OPTION',
      () => `PretrainedTokenizer.encode: maxLength must be an integer above the ${this.specials} special tokens, got ${maxLength}.`,
    );
    const full = this.tokenizer.encode(text).ids;
    if (full.length <= maxLength) return full;
    // Too long: cut the text's own tokens, then let the post-processor add the special tokens again.
    const tokens = this.tokenizer.tokenize(text).slice(0, maxLength - this.specials);
    const processed = this.tokenizer.post_processor === null ? tokens : this.tokenizer.post_processor(tokens).tokens;
    return processed.map((t: string) => this.tokenizer.token_to_id(t) as number);
  }

  /**
   * Texts → `{ inputIds, attentionMask }` (int32 [texts, longest]), right-padded with the pad token;
   * the caller owns the tensors.
   *
   * ```ts
   * const batch = model.tokenizer.encode(['a query', 'a longer passage of text'], { maxLength: 128 });
   * ```
   */
  encode(texts: readonly string[], options: TokenizeOptions = {}): TokenBatch {
    check(
      Array.isArray(texts) && texts.length > 0 && texts.every((t) => typeof t === 'string'),
      'INVALID_OPTION',
      () => 'PretrainedTokenizer.encode: texts must be a non-empty array of strings.',
    );
    const rows = texts.map((t) => this.ids(t, options));
    const length = Math.max(...rows.map((r) => r.length));
    const ids = new Int32Array(rows.length * length).fill(this.padId);
    const mask = new Int32Array(rows.length * length);
    rows.forEach((r, i) => {
      ids.set(r, i * length);
      mask.fill(1, i * length, i * length + r.length);
    });
    return { inputIds: tf.tensor2d(ids, [rows.length, length], 'int32'), attentionMask: tf.tensor2d(mask, [rows.length, length], 'int32') };
  }

  /** Ids back to text (special tokens left out). */
  decode(ids: readonly number[]): string {
    return this.tokenizer.decode([...ids], { skip_special_tokens: true });
  }
}
