import { check } from './errors.js';
import { type ModelSource, tooLarge } from './pretrained-model.js';

/** Refuses a path that could leave the model's folder: absolute, `..`, or a backslash. */
export function checkRelative(path: string, where: string): void {
  check(
    typeof path === 'string' &&
      path !== '' &&
      !path.startsWith('/') &&
      !path.includes('\\') &&
      !path.split('/').some((p) => p === '..' || p === '' || p === '.'),
    'INVALID_OPTION',
    () => `${where}: ${JSON.stringify(path)} is not a path inside the model's folder.`,
  );
}

/**
 * The files of a model under a base URL (a Hugging Face repository's `…/resolve/main`, a folder
 * served with the page), fetched on demand; a 404 is "no such file". In browsers and Node ≥ 18.
 *
 * ```ts
 * const model = await loadPretrained(urlSource('/models/minilm'));
 * ```
 */
export function urlSource(baseUrl: string, fetchFile: typeof fetch = fetch): ModelSource {
  const base = baseUrl.endsWith('/') ? baseUrl : `${baseUrl}/`;
  return {
    name: baseUrl,
    async read(path, maxBytes = Number.POSITIVE_INFINITY) {
      checkRelative(path, 'urlSource');
      const response = await fetchFile(`${base}${path}`);
      if (response.status === 404) return undefined;
      check(response.ok, 'MISSING_FILE', () => `urlSource: ${base}${path} answered ${response.status} ${response.statusText}.`);
      const declared = Number(response.headers?.get('content-length') ?? Number.NaN);
      if (declared > maxBytes) throw tooLarge(`${base}${path}`, declared, maxBytes);
      const bytes = new Uint8Array(await response.arrayBuffer());
      if (bytes.length > maxBytes) throw tooLarge(`${base}${path}`, bytes.length, maxBytes);
      return bytes;
    },
  };
}

/**
 * The files a person picked (an `<input type="file" webkitdirectory>`, a drop): each by its path
 * inside the picked folder (`webkitRelativePath` without the folder's own name), else by name.
 */
export function fileSource(files: Iterable<File>): ModelSource {
  const byPath = new Map<string, File>();
  for (const file of files) {
    const relative = (file as File & { webkitRelativePath?: string }).webkitRelativePath;
    byPath.set(relative ? relative.split('/').slice(1).join('/') : file.name, file);
  }
  return {
    name: 'the files given',
    async read(path, maxBytes = Number.POSITIVE_INFINITY) {
      checkRelative(path, 'fileSource');
      const file = byPath.get(path);
      if (file !== undefined && file.size > maxBytes) throw tooLarge(path, file.size, maxBytes);
      return file === undefined ? undefined : new Uint8Array(await file.arrayBuffer());
    },
  };
}
