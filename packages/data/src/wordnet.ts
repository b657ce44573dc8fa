import { check } from './errors.js';
import { fnv1a, normalizeText } from './text.js';

/** A WordNet part of speech, as in the dict file names (data.noun …). */
export type PartOfSpeech = 'noun' | 'verb' | 'adj' | 'adv';
export const PARTS_OF_SPEECH: readonly PartOfSpeech[] = ['noun', 'verb', 'adj', 'adv'];

/** One WordNet synset. */
export interface Synset {
  /** Unique over the four files: the pos letter and the byte offset, e.g. `n00002137`. */
  id: string;
  /** The synset's words, normalised (`physical_entity` → `physical entity`), duplicates dropped. */
  words: string[];
  /** The gloss's definition (before its quoted examples), normalised. */
  definition: string;
  /** The gloss's quoted examples, normalised. */
  examples: string[];
}

/**
 * Parses a WordNet 3.x `data.<pos>` file (the text of data.noun, data.verb, …; license header lines
 * start with a space and are skipped). Throws a DataError naming the line for a malformed record.
 */
export function parseWordNetData(text: string, file = 'data file'): Synset[] {
  const synsets: Synset[] = [];
  const lines = text.split('\n');
  lines.forEach((line, k) => {
    if (line.length === 0 || line.startsWith(' ')) return;
    const bar = line.indexOf(' | ');
    const fields = (bar < 0 ? line : line.slice(0, bar)).trim().split(' ');
    const [offset, , type, hexCount] = fields;
    const count = Number.parseInt(hexCount ?? '', 16);
    check(
      bar > 0 && /^\d{8}$/.test(offset ?? '') && /^[nvasr]$/.test(type ?? '') && count > 0 && fields.length >= 4 + 2 * count,
      'INVALID_FILE',
      () =>
        `parseWordNetData: ${file} line ${k + 1} is not a WordNet synset record: "${line.slice(0, 80)}". Pass the text of a data.<pos> file.`,
    );
    const words = [
      ...new Set(Array.from({ length: count }, (_, i) => normalizeText((fields[4 + 2 * i] as string).replace(/\([a-z]+\)$/, '')))),
    ];
    const gloss = line.slice(bar + 3);
    const examples = [...gloss.matchAll(/"([^"]*)"/g)].map((m) => normalizeText(m[1] as string)).filter((e) => e.length > 0);
    const quote = gloss.indexOf('"');
    const definition = normalizeText((quote < 0 ? gloss : gloss.slice(0, quote)).replace(/[;\s]+$/, ''));
    synsets.push({ id: `${type === 's' ? 'a' : type}${offset}`, words, definition, examples });
  });
  return synsets;
}

/** A (query, document) pair from a synset. */
export interface TextPair {
  query: string;
  document: string;
  /** The synset it came from: pairs of one synset share it (and a split). */
  synset: string;
}

/**
 * Retrieval pairs from synsets. `'gloss'`: definition → the synset's words (`"a feline mammal…" →
 * "cat, true cat"`), one per synset with a definition. `'synonym'`: the first word → the second, one
 * per synset with two words or more.
 */
export function wordnetPairs(synsets: readonly Synset[], kind: 'gloss' | 'synonym' = 'gloss'): TextPair[] {
  check(
    kind === 'gloss' || kind === 'synonym',
    'INVALID_OPTION',
    () => `wordnetPairs: kind must be 'gloss' or 'synonym', got ${String(kind)}.`,
  );
  if (kind === 'gloss') {
    return synsets.filter((s) => s.definition.length > 0).map((s) => ({ query: s.definition, document: s.words.join(', '), synset: s.id }));
  }
  return synsets
    .filter((s) => s.words.length >= 2)
    .map((s) => ({ query: s.words[0] as string, document: s.words[1] as string, synset: s.id }));
}

/** The three splits. */
export type Split = 'train' | 'validation' | 'test';

/** Options of splitOf. */
export interface SplitOptions {
  /** Fraction of keys in validation. Default 0.05. */
  validation?: number;
  /** Fraction of keys in test. Default 0.05. */
  test?: number;
  /** Changes which keys go where. Default 0. */
  seed?: number;
}

/**
 * The split of a key (a synset id): a hash of `seed` and the key, so it is the same on every machine
 * and every run, and everything keyed by one synset lands in one split.
 */
export function splitOf(key: string, options: SplitOptions = {}): Split {
  const { validation = 0.05, test = 0.05, seed = 0 } = options;
  check(
    validation >= 0 && test >= 0 && validation + test < 1,
    'INVALID_OPTION',
    () => `splitOf: validation (${validation}) and test (${test}) must be ≥ 0 and sum to less than 1.`,
  );
  const u = fnv1a(key, fnv1a(`split:${seed}`)) / 2 ** 32;
  return u < test ? 'test' : u < test + validation ? 'validation' : 'train';
}

/** The items of one split, keyed by `keyOf` (e.g. `(p) => p.synset`). */
export function takeSplit<T>(items: readonly T[], split: Split, keyOf: (item: T) => string, options: SplitOptions = {}): T[] {
  return items.filter((item) => splitOf(keyOf(item), options) === split);
}
