// Packs each published package as `pnpm publish` would (catalog: and workspace: ranges replaced)
// and checks the tarball, not the source tree: publint (package.json fields, files, exports) and
// arethetypeswrong (the exported types resolve under Node 16 ESM and bundlers, without the repo's
// @gradcache/source condition). Run after `pnpm build`.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const root = resolve(import.meta.dirname, '..');
// Every published package: the folders of packages/ whose package.json is not private.
const packages = readdirSync(join(root, 'packages')).filter(
  (name) => JSON.parse(readFileSync(join(root, 'packages', name, 'package.json'), 'utf8')).private !== true,
);
const out = mkdtempSync(join(tmpdir(), 'gradcache-pack-'));
const bin = (name) => join(root, 'node_modules', '.bin', name);
let failed = 0;
try {
  for (const name of packages) {
    const before = new Set(readdirSync(out));
    execFileSync('pnpm', ['pack', '--pack-destination', out], { cwd: join(root, 'packages', name), stdio: 'pipe' });
    const tarball = join(
      out,
      readdirSync(out).find((f) => !before.has(f)),
    );
    for (const [tool, args] of [
      ['publint', ['run', tarball, '--strict']],
      ['attw', [tarball, '--profile', 'esm-only', '--format', 'table-flipped']],
    ]) {
      try {
        execFileSync(bin(tool), args, { stdio: 'pipe', encoding: 'utf8' });
        console.log(`ok   ${tool} @gradcache/${name}`);
      } catch (error) {
        failed++;
        console.log(`FAIL ${tool} @gradcache/${name}\n${error.stdout ?? ''}${error.stderr ?? ''}`);
      }
    }
  }
} finally {
  rmSync(out, { recursive: true, force: true });
}
if (failed > 0) {
  console.log(`${failed} package check(s) failed`);
  process.exit(1);
}
