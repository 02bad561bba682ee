// Q8_0, GGUF's 8-bit format as llama.cpp's quantize_row_q8_0_ref makes it, on the CPU: the
// quantizer that makes the GPU words of a 'q8' tensor, and the dequantizer that gives the values
// the GPU reader (shaders/weights/q8.wgsl) computes.
//
// Quantization: each row is cut into blocks of 32 values (a weight whose rows are not a multiple
// of 32 long is not Q8_0: quantizeQ8 refuses it, and the caller keeps it as f16 or f32). For a
// block, absmax = max |w|, d = absmax / 127 and id = 1 / d, both f32 (id = 0 where d = 0); each
// value's q = round-half-away-from-zero(w · id), w · id an f32 product, clipped to int8's
// [−128, 127]; the block's scale is d rounded to f16 (to nearest, ties to even). Dequantized,
// w = q · f16(d) in f32 (an exact product: 8 bits times 11). The clip matters only where id
// overflows to +∞ (absmax below about 127 · 2⁻¹²⁸, whose f16(d) is 0 anyway); there a zero w,
// whose w · id is NaN, gets q = 0. (../../../../shared/golden-quant/make_golden_quant.py states
// the same rule.)
//
// GPU layout: 9 words per block, block b at words 9b .. 9b + 8 (blocks of the flattened tensor,
// which are blocks of rows, since rows are a multiple of 32 long):
//   word 9b            the binary16 bits of f16(d) in bits 0 .. 15 (bits 16 .. 31 are 0);
//   word 9b + 1 + j    the q of the block's elements 4j .. 4j + 3, element 4j + e in bits
//                      8e .. 8e + 7 as a two's-complement byte.
// So element i is byte (i mod 4) of word 9⌊i/32⌋ + 1 + ⌊(i mod 32)/4⌋, and elements
// 4v .. 4v + 3 are exactly word 9⌊v/8⌋ + 1 + (v mod 8).
import { f16Bits, f16Value } from '../f16.js';
import { BLOCK_LAYOUT } from './layout.js';

const BLOCK = BLOCK_LAYOUT.q8.elements; // 32
const WORDS = BLOCK_LAYOUT.q8.words; // 9

/** q of w · id (an f32 product): rounded half away from zero, clipped to [−128, 127]; NaN (0 · ∞) → 0. */
function q8Value(w: number, id: number): number {
  const x = Math.fround(w * id);
  if (Number.isNaN(x)) return 0;
  const q = Math.sign(x) * Math.floor(Math.abs(x) + 0.5); // exact: x is an f32, |x| + 0.5 an f64 sum
  return Math.min(127, Math.max(-128, q));
}

/**
 * q8Value for a finite id (every block but those whose id overflows), without its branch on the
 * sign, which random signs make the slowest part: ⌊x + 0.5⌋ is the rounding half away from zero
 * but at negative halves (x = −2.5 gives −2), which the one rare test, q − x = 0.5 with x < 0,
 * moves down (to −3). (x + 0.5 and q − x are exact in f64 for an f32 x below 2⁵² in magnitude;
 * beyond, q = x, and the clip gives what the rule gives. With |w| ≤ absmax, |x| stays within
 * about 127 · (1 + 2⁻²⁰) anyway, d's rounding included.)
 */
function q8Finite(w: number, id: number): number {
  const x = Math.fround(w * id);
  const q = Math.floor(x + 0.5);
  return Math.min(127, Math.max(-128, q - x === 0.5 && x < 0 ? q - 1 : q));
}

/**
 * The packed words of `values`, a row-major matrix with rows of `rowLength` values, as Q8_0: 9
 * words per block of 32 (see the header). Throws unless rowLength is a positive multiple of 32
 * that divides values.length.
 */
export function quantizeQ8(values: Float32Array, rowLength: number): Uint32Array {
  if (!Number.isInteger(rowLength) || rowLength <= 0 || rowLength % BLOCK !== 0) {
    throw new Error(`quantizeQ8: rows of ${rowLength} values are not a multiple of ${BLOCK} long; Q8_0 cuts rows into blocks of ${BLOCK} (keep such a weight as f16 or f32)`);
  }
  if (values.length % rowLength !== 0) throw new Error(`quantizeQ8: ${values.length} values are not whole rows of ${rowLength}`);
  const blocks = values.length / BLOCK;
  const out = new Uint32Array(blocks * WORDS);
  for (let b = 0; b < blocks; b++) {
    const start = b * BLOCK;
    let absmax = 0;
    let sum = 0; // not finite iff some value is not (32 finite f32 magnitudes sum below f64's range)
    for (let i = start; i < start + BLOCK; i++) {
      const a = Math.abs(values[i]);
      sum += a;
      if (a > absmax) absmax = a;
    }
    if (!Number.isFinite(sum)) {
      let i = start;
      while (Number.isFinite(values[i])) i++;
      throw new Error(`quantizeQ8: value ${i} is ${values[i]}; only finite values can be quantized`);
    }
    const d = Math.fround(absmax / 127);
    const id = d > 0 ? Math.fround(1 / d) : 0;
    const h = f16Bits(d);
    if ((h & 0x7c00) === 0x7c00) throw new Error(`quantizeQ8: block ${b} has |w| up to ${absmax}, whose scale ${d} overflows f16 (Q8_0 takes |w| up to 65504 · 127)`);
    out[b * WORDS] = h;
    // Word j takes the bytes of elements 4j .. 4j + 3, element 4j + e in bits 8e .. 8e + 7.
    const q = id === Infinity ? q8Value : q8Finite;
    for (let j = 0; j < 8; j++) {
      let word = 0;
      for (let e = 0; e < 4; e++) word |= (q(values[start + 4 * j + e], id) & 0xff) << (8 * e);
      out[b * WORDS + 1 + j] = word;
    }
  }
  return out;
}

/** The first n values of Q8_0 words: q · f16(d) in f32, what the GPU reader returns. n a multiple of 32. */
export function dequantizeQ8(words: Uint32Array, n: number): Float32Array {
  if (n % BLOCK !== 0) throw new Error(`dequantizeQ8: ${n} values are not whole blocks of ${BLOCK}`);
  if (words.length < (n / BLOCK) * WORDS) throw new Error(`dequantizeQ8: ${n} values need ${(n / BLOCK) * WORDS} words, ${words.length} given`);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const b = Math.floor(i / BLOCK);
    const e = i - b * BLOCK;
    const d = f16Value(words[b * WORDS] & 0xffff);
    const q = ((words[b * WORDS + 1 + (e >> 2)] >>> (8 * (e & 3))) << 24) >> 24; // the signed byte
    out[i] = Math.fround(q * d);
  }
  return out;
}
