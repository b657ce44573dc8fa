/** Model folders on disk: `loadPretrained(dir)` and `savePretrained(model, dir)`. */
import { mkdir, readFile, realpath, rename, stat, writeFile } from 'node:fs/promises';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { check } from './errors.js';
import {
  type LoadOptions,
  loadPretrained as loadFromSource,
  type ModelSource,
  type PretrainedModel,
  tooLarge,
} from './pretrained-model.js';
import { checkRelative } from './sources.js';

export * from './index.js';

/** The files of a model folder on disk. Paths never leave the folder, by name or through a symbolic link. */
export function folderSource(dir: string): ModelSource {
  const root = resolve(dir);
  return {
    name: dir,
    async read(path, maxBytes = Number.POSITIVE_INFINITY) {
      checkRelative(path, 'folderSource');
      let real: string;
      try {
        real = await realpath(join(root, path));
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
        throw error;
      }
      const inside = relative(await realpath(root), real);
      check(
        inside !== '' && !inside.startsWith(`..${sep}`) && inside !== '..',
        'INVALID_OPTION',
        () => `folderSource: ${dir}/${path} is a link to ${real}, outside the model's folder; copy the file in instead.`,
      );
      const { size } = await stat(real);
      if (size > maxBytes) throw tooLarge(`${dir}/${path}`, size, maxBytes);
      return new Uint8Array(await readFile(real));
    },
  };
}

/**
 * Loads a Hugging Face text encoder from a folder (or any ModelSource): see `loadPretrained` in
 * `@gradcache/pretrained`.
 *
 * ```ts
 * const model = await loadPretrained('./models/all-MiniLM-L6-v2');
 * const batch = model.tokenizer.encode(['a query', 'a passage']);
 * const reps = model.encoder.encode(batch, { training: false }); // [2, 384]
 * ```
 */
export function loadPretrained(source: string | ModelSource, options: LoadOptions = {}): Promise<PretrainedModel> {
  return loadFromSource(typeof source === 'string' ? folderSource(source) : source, options);
}

/**
 * Writes `model` as a Hugging Face folder (see `PretrainedModel.toFiles`) that PyTorch,
 * transformers and sentence-transformers load: each file written to a temporary name and renamed,
 * so a kill leaves whole files. Returns the paths written.
 */
export async function savePretrained(model: PretrainedModel, dir: string): Promise<string[]> {
  check(typeof dir === 'string' && dir !== '', 'INVALID_OPTION', () => 'savePretrained: dir must be a folder path.');
  const root = resolve(dir);
  const { files, folders } = await model.toFiles();
  for (const folder of folders) {
    checkRelative(folder, 'savePretrained');
    await mkdir(join(root, folder), { recursive: true });
  }
  for (const [path, bytes] of files) {
    checkRelative(path, 'savePretrained');
    const target = join(root, path);
    await mkdir(dirname(target), { recursive: true });
    await writeFile(`${target}.partial`, bytes);
    await rename(`${target}.partial`, target);
  }
  return [...files.keys()].sort();
}
