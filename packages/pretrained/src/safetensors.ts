import { check, PretrainedError } from './errors.js';

/** The element types of the safetensors format, and their sizes in bytes. */
const DTYPE_BYTES = { F64: 8, F32: 4, F16: 2, BF16: 2, I64: 8, I32: 4, I16: 2, I8: 1, U8: 1, BOOL: 1 } as const;

/** A safetensors element type this package reads. */
export type SafetensorsDtype = keyof typeof DTYPE_BYTES;

/** The float types, which load as float32 tensors. */
export const FLOAT_DTYPES: readonly SafetensorsDtype[] = ['F64', 'F32', 'F16', 'BF16'];

/** One tensor of a safetensors file: its raw little-endian bytes, not decoded. */
export interface SafetensorsTensor {
  readonly name: string;
  readonly dtype: SafetensorsDtype;
  readonly shape: readonly number[];
  /** A view into the file's bytes (or a buffer of its own): product(shape) × the dtype's size. */
  readonly bytes: Uint8Array;
}

/** A parsed safetensors file. */
export interface Safetensors {
  /** In file order (by data offset). */
  readonly tensors: readonly SafetensorsTensor[];
  /** The header's `__metadata__` (string → string), if any. */
  readonly metadata: Readonly<Record<string, string>> | undefined;
}

/** The largest header accepted (the safetensors reference implementation's own limit). */
export const MAX_HEADER_BYTES = 100_000_000;

const isLittleEndian = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/**
 * Parses a safetensors file from its bytes: an 8-byte little-endian header length, a JSON header
 * `{ name: { dtype, shape, data_offsets } }` (and `__metadata__`), then the data. Everything is
 * checked before anything is returned — the header length against the file and the 100 MB limit,
 * each dtype, each shape against its byte range, every range inside the data, no overlaps and no
 * holes — and a violation is an INVALID_SAFETENSORS error naming `file` and the tensor. The tensors'
 * bytes are views into `bytes` (no copy).
 *
 * ```ts
 * const { tensors } = parseSafetensors(new Uint8Array(await (await fetch(url)).arrayBuffer()));
 * ```
 */
