// NF4, bitsandbytes' 4-bit NormalFloat as QLoRA uses it (blocksize 64, an fp32 absmax per block,
// no double quantization), on the CPU: the quantizer that makes the GPU words of an 'nf4' tensor,
// and the dequantizer that gives the values the GPU reader (shaders/weights/nf4.wgsl) computes.
//
// Quantization: the tensor is flattened row-major and cut into blocks of 64 values (the last one
// may be shorter). For a block, absmax = max |w|; each value's code is the index of the NF4 value
// nearest to x = w / absmax (an f32 quotient; x = 0 where absmax = 0), the distances |x − NF4[k]|
// taken in f32, the lower index on an exact tie. Dequantized, w = NF4[code] · absmax, an f32
// product. (../../../../shared/golden-quant/make_golden_quant.py states the same rule.)
//
// GPU layout: 9 words per block, block b at words 9b .. 9b + 8:
//   word 9b            the block's absmax, as f32 bits;
//   word 9b + 1 + j    the codes of the block's elements 8j .. 8j + 7, element 8j + e in bits
//                      4e .. 4e + 3 (codes past the end of a short last block are 0).
// So element i is code (word[9⌊i/64⌋ + 1 + ⌊(i mod 64)/8⌋] >> 4(i mod 8)) & 15 of block ⌊i/64⌋,
// and elements 4v .. 4v + 3 are the low or high half (v even or odd) of one codes word.
import { BLOCK_LAYOUT } from './layout.js';

/** The 16 NF4 values (bitsandbytes' table), as f32, in increasing order. */
export const NF4_VALUES: Float32Array = Float32Array.of(
  -1.0, -0.6961928009986877, -0.5250730514526367, -0.39491748809814453, -0.28444138169288635,
  -0.18477343022823334, -0.09105003625154495, 0.0, 0.07958029955625534, 0.16093020141124725,
  0.24611230194568634, 0.33791524171829224, 0.44070982933044434, 0.5626170039176941,
  0.7229568362236023, 1.0,
);

const BLOCK = BLOCK_LAYOUT.nf4.elements; // 64
const WORDS = BLOCK_LAYOUT.nf4.words; // 9
const bits = new Uint32Array(1);
const float = new Float32Array(bits.buffer);

/** |x − NF4[k]| as f32 arithmetic gives it (x an f32; an f64 difference of two f32 values rounded once to f32 is the f32 difference). */
const distance = (x: number, k: number) => Math.abs(Math.fround(x - NF4_VALUES[k]));

/** The f32 next to x (not 0) towards +∞ (up) or −∞: its bit pattern one step away from or towards zero. */
function nextF32(x: number, up: boolean): number {
  float[0] = x;
  bits[0] += up === x > 0 ? 1 : -1;
  return float[0];
}

/**
 * The code of x, an f32 in [−1, 1], is the number of thresholds m₀ < … < m₁₄ at or below x:
 * m_k is the least f32 in (NF4[k], NF4[k + 1]] whose f32 distance to NF4[k + 1] is smaller than
 * its distance to NF4[k]. That is the rule (the nearest value, the lower index on an exact tie):
 * the f32-rounded distance grows (weakly) with a table value's distance from x on either side, so
 * the nearest value is one of the two around x, and between NF4[k] and NF4[k + 1] the test
 * "|x − NF4[k + 1]| < |x − NF4[k]|" turns from false (at NF4[k]) to true (at NF4[k + 1]) once, at
 * m_k, near the midpoint. Each m_k is found here by stepping f32 by f32 from the midpoint.
 * THRESHOLDS holds them padded, −∞, m₀ … m₁₄, +∞, so code c has THRESHOLDS[c] ≤ x < THRESHOLDS[c + 1].
 */
const THRESHOLDS: Float64Array = (() => {
  const t = new Float64Array(17);
  t[0] = -Infinity;
  t[16] = Infinity;
  for (let k = 0; k < 15; k++) {
    const above = (x: number) => distance(x, k + 1) < distance(x, k);
    let m = Math.fround((NF4_VALUES[k] + NF4_VALUES[k + 1]) / 2); // never 0: no midpoint is
    while (above(m)) m = nextF32(m, false);
    while (!above(m)) m = nextF32(m, true);
    t[k + 1] = m;
  }
  return t;
})();

