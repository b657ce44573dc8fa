// Keeps the docs true to the code. Run after `pnpm build`.
//
// 1. Type-checks every ```ts block of the README, docs/ and the package READMEs as its own module,
//    under the repo's strict settings (noUncheckedIndexedAccess included).
// 2. Type-checks every ```ts example in the packages' doc comments (` * ```ts … * ``` `). Those are
//    fragments: each gets every export of every @gradcache package (and tf, tfl) imported, and the
//    free names they use (gradCache, optimizer, queries, …) are declared in scripts/doc-globals.d.ts.
// 3. Checks every command in a ```sh block: `pnpm <x>` must be a root script or a pnpm command, and
//    every `gradcache …` line must parse — it is run with `--help` appended, which checks the command
//    and each flag without doing the work.
// Blocks are written to test/.doc-examples/ (git-ignored), where the workspace's packages resolve.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

const root = resolve(import.meta.dirname, '..');
const out = join(root, 'test', '.doc-examples');
const exists = (f) => {
  try {
    readFileSync(join(root, f));
    return true;
  } catch {
    return false;
  }
};
const packages = readdirSync(join(root, 'packages'));
const markdown = [
  'README.md',
  ...readdirSync(join(root, 'docs'))
    .filter((f) => f.endsWith('.md'))
    .map((f) => `docs/${f}`),
  ...packages.map((p) => `packages/${p}/README.md`),
].filter(exists);
const lineOf = (text, index) => text.slice(0, index).split('\n').length;

rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });
const files = [];

// 1. Markdown examples: complete modules with their own imports.
for (const source of markdown) {
  const text = readFileSync(join(root, source), 'utf8');
  let k = 0;
  for (const match of text.matchAll(/^```ts\n([\s\S]*?)^```$/gm)) {
    const file = `${source.replace(/[/.]/g, '_')}_${++k}.ts`;
    writeFileSync(join(out, file), `// ${source}:${lineOf(text, match.index)}\n${match[1]}export {};\n`);
    files.push(file);
  }
}

// 2. Doc-comment examples: every package export imported, free names declared globally.
const entries = packages.flatMap((p) => {
  const manifest = JSON.parse(readFileSync(join(root, 'packages', p, 'package.json'), 'utf8'));
  if (manifest.private === true) return [];
  return Object.entries(manifest.exports ?? {}).map(([subpath, target]) => ({
    specifier: `${manifest.name}${subpath === '.' ? '' : subpath.slice(1)}`,
    source: join('packages', p, target['@gradcache/source']),
    pkg: p,
  }));
});
/** The import lines for an example in package `own`: its own entries first (./node before the main entry), so a name both export resolves to the richer one. */
function importsFor(own) {
  const seen = new Set(['tf', 'tfl']);
  const lines = ["import * as tf from '@tensorflow/tfjs-core';", "import * as tfl from '@tensorflow/tfjs-layers';"];
  const rank = (e) => (e.pkg === own ? 0 : 1) * 10 + (e.specifier.endsWith('/node') ? 0 : e.specifier.endsWith('/internal') ? 2 : 1);
  for (const { specifier, source } of [...entries].sort((a, b) => rank(a) - rank(b))) {
    const text = readFileSync(join(root, source), 'utf8');
    const listed = [...text.matchAll(/^export (type )?\{([^}]*)\}/gm)].flatMap((m) =>
      m[2].split(',').map((n) => (m[1] === undefined || n.trim().startsWith('type ') ? n.trim() : `type ${n.trim()}`)),
    );
    const declared = [...text.matchAll(/^export (?:async )?(function|const|class|interface|type) (\w+)/gm)].map((m) =>
      m[1] === 'interface' || m[1] === 'type' ? `type ${m[2]}` : m[2],
    );
    const names = [...declared, ...listed].filter((n) => n !== '' && n !== 'type ' && !seen.has(n.replace(/^type /, '')));
    for (const n of names) seen.add(n.replace(/^type /, ''));
    if (names.length > 0) lines.push(`import { ${names.join(', ')} } from '${specifier}';`);
  }
  return `${lines.join('\n')}\n`;
}
for (const p of packages) {
  const walk = (dir) =>
    readdirSync(join(root, dir), { withFileTypes: true }).flatMap((e) =>
      e.isDirectory()
        ? walk(join(dir, e.name))
        : e.name.endsWith('.ts') && !/\.test(-helper)?\.ts$|\.child\.ts$/.test(e.name)
          ? [join(dir, e.name)]
          : [],
    );
  const header = importsFor(p);
  for (const source of walk(join('packages', p, 'src'))) {
    const text = readFileSync(join(root, source), 'utf8');
    let k = 0;
    for (const match of text.matchAll(/^ \* ```ts\n([\s\S]*?)^ \* ```$/gm)) {
      const body = match[1].replace(/^ \*( |$)/gm, '');
      const file = `${source.replace(/[/.]/g, '_')}_${++k}.ts`;
      writeFileSync(join(out, file), `// ${source}:${lineOf(text, match.index)}\n${header}${body}export {};\n`);
      files.push(file);
    }
  }
}
writeFileSync(join(out, 'globals.d.ts'), readFileSync(join(root, 'scripts', 'doc-globals.d.ts'), 'utf8'));
writeFileSync(
  join(out, 'tsconfig.json'),
  JSON.stringify({
    extends: '../../tsconfig.base.json',
    compilerOptions: {
      noEmit: true,
      composite: false,
      declaration: false,
      declarationMap: false,
      sourceMap: false,
      noUnusedLocals: false,
      types: ['node'],
    },
    include: ['*.ts'],
  }),
);
console.log(`type-checking ${files.length} examples from ${markdown.length} Markdown files and the packages' doc comments`);
let failed = false;
try {
  execFileSync(join(root, 'node_modules', '.bin', 'tsc'), ['-p', join(out, 'tsconfig.json')], { stdio: 'inherit' });
} catch {
  console.log('doc examples do not type-check (each file starts with the source and line it came from)');
  failed = true;
}

