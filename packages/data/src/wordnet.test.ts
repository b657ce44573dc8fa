import { describe, expect, test } from 'vitest';
import { DataError } from './errors.js';
import { fnv1a, ngramFeatures, normalizeText } from './text.js';
import { parseWordNetData, splitOf, takeSplit, wordnetPairs } from './wordnet.js';
import { FIXTURE } from './wordnet.test-helper.js';

describe('WordNet', () => {
  test('parses synsets: words normalised, markers dropped, definition and examples apart, header skipped', () => {
    const synsets = parseWordNetData(FIXTURE);
    expect(synsets.map((s) => s.id)).toEqual(['n00001740', 'n00002137', 'n00003553', 'a00005205']);
    expect(synsets[1]?.words).toEqual(['abstraction', 'abstract entity']);
    expect(synsets[2]).toEqual({
      id: 'n00003553',
      words: ['whole', 'unit'],
      definition: 'an assemblage of parts that is regarded as a single entity',
      examples: ['how big is that part compared to the whole?', 'the team is a unit'],
    });
    expect(synsets[3]?.words).toEqual(['ablaze', 'afire']);
  });

  test('a malformed record is a DataError naming the file and the line', () => {
    const bad = `${FIXTURE}00009999 03 n 05 only_one 0 000 | a gloss\n`;
    expect(() => parseWordNetData(bad, 'data.noun')).toThrowError(DataError);
    expect(() => parseWordNetData(bad, 'data.noun')).toThrowError(/data\.noun line 7/);
    expect(() => parseWordNetData('not a wordnet file at all\n')).toThrowError(/not a WordNet synset record/);
  });

  test('pairs: gloss → words, first word → second word', () => {
    const synsets = parseWordNetData(FIXTURE);
    expect(wordnetPairs(synsets)[2]).toEqual({
      query: 'an assemblage of parts that is regarded as a single entity',
      document: 'whole, unit',
      synset: 'n00003553',
    });
    expect(wordnetPairs(synsets, 'synonym')).toEqual([
      { query: 'abstraction', document: 'abstract entity', synset: 'n00002137' },
      { query: 'whole', document: 'unit', synset: 'n00003553' },
      { query: 'ablaze', document: 'afire', synset: 'a00005205' },
    ]);
    expect(() => wordnetPairs(synsets, 'words' as never)).toThrowError(/kind must be/);
  });

  test('splits by key: deterministic, disjoint, near the fractions, changed by the seed', () => {
    const keys = Array.from({ length: 20_000 }, (_, i) => `n${String(i).padStart(8, '0')}`);
    const splits = keys.map((k) => splitOf(k, { validation: 0.1, test: 0.2 }));
    expect(keys.map((k) => splitOf(k, { validation: 0.1, test: 0.2 }))).toEqual(splits);
    const share = (s: string): number => splits.filter((x) => x === s).length / keys.length;
    expect(share('test')).toBeCloseTo(0.2, 1);
    expect(share('validation')).toBeCloseTo(0.1, 1);
    const reseeded = keys.map((k) => splitOf(k, { validation: 0.1, test: 0.2, seed: 1 }));
    expect(reseeded).not.toEqual(splits);
    const items = keys.map((k, i) => ({ k, i }));
    const parts = (['train', 'validation', 'test'] as const).map((s) => takeSplit(items, s, (x) => x.k));
    expect(parts.reduce((n, p) => n + p.length, 0)).toBe(keys.length);
    expect(() => splitOf('x', { validation: 0.5, test: 0.5 })).toThrowError(/sum to less than 1/);
  });
});

describe('text', () => {
  test('normalizeText and FNV-1a (reference values)', () => {
    expect(normalizeText('  Physical_Entity\t ＡＢ ')).toBe('physical entity ab');
    // FNV-1a 32-bit test vectors: "" → 0x811c9dc5, "a" → 0xe40c292c, "foobar" → 0xbf9cf968.
    expect([fnv1a(''), fnv1a('a'), fnv1a('foobar')]).toEqual([0x811c9dc5, 0xe40c292c, 0xbf9cf968]);
  });

  test('n-gram features: words, then character trigrams in boundary marks', () => {
    expect(ngramFeatures('Cat  ox')).toEqual(['w:cat', 'w:ox', 'c:<ca', 'c:cat', 'c:at>', 'c:<ox', 'c:ox>']);
  });
});

test('DataError carries its code', () => {
  const error = new DataError('INVALID_FILE', 'm');
  expect([error.code, error.name, error instanceof Error]).toEqual(['INVALID_FILE', 'DataError', true]);
});
