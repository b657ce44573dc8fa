import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { fcParameters } from '@gradcache/testing';
import { PretrainedError } from './errors.js';
import { fromFloat32, parseSafetensors, type SafetensorsTensor, serializeSafetensors, toFloat32 } from './safetensors.js';

const f32 = (values: number[]) => new Uint8Array(new Float32Array(values).buffer);
const tensors = (): SafetensorsTensor[] => [
  { name: 'b', dtype: 'F32', shape: [2, 2], bytes: f32([1, 2, 3, 4]) },
  { name: 'a', dtype: 'F16', shape: [3], bytes: fromFloat32(new Float32Array([0.5, -2, 65504]), 'F16') },
  { name: 'ids', dtype: 'I64', shape: [1, 2], bytes: new Uint8Array(16).fill(1) },
];

/** Builds a file from a header object and a data length, for the hostile cases. */
function file(header: unknown, dataBytes: number, declared?: number): Uint8Array {
  const json = new TextEncoder().encode(JSON.stringify(header));
  const out = new Uint8Array(8 + json.length + dataBytes);
  new DataView(out.buffer).setUint32(0, declared ?? json.length, true);
  out.set(json, 8);
  return out;
}

function code(f: () => unknown): string {
  try {
    f();
  } catch (error) {
    expect(error).toBeInstanceOf(PretrainedError);
    return `${(error as PretrainedError).code}: ${(error as Error).message}`;
  }
  throw new Error('expected a PretrainedError');
}

