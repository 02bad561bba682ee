// CPU references of the two quantized weight formats, straight from the rules (the header of
// ../shared/golden-quant/make_golden_quant.py), in naive loops: the dequantized values a weight
// has once quantized, with no packing. The quantizers in src/gpu/quant/ are checked against these.
//   nf4: blocks of 64 of the flattened weight (the last may be shorter); absmax = max |w|;
//        code = argmin over the 16 NF4 values of |x − NF4[k]| in f32, x = w / absmax in f32
//        (0 where absmax = 0), the first (lowest) index on a tie; w' = NF4[code] · absmax in f32.
//   q8:  blocks of 32 along each row; d = absmax / 127, id = 1 / d (0 where d = 0), both f32;
//        q = round-half-away-from-zero(w · id), w · id in f32, clipped to [−128, 127];
//        w' = q · f16(d) in f32. (As numpy computes it, q keeps the sign of w · id, so a small
//        negative w gives −0, which int8 storage cannot hold: compare zeros without their sign.)
import { roundToF16 } from '../../src/gpu/f16.js';

const f = Math.fround;

/** bitsandbytes' NF4 table, written out again (not imported: the reference states its own rule). */
const NF4 = [
  -1.0, -0.6961928009986877, -0.5250730514526367, -0.39491748809814453, -0.28444138169288635, -0.18477343022823334,
  -0.09105003625154495, 0.0, 0.07958029955625534, 0.16093020141124725, 0.24611230194568634, 0.33791524171829224,
  0.44070982933044434, 0.5626170039176941, 0.7229568362236023, 1.0,
].map(f);

/** The NF4 code of x by scanning all 16 values: the first of the smallest f32 distances. */
export function nf4CodeRef(x: number): number {
  let best = 0;
  for (let k = 1; k < 16; k++) if (Math.abs(f(x - NF4[k])) < Math.abs(f(x - NF4[best]))) best = k;
  return best;
}

/** The values `w` (flattened) take once quantized to NF4 and dequantized. */
export function nf4Ref(w: Float32Array): Float32Array {
  const out = new Float32Array(w.length);
  for (let s = 0; s < w.length; s += 64) {
    const end = Math.min(w.length, s + 64);
    let absmax = 0;
    for (let i = s; i < end; i++) absmax = Math.max(absmax, Math.abs(w[i]));
    for (let i = s; i < end; i++) {
      const x = absmax > 0 ? f(w[i] / absmax) : 0;
      out[i] = f(NF4[nf4CodeRef(x)] * absmax);
    }
  }
  return out;
}

/** The int8 q of each value of `w` under Q8_0 with rows of `rowLength` (NaN where w · id is 0 · ∞). */
export function q8CodesRef(w: Float32Array, rowLength: number): { q: Float64Array; scale: Float64Array } {
  if (rowLength % 32 !== 0) throw new Error('q8Ref: rows must be a multiple of 32 long');
  const q = new Float64Array(w.length);
  const scale = new Float64Array(w.length / 32);
  for (let s = 0; s < w.length; s += 32) {
    let absmax = 0;
    for (let i = s; i < s + 32; i++) absmax = Math.max(absmax, Math.abs(w[i]));
    const d = f(absmax / 127);
    const id = d > 0 ? f(1 / d) : 0;
    scale[s / 32] = roundToF16(d);
    for (let i = s; i < s + 32; i++) {
      const x = f(w[i] * id);
      const r = Math.sign(x) * Math.floor(Math.abs(x) + 0.5); // as numpy: −0 where x rounds to 0 from below
      q[i] = Math.min(127, Math.max(-128, r));
    }
  }
  return { q, scale };
}

/** The values `w` takes once quantized to Q8_0 with rows of `rowLength` and dequantized. */
export function q8Ref(w: Float32Array, rowLength: number): Float32Array {
  const { q, scale } = q8CodesRef(w, rowLength);
  return Float32Array.from(q, (v, i) => f(v * scale[Math.floor(i / 32)]));
}
