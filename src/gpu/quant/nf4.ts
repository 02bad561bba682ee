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

/**
 * The code of x (an f32 in [−1, 1]): the index of the nearest NF4 value, the lower one on a tie.
 * The f32-rounded distance grows (weakly) with a table value's distance from x on either side, so
 * the nearest is one of the two values around x; a tie between them goes to the lower index.
 */
export function nf4Code(x: number): number {
  let lo = 0;
  let hi = 15;
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if (NF4_VALUES[mid] <= x) lo = mid;
    else hi = mid;
  }
  return distance(x, hi) < distance(x, lo) ? hi : lo;
}

/** The packed words of `values` (flattened row-major) as NF4: 9 words per block of 64 (see the header). */
export function quantizeNf4(values: Float32Array): Uint32Array {
  const n = values.length;
  const blocks = Math.ceil(n / BLOCK);
  const out = new Uint32Array(blocks * WORDS);
  for (let b = 0; b < blocks; b++) {
    const start = b * BLOCK;
    const end = Math.min(n, start + BLOCK);
    let absmax = 0;
    for (let i = start; i < end; i++) {
      const a = Math.abs(values[i]);
      if (!Number.isFinite(a)) throw new Error(`quantizeNf4: value ${i} is ${values[i]}; only finite values can be quantized`);
      if (a > absmax) absmax = a;
    }
    float[0] = absmax;
    out[b * WORDS] = bits[0];
    for (let i = start; i < end; i++) {
      const x = absmax > 0 ? Math.fround(values[i] / absmax) : 0;
      const e = i - start;
      out[b * WORDS + 1 + (e >> 3)] |= nf4Code(x) << (4 * (e & 7));
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
