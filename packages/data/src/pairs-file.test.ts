import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { DataError } from './errors.js';
import { openPairs } from './pairs-file.js';

async function file(name: string, text: string): Promise<string> {
  const path = join(await mkdtemp(join(tmpdir(), 'gradcache-pairs-')), name);
  await writeFile(path, text);
  return path;
}

async function refusal(path: string, options = {}): Promise<string> {
  const error = await openPairs(path, options).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(DataError);
  return `${(error as DataError).code}: ${(error as Error).message}`;
}

describe('openPairs', () => {
  test('JSONL with anchor/positive, a negative, a list of negatives; rows read in any order, by byte range', async () => {
    const path = await file(
      'train.jsonl',
      [
        '{"anchor": "what do cats eat", "positive": "Cats eat meat.", "negatives": ["Dogs bark."]}',
        '',
        '{"query": "café près de São Paulo", "document": "Un café à São Paulo.", "negative": "Un thé à Lisbonne."}',
        '{"question": "tallest mountain", "passage": "Everest is 8,849 m.", "negative_1": "K2 is 8,611 m."}\r',
      ].join('\n'),
    );
    const pairs = await openPairs(path);
    expect([pairs.format, pairs.size, pairs.negatives, pairs.skipped]).toEqual(['jsonl', 3, 1, []]);
    expect(await pairs.read([2, 0])).toEqual([
      { query: 'tallest mountain', positive: 'Everest is 8,849 m.', negatives: ['K2 is 8,611 m.'] },
      { query: 'what do cats eat', positive: 'Cats eat meat.', negatives: ['Dogs bark.'] },
    ]);
    expect((await pairs.read([1]))[0]?.query).toBe('café près de São Paulo');
    await pairs.close();
  });

  test("CSV and TSV with a header (sentence-transformers' column names), quoted fields across lines, UTF-8", async () => {
    const csv = await file('pairs.csv', 'anchor,positive,negative\n"a, with comma","two\nlines","x ""quoted"""\nnaïve,résumé,zürich\n\n');
    const pairs = await openPairs(csv);
    expect(await pairs.readAll()).toEqual([
      { query: 'a, with comma', positive: 'two\nlines', negatives: ['x "quoted"'] },
      { query: 'naïve', positive: 'résumé', negatives: ['zürich'] },
    ]);
    await pairs.close();
    const tsv = await openPairs(await file('pairs.tsv', 'sentence1\tsentence2\nhello\tworld\n'));
    expect(await tsv.readAll()).toEqual([{ query: 'hello', positive: 'world', negatives: [] }]);
    await tsv.close();
  });

  test.each([
    ['invalid JSON', 'a.jsonl', '{"anchor": "a", "positive": "b"}\n{"anchor": "a", "positive": }\n', /a\.jsonl:2: not JSON/],
    ['a missing column', 'b.jsonl', '{"anchor": "a"}\n', /b\.jsonl:1: no positive column: name it one of positive, document, passage/],
    ['an empty text', 'c.jsonl', '{"anchor": " ", "positive": "b"}\n', /c\.jsonl:1: 'anchor' must be a non-empty string/],
    [
      'a number instead of a text',
      'd.jsonl',
      '{"anchor": "a", "positive": 3}\n',
      /d\.jsonl:1: 'positive' must be a non-empty string, got 3/,
    ],
    [
      'another number of negatives',
      'e.jsonl',
      '{"anchor":"a","positive":"b","negative":"c"}\n{"anchor":"a","positive":"b"}\n',
      /e\.jsonl:2: 0 negatives, but the first row has 1/,
    ],
    ['a CSV row with a missing field', 'f.csv', 'anchor,positive\na,b\nc\n', /f\.csv:3: 1 fields, but the header has 2/],
    ['a CSV without the columns', 'g.csv', 'x,y\na,b\n', /g\.csv:2: no query column/],
    ['an unterminated quote', 'h.csv', 'anchor,positive\n"a,b\n', /h\.csv:\d+: .*[Qq]uote/],
    ['an empty file', 'i.jsonl', '\n\n', /i\.jsonl holds no pairs/],
  ])('a file with %s: INVALID_DATA naming the file and line', async (_, name, text, message) => {
    expect(await refusal(await file(name, text))).toMatch(message);
  });

  test('a row longer than maxRowBytes is refused as soon as it is seen, JSONL and CSV', async () => {
    const long = `{"anchor": "${'x'.repeat(3 * 2 ** 20)}", "positive": "b"}\n`;
    expect(await refusal(await file('long.jsonl', `{"anchor":"a","positive":"b"}\n${long}`))).toMatch(
      /long\.jsonl:2: the row is longer than maxRowBytes \(1048576 bytes\)/,
    );
    expect(await refusal(await file('long.csv', `anchor,positive\na,${'y'.repeat(2 ** 20 + 10)}\n`))).toMatch(
      /long\.csv:2: the row is longer than maxRowBytes/,
    );
  });

  test("badRows: 'skip' skips and counts each bad row (with its line and reason); nothing is dropped silently", async () => {
    const path = await file('mixed.jsonl', '{"anchor":"a","positive":"b"}\nnot json\n{"anchor":"c","positive":"d"}\n{"positive":"e"}\n');
    const pairs = await openPairs(path, { badRows: 'skip' });
    expect(pairs.size).toBe(2);
    expect(pairs.skipped.map((s) => s.line)).toEqual([2, 4]);
    expect(pairs.skipped[1]?.reason).toMatch(/no query column/);
    expect((await pairs.readAll()).map((p) => p.query)).toEqual(['a', 'c']);
    await pairs.close();
  });

  test('bad options and unknown extensions', async () => {
    expect(await refusal(await file('x.txt', 'a'))).toMatch(/^INVALID_OPTION: openPairs: cannot tell the format of .*x\.txt/);
    expect(await refusal(await file('y.jsonl', '{}'), { badRows: 'ignore' })).toMatch(/badRows must be 'error' or 'skip'/);
    expect(await refusal(join(tmpdir(), 'no-such-file.jsonl'))).toMatch(/^INVALID_FILE: openPairs: cannot read/);
  });
});
