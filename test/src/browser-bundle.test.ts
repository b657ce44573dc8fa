import { readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { build } from 'esbuild';
import { describe, expect, test } from 'vitest';

// Every published package's main entry must run in a browser: bundled by a real bundler for
// `platform: 'browser'`, with no Node built-in (node:fs, path, …) reachable from it. Node-only code
// lives behind each package's `./node` subpath. @gradcache/cli is a command-line program, Node by
// nature, and is the one exception.
const root = resolve(import.meta.dirname, '../..');
const packages = readdirSync(join(root, 'packages')).filter((name) => {
  const manifest = JSON.parse(readFileSync(join(root, 'packages', name, 'package.json'), 'utf8'));
  return manifest.private !== true && manifest.bin === undefined;
});

describe('every main entry bundles for the browser', () => {
  test('the packages checked are the published libraries', () => {
    expect(packages).toEqual(expect.arrayContaining(['backend', 'core', 'data', 'encoders', 'losses', 'trainer']));
  });

  test.each(packages)('@gradcache/%s', async (name) => {
    const result = await build({
      entryPoints: [join(root, 'packages', name, 'src', 'index.ts')],
      bundle: true,
      platform: 'browser',
      format: 'esm',
      splitting: true,
      outdir: join(root, 'node_modules', '.cache', 'browser-bundle', name),
      write: false,
      metafile: true,
      conditions: ['@gradcache/source'],
      logLevel: 'silent',
    });
    expect(result.errors).toEqual([]);
    const inputs = Object.keys(result.metafile.inputs);
    expect(inputs.filter((file) => /(^|\/)node:|\/node\.ts$/.test(file))).toEqual([]);
    expect(inputs.some((file) => file.includes(`packages/${name}/src/index.ts`))).toBe(true);
  });
});
