import { check } from './errors.js';

/** An IDX array (the MNIST / Fashion-MNIST file format). */
export interface IdxArray {
  shape: number[];
  data: Uint8Array | Int8Array | Int16Array | Int32Array | Float32Array | Float64Array;
}

const TYPES: Record<number, { bytes: number; make: (n: number) => IdxArray['data']; read: (v: DataView, at: number) => number }> = {
  8: { bytes: 1, make: (n) => new Uint8Array(n), read: (v, at) => v.getUint8(at) },
  9: { bytes: 1, make: (n) => new Int8Array(n), read: (v, at) => v.getInt8(at) },
  11: { bytes: 2, make: (n) => new Int16Array(n), read: (v, at) => v.getInt16(at) },
  12: { bytes: 4, make: (n) => new Int32Array(n), read: (v, at) => v.getInt32(at) },
  13: { bytes: 4, make: (n) => new Float32Array(n), read: (v, at) => v.getFloat32(at) },
  14: { bytes: 8, make: (n) => new Float64Array(n), read: (v, at) => v.getFloat64(at) },
};

/**
 * Parses an uncompressed IDX file (magic `00 00 type dims`, big-endian sizes and values). Gzipped
 * files: `readIdx` from `@gradcache/data/node` decompresses them first.
 */
export function parseIdx(input: Uint8Array | ArrayBuffer, file = 'IDX data'): IdxArray {
  check(
    input instanceof Uint8Array || input instanceof ArrayBuffer,
    'INVALID_FILE',
    () => `parseIdx: ${file} must be a Uint8Array or an ArrayBuffer of the file's bytes, got ${String(input)}.`,
  );
  const bytes = input instanceof Uint8Array ? input : new Uint8Array(input);
  check(
    !(bytes[0] === 0x1f && bytes[1] === 0x8b),
    'INVALID_FILE',
    () => `parseIdx: ${file} is gzip-compressed; decompress it first, or read it with readIdx from '@gradcache/data/node'.`,
  );
  const type = TYPES[bytes[2] ?? -1];
  const dims = bytes[3] ?? 0;
  check(
    bytes.length >= 4 + 4 * dims && bytes[0] === 0 && bytes[1] === 0 && type !== undefined && dims > 0,
    'INVALID_FILE',
    () =>
      `parseIdx: ${file} does not start with an IDX header (00 00 <type> <dims>): got ${Array.from(bytes.subarray(0, 4), (b) => b.toString(16).padStart(2, '0')).join(' ')}.`,
  );
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const shape = Array.from({ length: dims }, (_, d) => view.getUint32(4 + 4 * d));
  const size = shape.reduce((a, b) => a * b, 1);
  const start = 4 + 4 * dims;
  check(
    bytes.length === start + size * type.bytes,
    'INVALID_FILE',
    () =>
      `parseIdx: ${file} has ${bytes.length - start} data bytes but its header [${shape.join(', ')}] needs ${size * type.bytes}; the file is truncated or corrupt.`,
  );
  if (type.bytes === 1) {
    // Bytes need no endianness: one copy (60,000 MNIST images are 47 M values).
    const raw = bytes.slice(start, start + size);
    return { shape, data: bytes[2] === 0x08 ? raw : new Int8Array(raw.buffer) };
  }
  const data = type.make(size);
  for (let i = 0; i < size; i++) data[i] = type.read(view, start + i * type.bytes);
  return { shape, data };
}