export function parseSafetensors(bytes: Uint8Array, file = 'model.safetensors'): Safetensors {
  const fail = (why: string) => () => `parseSafetensors: ${file} ${why}; it is not a valid safetensors file (was it truncated?).`;
  check(
    bytes instanceof Uint8Array && bytes.length >= 8,
    'INVALID_SAFETENSORS',
    fail(`has ${bytes?.length ?? 0} bytes, fewer than the 8 of its header length`),
  );
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const low = view.getUint32(0, true);
  const high = view.getUint32(4, true);
  const headerLength = high * 2 ** 32 + low;
  check(
    headerLength <= MAX_HEADER_BYTES,
    'INVALID_SAFETENSORS',
    fail(`declares a header of ${headerLength} bytes, over the ${MAX_HEADER_BYTES}-byte limit`),
  );
  check(
    8 + headerLength <= bytes.length,
    'INVALID_SAFETENSORS',
    fail(`declares a header of ${headerLength} bytes but has only ${bytes.length - 8} after the length`),
  );
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, 8 + headerLength)));
  } catch (error) {
    throw new PretrainedError('INVALID_SAFETENSORS', fail(`has a header that is not UTF-8 JSON (${(error as Error).message})`)());
  }
  check(
    typeof header === 'object' && header !== null && !Array.isArray(header),
    'INVALID_SAFETENSORS',
    fail('has a header that is not a JSON object'),
  );
  const data = bytes.subarray(8 + headerLength);
  let metadata: Record<string, string> | undefined;
  const tensors: SafetensorsTensor[] = [];
  for (const [name, entry] of Object.entries(header as Record<string, unknown>)) {
    if (name === '__metadata__') {
      check(
        typeof entry === 'object' && entry !== null && Object.values(entry).every((v) => typeof v === 'string'),
        'INVALID_SAFETENSORS',
        fail('has a __metadata__ that is not a map of strings'),
      );
      metadata = { ...(entry as Record<string, string>) };
      continue;
    }
    const { dtype, shape, data_offsets: offsets } = (entry ?? {}) as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    check(
      typeof dtype === 'string' && dtype in DTYPE_BYTES,
      'INVALID_SAFETENSORS',
      fail(`gives tensor '${name}' the dtype ${JSON.stringify(dtype)}, not one of ${Object.keys(DTYPE_BYTES).join(', ')}`),
    );
    check(
      Array.isArray(shape) && shape.every((d) => Number.isSafeInteger(d) && d >= 0),
      'INVALID_SAFETENSORS',
      fail(`gives tensor '${name}' the shape ${JSON.stringify(shape)}, not a list of sizes`),
    );
    check(
      Array.isArray(offsets) &&
        offsets.length === 2 &&
        offsets.every((o) => Number.isSafeInteger(o)) &&
        0 <= offsets[0] &&
        offsets[0] <= offsets[1] &&
        offsets[1] <= data.length,
      'INVALID_SAFETENSORS',
      fail(`gives tensor '${name}' the data offsets ${JSON.stringify(offsets)}, outside the ${data.length} bytes of data`),
    );
    const [begin, end] = offsets as [number, number];
    const size = DTYPE_BYTES[dtype as SafetensorsDtype];
    // The element count, stopped as soon as it could not fit the range (no overflow on absurd shapes).
    let count = 1;
    for (const d of shape as number[]) count = Math.min(count * d, Number.MAX_SAFE_INTEGER);
    check(
      count * size === end - begin,
      'INVALID_SAFETENSORS',
      fail(`gives tensor '${name}' the shape [${shape}] of ${dtype} (${count * size} bytes) but ${end - begin} bytes of data`),
    );
    tensors.push({ name, dtype: dtype as SafetensorsDtype, shape: [...(shape as number[])], bytes: data.subarray(begin, end) });
  }
  tensors.sort((a, b) => a.bytes.byteOffset - b.bytes.byteOffset);
  let covered = data.byteOffset;
  for (const t of tensors) {
    check(t.bytes.byteOffset >= covered, 'INVALID_SAFETENSORS', fail(`has tensor '${t.name}' overlapping the tensor before it`));
    check(
      t.bytes.byteOffset === covered,
      'INVALID_SAFETENSORS',
      fail(`has ${t.bytes.byteOffset - covered} unused bytes before tensor '${t.name}'`),
    );
    covered = t.bytes.byteOffset + t.bytes.length;
  }
  check(
    covered === data.byteOffset + data.length,
    'INVALID_SAFETENSORS',
    fail(`has ${data.byteOffset + data.length - covered} bytes of data after its last tensor`),
  );
  return { tensors, metadata };
}

/** A copy of the bytes in a buffer of their own (aligned for a typed array). */
function own(bytes: Uint8Array): ArrayBuffer {
  const copy = new Uint8Array(bytes.length);
  copy.set(bytes);
  return copy.buffer;
}

/** One IEEE half-precision value as a number. */
function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exponent = (h >> 10) & 0x1f;
  const fraction = h & 0x3ff;
  if (exponent === 0) return sign * 2 ** -14 * (fraction / 1024);
  if (exponent === 0x1f) return fraction === 0 ? sign * Number.POSITIVE_INFINITY : Number.NaN;
  return sign * 2 ** (exponent - 15) * (1 + fraction / 1024);
}

/** The nearest half-precision value (ties to even) of a float32, as its 16 bits. */
function floatToHalf(value: number): number {
  const f32 = new Float32Array([value]);
  const bits = new Uint32Array(f32.buffer)[0] as number;
  const sign = (bits >>> 16) & 0x8000;
  const exponent = (bits >>> 23) & 0xff;
  let mantissa = bits & 0x7fffff;
  if (exponent === 0xff) return sign | 0x7c00 | (mantissa !== 0 ? 0x200 : 0); // Inf, NaN
  let e = exponent - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00; // overflow → Inf
  if (e <= 0) {
    if (e < -10) return sign; // underflow → ±0
    mantissa |= 0x800000; // subnormal half: shift in the implicit 1
    const shift = 14 - e;
    const half = mantissa >>> shift;
    const rest = mantissa & ((1 << shift) - 1);
    const midpoint = 1 << (shift - 1);
    return sign | (half + (rest > midpoint || (rest === midpoint && (half & 1) === 1) ? 1 : 0));
  }
  const half = (e << 10) | (mantissa >>> 13);
  const rest = mantissa & 0x1fff;
  const rounded = half + (rest > 0x1000 || (rest === 0x1000 && (half & 1) === 1) ? 1 : 0);
  e = rounded >>> 10;
  return sign | (e >= 0x1f ? 0x7c00 : rounded);
}

