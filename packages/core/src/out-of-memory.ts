/**
 * Whether `error` says a backend ran out of memory — a step that can be retried with smaller chunks
 * (every step frees what it allocated and changes nothing when it throws): the wasm heap guard's
 * `WASM_HEAP_LIMIT`, WebGPU's and tfjs-node's out-of-memory errors.
 */
export function isOutOfMemory(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  if ((error as { code?: unknown }).code === 'WASM_HEAP_LIMIT') return true;
  return /out of memory|OOM when allocating|RESOURCE_EXHAUSTED|failed to allocate/i.test(error.message);
}