/**
 * The code from a table: x in [−1, 1] falls in bucket b = ⌊(x + 1) · 2048⌋ of 4097, each 2⁻¹¹
 * wide, far narrower than the thresholds' spacing (at least 0.04), so a bucket holds at most one
 * threshold strictly inside it. BUCKET_CODE[b] is the code at the bucket's lower end, b/2048 − 1,
 * plus SPLIT (16) where a threshold lies inside, which BUCKET_SPLIT[b] then holds: there the
 * code is one more from that threshold on. The bucket is the exact one: (x + 1) · 2048 is exact in
 * f64 (a product by a power of two, a sum exact for |x| ≥ 2⁻²⁹), and for smaller |x| x + 1 rounds
 * to within 2⁻²⁸ of 1, which lands in bucket 2047 or 2048, both wholly code 7 (NF4[7] = 0 and the
 * thresholds beside it are near −0.045 and 0.040).
 */
const BUCKETS = 2048;
const SPLIT = 16;
const BUCKET_CODE = new Uint8Array(2 * BUCKETS + 1);
const BUCKET_SPLIT = new Float64Array(2 * BUCKETS + 1).fill(Infinity);
for (let b = 0, c = 0; b <= 2 * BUCKETS; b++) {
  const low = b / BUCKETS - 1;
  const high = (b + 1) / BUCKETS - 1;
  while (THRESHOLDS[c + 1] <= low) c++;
  BUCKET_CODE[b] = c;
  if (THRESHOLDS[c + 1] < high) {
    if (THRESHOLDS[c + 2] < high) throw new Error(`nf4: bucket ${b} holds two thresholds`); // cannot happen: they are 0.04 apart
    BUCKET_CODE[b] |= SPLIT;
    BUCKET_SPLIT[b] = THRESHOLDS[c + 1];
  }
}

/** The code of x (an f32 in [−1, 1]): the index of the nearest NF4 value, the lower one on a tie (see THRESHOLDS). */
export function nf4Code(x: number): number {
  const b = ((x + 1) * BUCKETS) | 0;
  const c = BUCKET_CODE[b];
  return c < SPLIT ? c : (c & 15) + (x >= BUCKET_SPLIT[b] ? 1 : 0);
}

/** The index and value of the first value of values[start, end) that is not finite (there is one). */
function notFinite(values: Float32Array, start: number, end: number, what: string): Error {
  let i = start;
  while (i < end && Number.isFinite(values[i])) i++;
  return new Error(`${what}: value ${i} is ${values[i]}; only finite values can be quantized`);
}

/** The packed words of `values` (flattened row-major) as NF4: 9 words per block of 64 (see the header). */
export function quantizeNf4(values: Float32Array): Uint32Array {
  const n = values.length;
  const blocks = Math.ceil(n / BLOCK);
  const out = new Uint32Array(blocks * WORDS);
  const absmaxOut = new Float32Array(out.buffer);
  for (let b = 0; b < blocks; b++) {
    const start = b * BLOCK;
    const end = Math.min(n, start + BLOCK);
    let absmax = 0;
    let sum = 0; // not finite iff some value is not (64 finite f32 magnitudes sum below f64's range)
    for (let i = start; i < end; i++) {
      const a = Math.abs(values[i]);
      sum += a;
      if (a > absmax) absmax = a;
    }
    if (!Number.isFinite(sum)) throw notFinite(values, start, end, 'quantizeNf4');
    absmaxOut[b * WORDS] = absmax;
    // Each code word takes the codes of 8 elements, element e of the word in bits 4e .. 4e + 3.
    for (let j = 0; start + 8 * j < end; j++) {
      const from = start + 8 * j;
      const to = Math.min(end, from + 8);
      let word = 0;
      for (let i = from; i < to; i++) {
        const x = absmax > 0 ? Math.fround(values[i] / absmax) : 0;
        const k = ((x + 1) * BUCKETS) | 0; // nf4Code(x), inline
        const c = BUCKET_CODE[k];
        word |= (c < SPLIT ? c : (c & 15) + (x >= BUCKET_SPLIT[k] ? 1 : 0)) << (4 * (i - from));
      }
      out[b * WORDS + 1 + j] = word;
    }
  }
  return out;
}

/** The first n values of NF4 words: NF4[code] · absmax in f32, what the GPU reader returns. */
export function dequantizeNf4(words: Uint32Array, n: number): Float32Array {
  const blocks = Math.ceil(n / BLOCK);
  if (words.length < blocks * WORDS) throw new Error(`dequantizeNf4: ${n} values need ${blocks * WORDS} words, ${words.length} given`);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const b = Math.floor(i / BLOCK);
    const e = i - b * BLOCK;
    bits[0] = words[b * WORDS];
    const code = (words[b * WORDS + 1 + (e >> 3)] >>> (4 * (e & 7))) & 15;
    out[i] = Math.fround(NF4_VALUES[code] * float[0]);
  }
  return out;
}
