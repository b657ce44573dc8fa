#!/usr/bin/env node
// The `gradcache` command. A plain file in the package (not build output), so that a workspace
// install links it before `pnpm build` has made dist/.
import { existsSync } from 'node:fs';

const entry = new URL('../dist/index.js', import.meta.url);
if (!existsSync(entry)) {
  process.stderr.write(
    'gradcache: this copy of the CLI is not built (no dist/): run `pnpm build` in the repository first ' +
      '(or use the published package).\n',
  );
  process.exit(1);
}
const { main } = await import(entry.href);
process.exitCode = await main(process.argv.slice(2));
