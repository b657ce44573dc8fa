import { type TokenizedBatch, textEncoder, WordPieceTokenizer } from '@gradcache/encoders';

const TEXTS = ['the cat sat on the mat', 'a dog chased a cat', 'the fox jumped', 'a quick brown dog', 'cats and dogs', 'the mat was red'];

/**
 * A one-block Transformer (dim 8, 2 heads, dropout 0.2) over a WordPiece vocabulary of six short
 * sentences, and two views of them (the sentences, and their words reversed), 12 tokens each.
 */
export function tinyTextTower(seed?: number): {
  model: ReturnType<typeof textEncoder>['model'];
  encoder: ReturnType<typeof textEncoder>['encoder'];
  views: [TokenizedBatch, TokenizedBatch];
} {
  const tokenizer = WordPieceTokenizer.fromCorpus(TEXTS, { vocabSize: 60, minFrequency: 1 });
  const { model, encoder } = textEncoder({
    vocabSize: tokenizer.vocab.length,
    maxLength: 12,
    dim: 8,
    heads: 2,
    layers: 1,
    dropout: 0.2,
    ...(seed === undefined ? {} : { seed }),
  });
  const views: [TokenizedBatch, TokenizedBatch] = [
    tokenizer.encode(TEXTS, { maxLength: 12 }),
    tokenizer.encode(
      TEXTS.map((t) => t.split(' ').reverse().join(' ')),
      { maxLength: 12 },
    ),
  ];
  return { model, encoder, views };
}
