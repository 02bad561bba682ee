// IEEE 754 half precision on the CPU, for tensors whose GPU storage is f16 (two halves per
// 32-bit word, element 2i in the low 16 bits, as WGSL's unpack2x16float reads them).

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** The binary16 bits of x, rounded to nearest even; overflow gives ±Infinity, NaN stays NaN. */
export function f16Bits(x: number): number {
  f32[0] = x;
  const bits = u32[0];
  const sign = (bits >>> 16) & 0x8000;
  const exp = (bits >>> 23) & 0xff;
  const mant = bits & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0); // Inf or NaN
  const e = exp - 127 + 15; // the half's biased exponent
  if (e >= 0x1f) return sign | 0x7c00; // too large: Inf
  if (e <= 0) {
    // A subnormal half (or zero): the mantissa with its implicit 1, shifted right by 14 − e, rounded.
    if (e < -10) return sign;
    const m = mant | 0x800000;
    const shift = 14 - e;
    const half = 1 << (shift - 1);
    const rest = m & ((1 << shift) - 1);
    let h = m >>> shift;
    if (rest > half || (rest === half && (h & 1))) h += 1;
    return sign | h;
  }
  let h = (e << 10) | (mant >>> 13);
  const rest = mant & 0x1fff;
  if (rest > 0x1000 || (rest === 0x1000 && (h & 1))) h += 1; // a carry into the exponent is right, up to Inf
  return sign | h;
}

/** The number a binary16 bit pattern holds. */
export function f16Value(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >>> 10) & 0x1f;
  const mant = h & 0x3ff;
  if (exp === 0) return sign * mant * 2 ** -24;
  if (exp === 0x1f) return mant ? NaN : sign * Infinity;
  return sign * (1 + mant / 1024) * 2 ** (exp - 15);
}

/** x rounded to the nearest half (what storing it as f16 keeps). */
export const roundToF16 = (x: number): number => f16Value(f16Bits(x));

/** values as packed halves: n values in ceil(n / 2) words (a last odd value's high half is 0). */
export function packF16(values: ArrayLike<number>): Uint32Array {
  const out = new Uint32Array(Math.ceil(values.length / 2));
  for (let i = 0; i < values.length; i += 2) {
    out[i >> 1] = f16Bits(values[i]) | (i + 1 < values.length ? f16Bits(values[i + 1]) << 16 : 0);
  }
  return out;
}

/** The first n values of packed halves. */
export function unpackF16(words: Uint32Array, n = words.length * 2): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = f16Value((words[i >> 1] >>> ((i & 1) * 16)) & 0xffff);
  return out;
}
