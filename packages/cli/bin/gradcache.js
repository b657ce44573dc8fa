#!/usr/bin/env node
// The `gradcache` command. A plain file in the package (not build output), so that a workspace
// install links it before `pnpm build` has made dist/.
import { main } from '../dist/index.js';

process.exitCode = await main(process.argv.slice(2));
