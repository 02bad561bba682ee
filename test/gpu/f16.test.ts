// Half-precision storage (src/gpu/f16.ts, f16 tensors in src/gpu/tensor.ts): the CPU conversion
// against known binary16 bit patterns and round-to-nearest-even, and an f16 tensor's round trip
// through a GPU buffer (two halves per word, half the bytes of f32).
import { describe, expect, it } from 'vitest';
import { f16Bits, f16Value, packF16, roundToF16, unpackF16 } from '../../src/gpu/f16.js';
import { createTensor, gpuMemory, readTensor, writeTensor } from '../../src/gpu/tensor.js';
import { gpu } from '../helpers.js';

describe('f16 conversion', () => {
  it('gives the binary16 bit patterns of known values', () => {
    const cases: Array<[number, number]> = [
      [0, 0x0000],
      [-0, 0x8000],
      [1, 0x3c00],
      [-2, 0xc000],
      [0.5, 0x3800],
      [65504, 0x7bff], // the largest half
      [65520, 0x7c00], // rounds past it: Infinity
      [Infinity, 0x7c00],
      [-Infinity, 0xfc00],
      [2 ** -14, 0x0400], // the smallest normal
      [2 ** -24, 0x0001], // the smallest subnormal
      [2 ** -26, 0x0000], // below half of it: zero
      [1 / 3, 0x3555],
    ];
    for (const [x, bits] of cases) expect(f16Bits(x), `f16 bits of ${x}`).toBe(bits);
    expect(Number.isNaN(f16Value(f16Bits(NaN)))).toBe(true);
  });

  it('rounds to nearest, ties to even, and round-trips every half exactly', () => {
    // 1 + 2^-11 lies halfway between 1 and 1 + 2^-10: ties go to the even mantissa (1).
    expect(roundToF16(1 + 2 ** -11)).toBe(1);
    expect(roundToF16(1 + 3 * 2 ** -11)).toBe(1 + 2 * 2 ** -10);
    expect(roundToF16(1 + 2 ** -11 + 2 ** -20)).toBe(1 + 2 ** -10);
    // Halfway between the two smallest subnormals: to even (2^-24 · 2).
    expect(roundToF16(3 * 2 ** -25)).toBe(2 * 2 ** -24);
    for (let h = 0; h < 0x10000; h++) {
      if (((h >> 10) & 0x1f) === 0x1f && h & 0x3ff) continue; // NaNs
      expect(f16Bits(f16Value(h))).toBe(h);
    }
  });

  it('keeps relative error within 2^-11 over the normal range', () => {
    let worst = 0;
    for (let i = 0; i < 10000; i++) {
      const u = Math.abs((Math.sin(i * 12.9898) * 43758.5453) % 1); // in [0, 1)
      const x = (i % 2 ? -1 : 1) * (1 + u) * 2 ** ((i % 29) - 14); // normal halves: 2^-14 .. 2^15
      worst = Math.max(worst, Math.abs(roundToF16(x) - x) / Math.abs(x));
    }
    expect(worst).toBeLessThanOrEqual(2 ** -11);
    expect(worst).toBeGreaterThan(2 ** -13);
  });

  it('packs element 2i into the low half of word i', () => {
    const words = packF16([1, -2, 0.5]);
    expect([...words]).toEqual([(0x3c00 | (0xc000 << 16)) >>> 0, 0x3800]);
    expect([...unpackF16(words, 3)]).toEqual([1, -2, 0.5]);
  });
});

describe('f16 tensors', () => {
  it('store two elements a word and read back as the rounded values', async () => {
    const ctx = await gpu();
    const values = Float32Array.from({ length: 7 }, (_, i) => (i - 3) / 7);
    const before = gpuMemory(ctx).current;
    const t = createTensor(ctx, [7], 'f16', values, 'halves');
    expect(gpuMemory(ctx).current - before, '7 halves in 4 words').toBe(16);
    expect(t.byteLength).toBe(16);
    expect([...(await readTensor(ctx, t))]).toEqual([...values].map((v) => Math.fround(roundToF16(v))));
    writeTensor(ctx, t, [4, 5], 2);
    expect([...(await readTensor(ctx, t, 2, 3))]).toEqual([4, 5, Math.fround(roundToF16(values[4]))]);
    expect(() => writeTensor(ctx, t, [1], 1)).toThrow(/whole 32-bit words/);
    expect(() => t.view(1, [2])).toThrow(/odd element/);
    expect(t.view(2, [4]).byteOffset).toBe(4);
    t.destroy();
  });
});