/** A float tensor's values as float32 (F32 copied; F16, BF16 and F64 converted). */
export function toFloat32(tensor: SafetensorsTensor): Float32Array {
  check(isLittleEndian, 'INVALID_SAFETENSORS', () => 'toFloat32: safetensors data is little-endian, and this machine is not.');
  switch (tensor.dtype) {
    case 'F32':
      return new Float32Array(own(tensor.bytes));
    case 'F64':
      return Float32Array.from(new Float64Array(own(tensor.bytes)));
    case 'F16':
      return Float32Array.from(new Uint16Array(own(tensor.bytes)), halfToFloat);
    case 'BF16': {
      const halves = new Uint16Array(own(tensor.bytes));
      const bits = new Uint32Array(halves.length);
      for (let k = 0; k < halves.length; k++) bits[k] = (halves[k] as number) << 16;
      return new Float32Array(bits.buffer);
    }
    default:
      throw new Error(`toFloat32: tensor '${tensor.name}' is ${tensor.dtype}, not a float type.`);
  }
}

/** Float32 values in `dtype`'s little-endian bytes (F16 and BF16 rounded to nearest, ties to even). */
export function fromFloat32(values: Float32Array, dtype: SafetensorsDtype): Uint8Array {
  switch (dtype) {
    case 'F32':
      return new Uint8Array(values.buffer.slice(values.byteOffset, values.byteOffset + values.byteLength));
    case 'F64':
      return new Uint8Array(Float64Array.from(values).buffer);
    case 'F16':
      return new Uint8Array(Uint16Array.from(values, floatToHalf).buffer);
    case 'BF16': {
      const bits = new Uint32Array(values.buffer.slice(values.byteOffset, values.byteOffset + values.byteLength));
      const out = new Uint16Array(bits.length);
      for (let k = 0; k < bits.length; k++) {
        const b = bits[k] as number;
        const nan = (b & 0x7f800000) === 0x7f800000 && (b & 0x7fffff) !== 0;
        out[k] = nan ? (b >>> 16) | 0x40 : (b + 0x7fff + ((b >>> 16) & 1)) >>> 16;
      }
      return new Uint8Array(out.buffer);
    }
    default:
      throw new Error(`fromFloat32: ${dtype} is not a float type.`);
  }
}

/**
 * A safetensors file from tensors: names sorted, data contiguous in that order, the header padded
 * with spaces to a multiple of 8 bytes (as the reference writer does).
 */
export function serializeSafetensors(tensors: readonly SafetensorsTensor[], metadata?: Readonly<Record<string, string>>): Uint8Array {
  const sorted = [...tensors].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const header: Record<string, unknown> = metadata === undefined ? {} : { __metadata__: metadata };
  let offset = 0;
  for (const t of sorted) {
    header[t.name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + t.bytes.length] };
    offset += t.bytes.length;
  }
  const json = new TextEncoder().encode(JSON.stringify(header));
  const padded = Math.ceil(json.length / 8) * 8;
  const out = new Uint8Array(8 + padded + offset);
  const view = new DataView(out.buffer);
  view.setUint32(0, padded % 2 ** 32, true);
  view.setUint32(4, Math.floor(padded / 2 ** 32), true);
  out.set(json, 8);
  out.fill(0x20, 8 + json.length, 8 + padded);
  let at = 8 + padded;
  for (const t of sorted) {
    out.set(t.bytes, at);
    at += t.bytes.length;
  }
  return out;
}