describe('safetensors', () => {
  test('serialize → parse gives back every tensor: names sorted, header padded to 8 bytes, data contiguous', () => {
    const bytes = serializeSafetensors(tensors(), { format: 'pt' });
    const headerLength = new DataView(bytes.buffer).getUint32(0, true);
    expect(headerLength % 8).toBe(0);
    const parsed = parseSafetensors(bytes);
    expect(parsed.metadata).toEqual({ format: 'pt' });
    expect(parsed.tensors.map((t) => t.name)).toEqual(['a', 'b', 'ids']);
    for (const t of tensors()) {
      const back = parsed.tensors.find((p) => p.name === t.name) as SafetensorsTensor;
      expect([back.dtype, back.shape]).toEqual([t.dtype, t.shape]);
      expect(Array.from(back.bytes)).toEqual(Array.from(t.bytes));
    }
    expect(Array.from(toFloat32(parsed.tensors[1] as SafetensorsTensor))).toEqual([1, 2, 3, 4]);
  });

  test('F16 and BF16: hand-checked bit patterns, round to nearest even, and exact round trips of representable values', () => {
    const half = (v: number) => new Uint16Array(fromFloat32(new Float32Array([v]), 'F16').buffer)[0];
    expect([half(1), half(-2), half(0.5), half(65504), half(2 ** -24), half(1e6), half(0)]).toEqual([
      0x3c00, 0xc000, 0x3800, 0x7bff, 0x0001, 0x7c00, 0,
    ]);
    // 1 + 2⁻¹¹ lies halfway between 1 and 1 + 2⁻¹⁰: ties go to the even mantissa (1).
    expect(half(1 + 2 ** -11)).toBe(0x3c00);
    expect(half(1 + 3 * 2 ** -11)).toBe(0x3c02);
    const bf = (v: number) => new Uint16Array(fromFloat32(new Float32Array([v]), 'BF16').buffer)[0];
    expect([bf(1), bf(-2), bf(1 + 2 ** -8)]).toEqual([0x3f80, 0xc000, 0x3f80]);
    fc.assert(
      fc.property(fc.float({ noNaN: true, noDefaultInfinity: true }), (x) => {
        for (const dtype of ['F16', 'BF16'] as const) {
          const once = toFloat32({ name: 'x', dtype, shape: [1], bytes: fromFloat32(new Float32Array([x]), dtype) });
          const twice = toFloat32({ name: 'x', dtype, shape: [1], bytes: fromFloat32(once, dtype) });
          if (!Object.is(once[0], twice[0])) return false; // a value the type holds survives unchanged
        }
        return true;
      }),
      fcParameters(500),
    );
  });

  test.each([
    ['fewer than 8 bytes', () => new Uint8Array(4), /fewer than the 8/],
    ['a header length past the file', () => file({}, 0, 1000), /declares a header of 1000 bytes but has only/],
    ['a header of 100 MB and more', () => file({}, 0, 200_000_000), /over the 100000000-byte limit/],
    ['a header that is not JSON', () => new Uint8Array([4, 0, 0, 0, 0, 0, 0, 0, 123, 120, 120, 120]), /not UTF-8 JSON/],
    ['an unknown dtype', () => file({ x: { dtype: 'Q8', shape: [1], data_offsets: [0, 1] } }, 1), /dtype "Q8"/],
    ['offsets outside the data', () => file({ x: { dtype: 'F32', shape: [4], data_offsets: [0, 16] } }, 8), /outside the 8 bytes of data/],
    [
      'a shape that does not match its bytes',
      () => file({ x: { dtype: 'F32', shape: [3], data_offsets: [0, 8] } }, 8),
      /shape \[3\] of F32 \(12 bytes\) but 8 bytes/,
    ],
    ['an absurd shape', () => file({ x: { dtype: 'F32', shape: [2 ** 40, 2 ** 40], data_offsets: [0, 8] } }, 8), /but 8 bytes/],
    [
      'overlapping tensors',
      () => file({ x: { dtype: 'F32', shape: [2], data_offsets: [0, 8] }, y: { dtype: 'F32', shape: [2], data_offsets: [4, 12] } }, 12),
      /overlapping/,
    ],
    ['a hole in the data', () => file({ x: { dtype: 'F32', shape: [1], data_offsets: [4, 8] } }, 8), /4 unused bytes before tensor 'x'/],
    [
      'bytes after the last tensor',
      () => file({ x: { dtype: 'F32', shape: [1], data_offsets: [0, 4] } }, 8),
      /4 bytes of data after its last tensor/,
    ],
    ['a metadata value that is not a string', () => file({ __metadata__: { a: 1 } }, 0), /__metadata__ that is not a map of strings/],
  ])('refuses %s with INVALID_SAFETENSORS naming the file', (_, make, message) => {
    expect(code(() => parseSafetensors(make(), 'x.safetensors'))).toMatch(/^INVALID_SAFETENSORS: parseSafetensors: x\.safetensors /);
    expect(code(() => parseSafetensors(make(), 'x.safetensors'))).toMatch(message);
  });

  test('every single-byte change to a valid file is refused or parses to a consistent file — never a crash', () => {
    const good = serializeSafetensors(tensors(), { format: 'pt' });
    const reference = parseSafetensors(good);
    const dataStart = 8 + new DataView(good.buffer).getUint32(0, true);
    // Every dtype of the safetensors format, as its spec sizes them: a changed byte can turn one into
    // another (F16 → I16 was found at run 1,330 of one CI run).
    const sizes: Record<string, number> = { F64: 8, F32: 4, F16: 2, BF16: 2, I64: 8, I32: 4, I16: 2, I8: 1, U8: 1, BOOL: 1 };
    let refused = 0;
    fc.assert(
      fc.property(fc.integer({ min: 0, max: good.length - 1 }), fc.integer({ min: 0, max: 255 }), (at, value) => {
        const bytes = good.slice();
        bytes[at] = value;
        let parsed: ReturnType<typeof parseSafetensors>;
        try {
          parsed = parseSafetensors(bytes);
        } catch (error) {
          if (!(error instanceof PretrainedError)) throw error;
          refused++;
          return;
        }
        // Accepted: every tensor's bytes are its shape's, inside the file, one after the other.
        let end = dataStart;
        for (const t of parsed.tensors) {
          expect(sizes[t.dtype], t.dtype).toBeDefined();
          expect(t.bytes.length).toBe(t.shape.reduce((a, b) => a * b, 1) * (sizes[t.dtype] as number));
          expect(t.bytes.byteOffset).toBe(end);
          end += t.bytes.length;
        }
        expect(end).toBe(bytes.length);
        // A change in the data region leaves the header's meaning alone.
        if (at >= dataStart)
          expect(parsed.tensors.map((t) => [t.name, t.dtype, t.shape])).toEqual(reference.tensors.map((t) => [t.name, t.dtype, t.shape]));
      }),
      fcParameters(2000),
    );
    expect(refused).toBeGreaterThan(0);
  });
});
