// Type-checks every ```ts block of the README, docs/ and the package READMEs as its own module,
// under the repo's strict settings (noUncheckedIndexedAccess included), so the examples cannot drift
// from the code. Blocks are written to test/.doc-examples/ (git-ignored), where the workspace's
// packages resolve.
import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';

const root = resolve(import.meta.dirname, '..');
const out = join(root, 'test', '.doc-examples');
const sources = [
  'README.md',
  ...readdirSync(join(root, 'docs'))
    .filter((f) => f.endsWith('.md'))
    .map((f) => `docs/${f}`),
  ...readdirSync(join(root, 'packages')).map((p) => `packages/${p}/README.md`),
].filter((f) => {
  try {
    readFileSync(join(root, f));
    return true;
  } catch {
    return false;
  }
});

rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });
const files = [];
for (const source of sources) {
  const text = readFileSync(join(root, source), 'utf8');
  let k = 0;
  for (const match of text.matchAll(/^```ts\n([\s\S]*?)^```$/gm)) {
    const line = text.slice(0, match.index).split('\n').length;
    const file = `${source.replace(/[/.]/g, '_')}_${++k}.ts`;
    writeFileSync(join(out, file), `// ${source}:${line}\n${match[1]}export {};\n`);
    files.push(file);
  }
}
writeFileSync(
  join(out, 'tsconfig.json'),
  JSON.stringify({
    extends: '../../tsconfig.base.json',
    compilerOptions: { noEmit: true, composite: false, declaration: false, declarationMap: false, sourceMap: false, noUnusedLocals: false },
    include: ['*.ts'],
  }),
);
console.log(`type-checking ${files.length} examples from ${sources.map((s) => relative(root, join(root, s))).join(', ')}`);
try {
  execFileSync(join(root, 'node_modules', '.bin', 'tsc'), ['-p', join(out, 'tsconfig.json')], { stdio: 'inherit' });
} catch {
  console.log('doc examples do not type-check (each file starts with the source and line it came from)');
  process.exit(1);
}
