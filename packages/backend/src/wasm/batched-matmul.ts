import * as tf from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';

/**
 * The kernel, in WebAssembly text: c[t] = a[t]·b[t] for every t of a batch of small products, with
 * 128-bit SIMD — a row of c 16 columns at a time (four accumulators of 4), then 4, then 1. Stock
 * tfjs-wasm runs a batched matMul (batch > 1) as a plain C++ loop at ~1.7 GFLOP/s here, against
 * XNNPACK's ~11–18 for one matMul of the same work: attention's [batch·heads, 32, 32] products and
 * their gradients took half of a Transformer step while doing a tenth of its FLOPs.
 */
const SOURCE = `
(module
  (memory (export "memory") 1)
  ;; c[t] = a[t] · b[t] for t < n: a [n, m, k], b [n, k, p], c [n, m, p], float32 row-major at byte
  ;; offsets a, b, c (16-byte aligned). Each row of c is built 16, then 4, then 1 column(s) at a
  ;; time; every output is the sum over kk = 0 … k−1 of a·b in that order, in float32.
  (func (export "bmm") (param $n i32) (param $m i32) (param $k i32) (param $p i32) (param $a i32) (param $b i32) (param $c i32)
    (local $t i32) (local $i i32) (local $j i32) (local $kk i32)
    (local $arow i32) (local $bt i32) (local $bcol i32) (local $crow i32) (local $pb i32) (local $at i32)
    (local $x v128) (local $s0 v128) (local $s1 v128) (local $s2 v128) (local $s3 v128) (local $s f32)
    (local.set $pb (i32.shl (local.get $p) (i32.const 2)))
    (local.set $at (local.get $a))
    (local.set $bt (local.get $b))
    (local.set $crow (local.get $c))
    (block $tDone (loop $tLoop
      (br_if $tDone (i32.ge_u (local.get $t) (local.get $n)))
      (local.set $i (i32.const 0))
      (local.set $arow (local.get $at))
      (block $iDone (loop $iLoop
        (br_if $iDone (i32.ge_u (local.get $i) (local.get $m)))
        (local.set $j (i32.const 0))
        ;; 16 columns at a time
        (block $j16Done (loop $j16Loop
          (br_if $j16Done (i32.gt_u (i32.add (local.get $j) (i32.const 16)) (local.get $p)))
          (local.set $s0 (v128.const f32x4 0 0 0 0))
          (local.set $s1 (v128.const f32x4 0 0 0 0))
          (local.set $s2 (v128.const f32x4 0 0 0 0))
          (local.set $s3 (v128.const f32x4 0 0 0 0))
          (local.set $bcol (i32.add (local.get $bt) (i32.shl (local.get $j) (i32.const 2))))
          (local.set $kk (i32.const 0))
          (block $kDone (loop $kLoop
            (br_if $kDone (i32.ge_u (local.get $kk) (local.get $k)))
            (local.set $x (f32x4.splat (f32.load (i32.add (local.get $arow) (i32.shl (local.get $kk) (i32.const 2))))))
            (local.set $s0 (f32x4.add (local.get $s0) (f32x4.mul (local.get $x) (v128.load (local.get $bcol)))))
            (local.set $s1 (f32x4.add (local.get $s1) (f32x4.mul (local.get $x) (v128.load offset=16 (local.get $bcol)))))
            (local.set $s2 (f32x4.add (local.get $s2) (f32x4.mul (local.get $x) (v128.load offset=32 (local.get $bcol)))))
            (local.set $s3 (f32x4.add (local.get $s3) (f32x4.mul (local.get $x) (v128.load offset=48 (local.get $bcol)))))
            (local.set $bcol (i32.add (local.get $bcol) (local.get $pb)))
            (local.set $kk (i32.add (local.get $kk) (i32.const 1)))
            (br $kLoop)))
          (v128.store (i32.add (local.get $crow) (i32.shl (local.get $j) (i32.const 2))) (local.get $s0))
          (v128.store offset=16 (i32.add (local.get $crow) (i32.shl (local.get $j) (i32.const 2))) (local.get $s1))
          (v128.store offset=32 (i32.add (local.get $crow) (i32.shl (local.get $j) (i32.const 2))) (local.get $s2))
          (v128.store offset=48 (i32.add (local.get $crow) (i32.shl (local.get $j) (i32.const 2))) (local.get $s3))
          (local.set $j (i32.add (local.get $j) (i32.const 16)))
          (br $j16Loop)))
        ;; 4 columns at a time
        (block $j4Done (loop $j4Loop
          (br_if $j4Done (i32.gt_u (i32.add (local.get $j) (i32.const 4)) (local.get $p)))
          (local.set $s0 (v128.const f32x4 0 0 0 0))
          (local.set $bcol (i32.add (local.get $bt) (i32.shl (local.get $j) (i32.const 2))))
          (local.set $kk (i32.const 0))
          (block $kDone (loop $kLoop
            (br_if $kDone (i32.ge_u (local.get $kk) (local.get $k)))
            (local.set $s0 (f32x4.add (local.get $s0)
              (f32x4.mul (f32x4.splat (f32.load (i32.add (local.get $arow) (i32.shl (local.get $kk) (i32.const 2)))))
                         (v128.load (local.get $bcol)))))
            (local.set $bcol (i32.add (local.get $bcol) (local.get $pb)))
            (local.set $kk (i32.add (local.get $kk) (i32.const 1)))
            (br $kLoop)))
          (v128.store (i32.add (local.get $crow) (i32.shl (local.get $j) (i32.const 2))) (local.get $s0))
          (local.set $j (i32.add (local.get $j) (i32.const 4)))
          (br $j4Loop)))
        ;; the last columns one at a time
        (block $j1Done (loop $j1Loop
          (br_if $j1Done (i32.ge_u (local.get $j) (local.get $p)))
          (local.set $s (f32.const 0))
          (local.set $bcol (i32.add (local.get $bt) (i32.shl (local.get $j) (i32.const 2))))
          (local.set $kk (i32.const 0))
          (block $kDone (loop $kLoop
            (br_if $kDone (i32.ge_u (local.get $kk) (local.get $k)))
            (local.set $s (f32.add (local.get $s)
              (f32.mul (f32.load (i32.add (local.get $arow) (i32.shl (local.get $kk) (i32.const 2)))) (f32.load (local.get $bcol)))))
            (local.set $bcol (i32.add (local.get $bcol) (local.get $pb)))
            (local.set $kk (i32.add (local.get $kk) (i32.const 1)))
            (br $kLoop)))
          (f32.store (i32.add (local.get $crow) (i32.shl (local.get $j) (i32.const 2))) (local.get $s))
          (local.set $j (i32.add (local.get $j) (i32.const 1)))
          (br $j1Loop)))
        (local.set $arow (i32.add (local.get $arow) (i32.shl (local.get $k) (i32.const 2))))
        (local.set $crow (i32.add (local.get $crow) (local.get $pb)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $iLoop)))
      (local.set $at (local.get $arow))
      (local.set $bt (i32.add (local.get $bt) (i32.mul (local.get $k) (local.get $pb))))
      (local.set $t (i32.add (local.get $t) (i32.const 1)))
      (br $tLoop)))))
`;

