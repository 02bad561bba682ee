// The RoPE tables of a model: for each RoPE of spec.ropes (./rope-config.ts), its inverse
// frequencies as transformers computes them in float32 (modeling_rope_utils.py), and the
// [P, HS/2] cos and sin tables of ../gpu/kernels/rope.ts, one after the other in one buffer each
// (the layer's RoPE index k reads rows k·P ..).
import { ropeInverseFrequencies, ropeTablesOf } from '../gpu/kernels/rope.js';
import type { ModelSpec } from './config.js';
import type { RopeSpec } from './rope-config.js';

const f = Math.fround;

/**
 * The inverse frequencies [HS/2] of one RoPE, each operation rounded to f32 in torch's order:
 *   default: 1 / f32(θ^(2i/HS));  linear: default / factor;
 *   llama3 (_compute_llama3_parameters): with wavelen = 2π / invFreq (torch: reciprocal, then
 *     times f32(2π)), frequencies whose wavelength exceeds original/low_freq_factor are divided by
 *     factor, those below original/high_freq_factor kept, and those between interpolated:
 *     s = (original / wavelen − low) / (high − low), (1 − s)·inv/factor + s·inv.
 */
export function inverseFrequencies(rope: RopeSpec, HS: number): Float32Array {
  const inv = ropeInverseFrequencies(rope.theta, HS);
  if (rope.type === 'default') return inv;
  if (rope.type === 'linear') return inv.map((x) => x / f(rope.factor));
  const { factor, lowFreqFactor: low, highFreqFactor: high, originalMaxPositions: old } = rope;
  // Python floats meet float32 tensors: each scalar is rounded to f32 first, as torch does.
  const lowWavelen = f(old / low);
  const highWavelen = f(old / high);
  const [twoPi, oldF, lowF, span, factorF] = [f(2 * Math.PI), f(old), f(low), f(high - low), f(factor)];
  return inv.map((x) => {
    const wavelen = f(f(1 / x) * twoPi);
    const scaled = wavelen > lowWavelen ? f(x / factorF) : x;
    const medium = !(wavelen < highWavelen) && !(wavelen > lowWavelen);
    if (!medium) return scaled;
    const smooth = f(f(f(f(1 / wavelen) * oldF) - lowF) / span);
    return f(f(f(f(1 - smooth) * scaled) / factorF) + f(smooth * scaled));
  });
}

/** cos and sin of every RoPE of the spec, [ropes·P, HS/2] each (empty when it has none). */
export function modelRopeTables(spec: ModelSpec): { cos: Float32Array; sin: Float32Array } {
  const P = spec.maxPositions;
  const rows = (P * spec.HS) / 2;
  const cos = new Float32Array(spec.ropes.length * rows);
  const sin = new Float32Array(spec.ropes.length * rows);
  spec.ropes.forEach((rope, k) => {
    const t = ropeTablesOf(inverseFrequencies(rope, spec.HS), P);
    cos.set(t.cos, k * rows);
    sin.set(t.sin, k * rows);
  });
  return { cos, sin };
}
