// CPU reference for GPT-2's gelu_new, in double precision, straight from the definition:
// out = 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))) for each element.
export function geluForwardRef(inp: Float32Array): Float32Array {
  const out = new Float32Array(inp.length);
  const k = Math.sqrt(2 / Math.PI);
  for (let i = 0; i < inp.length; i++) {
    const x = inp[i];
    out[i] = 0.5 * x * (1 + Math.tanh(k * (x + 0.044715 * x * x * x)));
  }
  return out;
}

// CPU reference for the gelu_new input gradient, in double precision, from the definition: with
// k = √(2/π), u = k·(x + 0.044715·x³) and t = tanh(u),
//   dinp = dout·(0.5·(1 + t) + 0.5·x·(1 − t²)·k·(1 + 3·0.044715·x²)).
// In double, x³ stays finite for every f32 x, and for large |x| t is exactly ±1, so 1 − t² = 0.
// Returns a fresh array; the caller adds it to a prior dinp to model accumulation.
export function geluBackwardRef(dout: Float32Array, inp: Float32Array): Float32Array {
  const dinp = new Float32Array(inp.length);
  const k = Math.sqrt(2 / Math.PI);
  for (let i = 0; i < inp.length; i++) {
    const x = inp[i];
    const t = Math.tanh(k * (x + 0.044715 * x * x * x));
    dinp[i] = dout[i] * (0.5 * (1 + t) + 0.5 * x * (1 - t * t) * k * (1 + 3 * 0.044715 * x * x));
  }
  return dinp;
}
