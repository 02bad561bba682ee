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
