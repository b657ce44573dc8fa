type Listener = (...args: unknown[]) => void;
interface ProcessLike {
  listeners(event: string): Listener[];
  removeListener(event: string, listener: Listener): unknown;
}

const EVENTS = ['uncaughtException', 'unhandledRejection'] as const;

/** Node's process, where there is one (a browser has none). */
function nodeProcess(): ProcessLike | undefined {
  const p = (globalThis as { process?: Partial<ProcessLike> }).process;
  return typeof p?.listeners === 'function' && typeof p.removeListener === 'function' ? (p as ProcessLike) : undefined;
}

/** The process's handlers of uncaught errors and rejections now ([] outside Node). */
export function processHandlers(): Map<string, Listener[]> {
  const p = nodeProcess();
  return new Map(EVENTS.map((e) => [e, p === undefined ? [] : [...p.listeners(e)]]));
}

/**
 * Removes the handlers of uncaught errors that appeared since `before` — the wasm runtime's
 * (emscripten's `process.on('uncaughtException', e => { throw e })` and its rejection twin). They
 * rethrow every uncaught error from inside tfjs-wasm's minified glue, so Node prints that glue's
 * 36,592-character source line before the message and exits with code 7. Without them Node prints
 * the error's own message and stack and exits with code 1. Returns how many were removed.
 */
export function removeWasmProcessHandlers(before: Map<string, Listener[]>): number {
  const p = nodeProcess();
  if (p === undefined) return 0;
  let removed = 0;
  for (const e of EVENTS) {
    const old = new Set(before.get(e) ?? []);
    for (const listener of p.listeners(e)) {
      if (old.has(listener)) continue;
      p.removeListener(e, listener);
      removed++;
    }
  }
  return removed;
}
