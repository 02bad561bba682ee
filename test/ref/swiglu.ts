// CPU reference for SwiGLU, in double precision: out = silu(gate)·up with silu(g) = g / (1 + exp(−g)),
// for each element. (In double, exp(−g) overflows only for g < −709, and g / (1 + inf) = 0 there.)
export function swigluForwardRef(gate: Float32Array, up: Float32Array): Float32Array {
  const out = new Float32Array(gate.length);
  for (let i = 0; i < gate.length; i++) out[i] = (gate[i] / (1 + Math.exp(-gate[i]))) * up[i];
  return out;
}

// CPU reference for the SwiGLU gradients, in double precision: with σ = 1 / (1 + exp(−g)),
// silu(g) = g·σ and silu'(g) = σ·(1 + g·(1 − σ)),
//   dgate = dout·up·silu'(gate),  dup = dout·silu(gate).
// 1 − σ is taken as exp(−g)·σ for g ≥ 0 (and 1 / (1 + exp(g)) for g < 0), so it neither cancels nor
// overflows; for g < −709, σ = 0 and the result is 0·finite = 0.
export function swigluBackwardRef(dout: Float32Array, gate: Float32Array, up: Float32Array) {
  const dgate = new Float32Array(gate.length);
  const dup = new Float32Array(gate.length);
  for (let i = 0; i < gate.length; i++) {
    const g = gate[i];
    const sigma = 1 / (1 + Math.exp(-g));
    const oneMinusSigma = g >= 0 ? Math.exp(-g) * sigma : 1 / (1 + Math.exp(g));
    dgate[i] = dout[i] * up[i] * sigma * (1 + g * oneMinusSigma);
    dup[i] = dout[i] * g * sigma;
  }
  return { dgate, dup };
}
