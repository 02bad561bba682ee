// CPU reference for SwiGLU, in double precision: out = silu(gate)·up with silu(g) = g / (1 + exp(−g)),
// for each element. (In double, exp(−g) overflows only for g < −709, and g / (1 + inf) = 0 there.)
export function swigluForwardRef(gate: Float32Array, up: Float32Array): Float32Array {
  const out = new Float32Array(gate.length);
  for (let i = 0; i < gate.length; i++) out[i] = (gate[i] / (1 + Math.exp(-gate[i]))) * up[i];
  return out;
}
