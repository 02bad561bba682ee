// CPU reference for GeGLU (Gemma's gated MLP), in double precision, from the definition:
// out = gelu(gate)·up with the tanh GELU gelu(g) = 0.5·g·(1 + tanh(√(2/π)·(g + 0.044715·g³))).
import { geluBackwardRef, geluForwardRef } from './gelu.js';

export function gegluForwardRef(gate: Float32Array, up: Float32Array): Float32Array {
  const g = geluForwardRef(gate);
  return g.map((x, i) => x * up[i]);
}

// The GeGLU gradients: dgate = dout·up·gelu'(gate), dup = dout·gelu(gate), with gelu' from
// geluBackwardRef (itself checked by finite differences in gelu-backward.test.ts).
export function gegluBackwardRef(dout: Float32Array, gate: Float32Array, up: Float32Array) {
  const dgate = geluBackwardRef(Float32Array.from(dout, (d, i) => d * up[i]), gate);
  const gelu = geluForwardRef(gate);
  const dup = Float32Array.from(dout, (d, i) => d * gelu[i]);
  return { dgate, dup };
}