/** Floats of scratch (a, b and c of the products run at once) a call keeps in its own memory at most, beyond one product. */
const SCRATCH_FLOATS = 4 * 2 ** 20;

interface Kernel {
  memory: { buffer: ArrayBuffer; grow(pages: number): number };
  bmm: (n: number, m: number, k: number, p: number, a: number, b: number, c: number) => void;
}

/** The part of the WebAssembly API used here (the packages compile without the DOM library). */
interface WasmApi {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object) => { exports: unknown };
}

/** Assembles WebAssembly text into a module's bytes (`@gradcache/backend/node` passes wabt's). */
export type AssembleWasm = (source: string, name: string) => Promise<Uint8Array>;

let kernel: Kernel | undefined;

/**
 * Assembles the kernel with `assemble` (no binary is shipped) and instantiates it; once loaded, later
 * calls do nothing. Resolves to why it could not — no assembler here (the browser entry), or its
 * error — in which case the batched matMul stays stock; undefined once loaded.
 */
export async function loadBatchedMatMul(assemble: AssembleWasm | undefined): Promise<string | undefined> {
  if (kernel !== undefined) return undefined;
  if (assemble === undefined) return 'no WebAssembly assembler in this entry (the batched kernel loads in Node): stock kernel kept';
  try {
    const api = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;
    kernel = new api.Instance(new api.Module(await assemble(SOURCE, 'batched-matmul.wat'))).exports as Kernel;
    return undefined;
  } catch (error) {
    return `the batched matMul kernel did not load (${error instanceof Error ? error.message : String(error)}): stock kernel kept`;
  }
}

