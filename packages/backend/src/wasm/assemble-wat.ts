import type { AssembleWasm } from './batched-matmul.js';

/** wabt's factory: an ES import of its CommonJS module gives it as `default`. */
type WabtFactory = typeof import('wabt');

/**
 * WebAssembly text → a module's bytes, with wabt (the WebAssembly Binary Toolkit, compiled to
 * wasm: no native tool, nothing downloaded). Node-only: wabt's loader reads its files with `fs`.
 */
export const assembleWat: AssembleWasm = async (source, name) => {
  const imported = (await import('wabt')) as unknown as WabtFactory | { default: WabtFactory };
  const wabt = await (typeof imported === 'function' ? imported : imported.default)();
  const parsed = wabt.parseWat(name, source, { simd: true });
  try {
    parsed.validate();
    return parsed.toBinary({}).buffer;
  } finally {
    parsed.destroy();
  }
};
