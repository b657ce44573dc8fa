import { createRequire } from 'node:module';
import { UsageError } from './args.js';
import { BENCH_HELP, benchModel } from './commands/bench.js';
import { ENCODE_HELP, encode } from './commands/encode.js';
import { EVAL_HELP, evaluate } from './commands/eval.js';
import { SEARCH_HELP, search } from './commands/search.js';
import { TRAIN_HELP, train } from './commands/train.js';
import { VERIFY_HELP, verifyModel } from './commands/verify.js';

export { UsageError } from './args.js';

const HELP = `gradcache — exact large-batch contrastive learning on one device

Usage: gradcache <command> [options]

Commands:
  train    fine-tune a model on your pairs, or train the WordNet demo (gradcache train --help)
  eval     retrieval quality of a model on held-out pairs (gradcache eval --help)
  encode   embed texts with a model (gradcache encode --help)
  search   the texts of a corpus closest to a query (gradcache search --help)
  verify   check the cached gradient against the full batch on a saved model (gradcache verify --help)
  bench    time and memory of full batch / GradCache / accumulation on a saved model (gradcache bench --help)

  --version, -v   the version
  --verbose       on an error, print its stack too
`;

/** Every command's help text, by name. */
export const HELPS = {
  train: TRAIN_HELP,
  eval: EVAL_HELP,
  encode: ENCODE_HELP,
  search: SEARCH_HELP,
  verify: VERIFY_HELP,
  bench: BENCH_HELP,
} as const;

/** The version of this package. */
export function version(): string {
  return (createRequire(import.meta.url)('../package.json') as { version: string }).version;
}

/** A typed error of any @gradcache package: a name, a `code` and a message meant for a person. */
function isTypedError(error: unknown): error is Error & { code: string } {
  return error instanceof Error && typeof (error as { code?: unknown }).code === 'string' && /Error$/.test(error.name);
}

/**
 * Runs the gradcache command line; returns the exit code: 0, 1 (verify failed, or an error —
 * printed as `gradcache: CODE: message` for a package's typed error, `gradcache: message`
 * otherwise, the stack only with --verbose), 2 (a bad command line, printed as one line), 130
 * (train stopped by Ctrl-C or SIGTERM, its checkpoint saved).
 */
export async function main(argv: string[], out: (line: string) => void = (l) => process.stdout.write(`${l}\n`)): Promise<number> {
  const verbose = argv.includes('--verbose');
  const [command, ...rest] = argv.filter((a) => a !== '--verbose');
  try {
    if (command === 'train') return await train(rest, out);
    if (command === 'eval') await evaluate(rest, out);
    else if (command === 'encode') await encode(rest, out);
    else if (command === 'search') await search(rest, out);
    else if (command === 'verify') return await verifyModel(rest, out);
    else if (command === 'bench') await benchModel(rest, out);
    else if (command === '--version' || command === '-v') out(version());
    else if (command === undefined || command === '--help' || command === '-h' || command === 'help') out(HELP);
    else throw new UsageError(`unknown command '${command}'. See gradcache --help.`);
    return 0;
  } catch (error) {
    if (error instanceof UsageError) {
      process.stderr.write(`gradcache: ${error.message}\n`);
      return 2;
    }
    const e = error instanceof Error ? error : new Error(String(error));
    const line = isTypedError(e) ? `${e.code}: ${e.message}` : e.message;
    process.stderr.write(`gradcache: ${line}\n${verbose ? `${e.stack ?? ''}\n` : ''}`);
    return 1;
  }
}