/** Whether `a`·`b` (no transposes) is a batch of products the kernel runs: same batch dims, more than one product, float32. */
export function isBatchedProduct(a: tf.TensorInfo, b: tf.TensorInfo): boolean {
  if (kernel === undefined || a.dtype !== 'float32' || b.dtype !== 'float32') return false;
  const rank = a.shape.length;
  if (rank < 3 || b.shape.length !== rank) return false;
  for (let d = 0; d < rank - 2; d++) if (a.shape[d] !== b.shape[d]) return false;
  return tf.util.sizeFromShape(a.shape.slice(0, -2)) > 1;
}

/**
 * `a`·`b` for a batch of products (`isBatchedProduct`): the operands copied into the kernel's
 * memory a group of products at a time, the result copied into a new tensor on the wasm heap
 * (owned by the caller, as any kernel's output).
 */
export function batchedMatMul(backend: BackendWasm, a: tf.TensorInfo, b: tf.TensorInfo): tf.TensorInfo {
  const { memory, bmm } = kernel as Kernel;
  const rank = a.shape.length;
  const [m, k, p] = [a.shape[rank - 2] as number, a.shape[rank - 1] as number, b.shape[rank - 1] as number];
  const n = tf.util.sizeFromShape(a.shape.slice(0, -2));
  const out = backend.makeOutput([...a.shape.slice(0, -2), m, p], 'float32');
  if (n * m * p === 0) return out;
  const [sa, sb, sc] = [m * k, k * p, m * p];
  const group = Math.max(1, Math.min(n, Math.floor(SCRATCH_FLOATS / (sa + sb + sc))));
  const align = (floats: number): number => Math.ceil(floats / 4) * 4;
  const [aAt, bAt, cAt] = [0, align(group * sa), align(group * sa) + align(group * sb)];
  const bytes = (cAt + group * sc) * 4;
  if (memory.buffer.byteLength < bytes) memory.grow(Math.ceil((bytes - memory.buffer.byteLength) / 65536));
  // Views after the allocation (a growing heap detaches older views), and again after a grow.
  const [av, bv, cv] = [backend.typedArrayFromHeap(a), backend.typedArrayFromHeap(b), backend.typedArrayFromHeap(out)] as Float32Array[];
  const heap = new Float32Array(memory.buffer);
  for (let t = 0; t < n; t += group) {
    const g = Math.min(group, n - t);
    heap.set((av as Float32Array).subarray(t * sa, (t + g) * sa), aAt);
    heap.set((bv as Float32Array).subarray(t * sb, (t + g) * sb), bAt);
    bmm(g, m, k, p, aAt * 4, bAt * 4, cAt * 4);
    (cv as Float32Array).set(heap.subarray(cAt, cAt + g * sc), t * sc);
  }
  return out;
}