// The length the docs give the algorithm file is its length.
const phases = readFileSync(join(root, 'packages', 'core', 'src', 'phases.ts'), 'utf8')
  .trimEnd()
  .split('\n').length;
for (const source of ['README.md', 'docs/design.md']) {
  for (const match of readFileSync(join(root, source), 'utf8').matchAll(/phases\.ts\)[,\s(]+(\d+)\s+lines/g)) {
    if (Number(match[1]) !== phases) {
      console.log(`${source}: says phases.ts has ${match[1]} lines; it has ${phases}`);
      failed = true;
    }
  }
}

// 3. Commands in ```sh blocks.
const scripts = Object.keys(JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).scripts);
const pnpmCommands = ['install', 'i', 'add', 'exec', 'pack', 'rebuild', 'approve-builds', 'run'];
const cli = join(root, 'packages', 'cli', 'bin', 'gradcache.js');
let commands = 0;
for (const source of markdown) {
  const text = readFileSync(join(root, source), 'utf8');
  for (const match of text.matchAll(/^```sh\n([\s\S]*?)^```$/gm)) {
    const lines = match[1].replace(/\\\n/g, ' ').split('\n');
    for (const line of lines) {
      for (const part of line.replace(/#.*$/, '').split(/&&|;|\|\||\(|\)/)) {
        // Words as a shell splits them: quoted strings are one word.
        const words = [...part.matchAll(/"([^"]*)"|'([^']*)'|(\S+)/g)].map((m) => m[1] ?? m[2] ?? m[3]);
        const where = `${source}:${lineOf(text, match.index) + 1}: ${part.trim()}`;
        if (words[0] === 'pnpm' && words[1] !== undefined) {
          commands++;
          if (!scripts.includes(words[1]) && !pnpmCommands.includes(words[1])) {
            console.log(`${where}\n  '${words[1]}' is not a script in package.json`);
            failed = true;
          }
          if (words[1] === 'exec' && words[2] === 'gradcache') words.splice(0, 2);
          else continue;
        }
        if (words[0] !== 'gradcache') continue;
        commands++;
        const run = spawnSync(process.execPath, [cli, ...words.slice(1), '--help'], { encoding: 'utf8' });
        if (run.status !== 0) {
          console.log(`${where}\n  does not parse: ${(run.stderr || run.stdout).trim()}`);
          failed = true;
        }
      }
    }
  }
}
console.log(`checked ${commands} commands in the sh blocks`);
if (failed) process.exit(1);
